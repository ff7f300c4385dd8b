"""Consent delivery over real HTTP: seven aiohttp servers on 127.0.0.1 (city, district,
town with villages A and B, town 2 with village C), enrolled online. A document deposited
at village A reaches village C of the other town only after C's consent, in a few rounds;
town 2 holds it too; after the withdrawal at C, C and town 2 purge it within one round and
their audit logs say so, while the city, the district and A's town keep it; an expired
consent purges likewise; forged requests are refused with 4xx JSON and change nothing."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from support import id_number
from support.chain import settle
from support.space import consent, document
from support.space_chain import PARENTS, converge, held, purges, served_space_chain
from yimen.node import home
from yimen.node.replication import signing_key
from yimen.node.services import reconcile, space, space_delivery
from yimen.node.services.uplink import sync_once
from yimen.sync.transports import wire



@pytest.fixture
async def chain(tmp_path):
    async with served_space_chain(tmp_path) as served:
        yield served


async def one_round(nodes, name):
    """One sync round of `name`; its parent applies what was pushed as its materializer
    would (right after the push, the servers here running none)."""
    await sync_once(nodes[name])
    await settle(nodes[PARENTS[name]])


async def deliver(nodes, citizen, days=30):
    doc = document(nodes["village_a"], citizen)
    await converge(nodes, 1)
    assert doc not in held(nodes["village_c"]) | held(nodes["town2"])  # no consent yet: nothing
    given = consent(nodes["village_c"], citizen, days=days)
    rounds = 0
    while doc not in held(nodes["village_c"]):
        for name in ("village_c", "town2"):
            await one_round(nodes, name)
        rounds += 1
        assert rounds <= 3, "the document did not come down in three rounds"
    return doc, given


async def test_a_document_reaches_village_c_under_consent_and_is_purged_on_withdrawal(chain):
    nodes, _ = chain
    doc, given = await deliver(nodes, id_number(21))
    assert doc in held(nodes["town2"]) and doc not in held(nodes["village_b"])
    for name in ("town2", "village_c"):  # held on demand: no difference to repair, nothing fetched back
        assert await reconcile.reconcile(nodes[name]) == [], name
    audit = nodes["district"].store.conn.execute("SELECT count(*) FROM audit_log WHERE action = 'space_serve'")
    assert audit.fetchone()[0] == 1  # the common ancestor served it, once
    space.withdraw_consent(nodes["village_c"], given, "c01", "已办结")
    assert doc not in held(nodes["village_c"]) and purges(nodes["village_c"]) == [(doc, "withdrawn")]
    await one_round(nodes, "village_c")  # the withdrawal reaches town 2: purged there in the same round
    assert doc not in held(nodes["town2"]) and purges(nodes["town2"]) == [(doc, "withdrawn")]
    await converge(nodes, 1)
    for name in ("village_a", "town", "district", "city"):
        assert doc in held(nodes[name]) and purges(nodes[name]) == [], name
    assert doc not in held(nodes["town2"]) | held(nodes["village_c"])


async def test_an_expired_consent_purges_within_a_round(chain):
    nodes, _ = chain
    doc, _ = await deliver(nodes, id_number(22), days=1)
    later = lambda: home.china_now() + timedelta(days=2)  # noqa: E731
    for name in ("village_c", "town2"):
        nodes[name].clock = later
        await one_round(nodes, name)
        assert doc not in held(nodes[name]) and purges(nodes[name]) == [(doc, "expired")], name
    assert doc in held(nodes["district"])


def _signed(node, to, message):
    body = wire.pack({"protocol": wire.PROTOCOL, **message})
    return body, wire.sign_request(signing_key(node), node.node_id, to.node_id, "POST", space_delivery.ROUTE, body)


def _state(nodes):
    return {name: (n.store.on_demand.count(), n.store.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0],
                   n.store.count("space_doc")) for name, n in nodes.items()}


async def test_forged_requests_are_refused_with_4xx_json_and_change_nothing(chain):
    nodes, servers = chain
    _, given = await deliver(nodes, id_number(23))
    before = _state(nodes)
    district, b, c = nodes["district"], nodes["village_b"], nodes["village_c"]
    url = str(servers["district"].make_url(space_delivery.ROUTE))
    cases = [  # (sender, message, status, code)
        (b, {"consents": [given], "held": []}, 403, "consent_refused"),  # B asks for C's consent
        (c, {"consents": [f"{c.node_id}-C2026-999999"], "held": []}, 404, "not_found"),
        (c, {"consents": "all"}, 400, "bad_request"),
    ]
    async with aiohttp.ClientSession() as session:
        for sender, message, status, code in cases:
            body, headers = _signed(sender, district, message)
            async with session.post(url, data=body, headers=headers) as r:
                answer = await r.json()
                assert (r.status, answer["error"]) == (status, code), answer
                assert answer["message"] and answer["message_zh"]
        holds = [[a, s] for a, s in c.store.on_demand.keys(100)]
        body, headers = _signed(c, district, {"consents": [given], "held": holds})
        async with session.post(url, data=body, headers=headers) as r:
            assert r.status == 200 and wire.unpack(await r.read())["seals"] == []  # nothing it holds is sent
        async with session.post(url, data=body, headers=headers) as r:  # the same bytes again
            assert r.status == 401 and (await r.json())["error"] == "replayed_request"
        body, headers = _signed(c, nodes["town"], {"consents": [given], "held": []})
        async with session.post(url, data=body, headers=headers) as r:  # signed for another node
            assert r.status == 421 and (await r.json())["error"] == "wrong_recipient"
    assert _state(nodes) == before


async def test_space_fetch_asks_the_first_ancestor_that_answers(chain):
    nodes, servers = chain
    citizen = id_number(24)
    doc = document(nodes["village_a"], citizen)
    await converge(nodes, 1)
    consent(nodes["village_c"], citizen)
    await one_round(nodes, "village_c")
    await one_round(nodes, "town2")  # town 2 holds it now
    await servers["town2"].close()  # village C's parent is down: the district answers
    stats = await space_delivery.request_documents(nodes["village_c"])
    assert stats["peer"] == nodes["district"].node_id and stats["received"] == 1
    assert doc in held(nodes["village_c"])
