"""Revocation and key rotation on a chain of real nodes (SQLite on disk, the in-memory
transport; the HTTP refusal on a real server)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from base64 import b64encode

from support import accept as accept_one, dump
from support.forge import case_doc, change_of
from support.chain import push, synced_chain
from yimen.node import home
from yimen.node.replication import engine, signing_key
from yimen.node.server.app import create_app
from yimen.node.services import clerks, enrollment, trust
from yimen.node.services.enrollment import EnrollmentRefused
from yimen.node.services.uplink import sync_once
from yimen.sync import certs
from yimen.sync import seal as seals
from yimen.sync.certs import key_id
from yimen.sync.engine import Batch
from yimen.sync.transports import wire


def accept(node: home.Node, seq: int) -> str:
    return accept_one(node, seq)


def case_ids(node: home.Node) -> set[str]:
    return {r[0] for r in node.store.conn.execute("SELECT case_id FROM cases")}


def own_seals_after(node: home.Node, seq: int) -> list[tuple[bytes, bytes]]:
    rows = node.store.conn.execute("SELECT body, signature FROM feed WHERE author = ? AND seq > ? ORDER BY seq",
                                   (node.node_id, seq)).fetchall()
    return [(b, s) for b, s in rows]


def test_a_village_revoked_at_the_district_is_refused_at_the_town_and_the_city(tmp_path):
    with synced_chain(tmp_path) as n:
        va, town, district, city = n["village_a"], n["town"], n["district"], n["city"]
        before = accept(va, 1)
        push(va, town), push(town, district)
        r = trust.revoke(district, va.node_id, "笔记本电脑被盗")
        assert r["cut"] == district.store.feed.last_seq(va.node_id) > 0
        push(district, town), push(district, city)  # the revocation goes down and up
        after = accept(va, 2)
        engine(va).seal_pending()
        assert push(va, town) == 0  # its next push: refused at the town
        reasons = [q["reason"] for q in town.store.quarantine.rows()]
        assert reasons and all("is cut after seal" in q and "笔记本电脑被盗" in q for q in reasons)
        late = own_seals_after(va, r["cut"])
        got = engine(city).receive(va.node_id, Batch(va.node_id, 0, 0, late))  # carried around the town
        assert got.imported == 0 and len(got.quarantined) == len(late)
        push(town, district), push(district, city)
        for hub in (town, district, city):
            assert before in case_ids(hub) and after not in case_ids(hub)


def test_the_trust_list_reaches_every_village_of_the_city(tmp_path):
    with synced_chain(tmp_path) as n:
        trust.revoke(n["town"], n["village_a"].node_id, "停用")
        push(n["town"], n["village_b"])
        assert n["village_b"].store.keys.revocation(n["village_a"].node_id) is not None
        held = {r["node"] for r in trust.known_keys(n["village_b"])}
        assert held == {node.node_id for node in n.values()}  # another village's key included


def test_only_an_ancestor_revokes_and_nothing_is_written_otherwise(tmp_path):
    with synced_chain(tmp_path) as n:
        vb, va = n["village_b"], n["village_a"]
        before = dump(vb)
        for target in (va.node_id, n["town"].node_id, vb.node_id):
            with pytest.raises(trust.NotAnAncestor):
                trust.revoke(vb, target, "越权")
        with pytest.raises(trust.UnknownNode):
            trust.revoke(n["town"], "440608100299", "不存在")
        assert dump(vb) == before


def test_a_revoked_key_is_refused_at_enrollment_and_a_new_key_is_admitted(tmp_path):
    with synced_chain(tmp_path) as n:
        town, va = n["town"], n["village_a"]
        trust.revoke(town, va.node_id, "被盗")
        with pytest.raises(EnrollmentRefused, match="revoked"):
            enrollment.admit(town, enrollment.request(va))
        fresh = home.init(tmp_path / "village_a2", va.node_id, "示范A村")
        answer = enrollment.admit(town, enrollment.request(fresh))
        assert enrollment.apply_answer(fresh, answer) == [town.node_id, n["district"].node_id, n["city"].node_id]
        assert town.store.keys.public_key(va.node_id) == fresh.keys.public_key
        assert town.store.keys.revocation(va.node_id) is None
        clerks.add(fresh, "c01", "李敏", ["民政"])
        push(fresh, town)
        assert not town.store.quarantine.rows()
        fresh.close()


def test_an_answer_whose_certificate_is_not_the_parents_is_refused_and_writes_nothing(tmp_path):
    with synced_chain(tmp_path) as n:
        district, city = n["district"], n["city"]
        stray = home.init(tmp_path / "stray", "440608100203", "新村")
        answer = enrollment.admit(n["town"], enrollment.request(stray))
        # the city signs the village's certificate: not its parent
        now = engine(city).unix_now()
        wrong = certs.issue(city.keys.signing, city.node_id, stray.node_id, "", stray.keys.public(), now, now + 99)
        before = dump(stray)
        with pytest.raises(EnrollmentRefused, match="not issued by its parent"):
            enrollment.apply_answer(stray, {**answer, "certificate": b64encode(wrong.raw).decode()})
        with pytest.raises(EnrollmentRefused, match="malformed"):
            enrollment.apply_answer(stray, {**answer, "certificate": "not base64!"})
        assert dump(stray) == before
        stray.close()


def test_a_rotated_key_keeps_its_earlier_seals_valid_and_its_later_ones_refused(tmp_path):
    with synced_chain(tmp_path) as n:
        va, town, district = n["village_a"], n["town"], n["district"]
        first = accept(va, 1)
        old_key = signing_key(va)
        req = trust.rotation_request(va)  # offline: a file to the town
        assert trust.rotation_request(va)["public_key"] == req["public_key"]  # asked again: the same
        before = dump(town)
        with pytest.raises(trust.RotationRefused, match="signature"):
            trust.certify_rotation(town, {**req, "last_seal": req["last_seal"] + 1000})
        with pytest.raises(trust.RotationRefused):
            trust.certify_rotation(district, req)  # not its child
        assert dump(town) == before
        second = accept(va, 2)  # signed with the new key, waiting at the town for its certificate
        answer = trust.certify_rotation(town, req)
        new_kid = trust.apply_rotation(va, answer)
        assert new_kid == key_id(va.keys.public_key).hex() and va.keys.retiring is None
        push(va, town), push(town, district)
        for hub in (town, district):
            assert {first, second} <= case_ids(hub)
            assert not hub.store.quarantine.rows()
        # the old key signs a seal after its last one: refused everywhere
        doc = case_doc(f"{va.node_id}-2026-000099", va.node_id)
        late = seals.make(old_key, va.node_id, req["last_seal"] + 1, va.node_id, False, [change_of(doc)])
        got = engine(district).receive(va.node_id, Batch(va.node_id, 0, 0, [(late.body, late.signature)]))
        assert got.imported == 0 and "replaced by a new one" in got.quarantined[0]


@pytest.fixture
async def served(tmp_path):
    town = home.init(tmp_path / "town", "440608100", "荷城街道")
    village = home.init(tmp_path / "village", "440608100201", "示范A村")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    server = TestServer(create_app(town, materialize=False), host="127.0.0.1", port=0)
    await server.start_server()
    village.config = replace(village.config, parent_url=str(server.make_url("")))
    yield town, village, server
    await server.close()
    town.close()
    village.close()


async def test_a_revoked_node_is_refused_at_once_over_http(served):
    town, village, server = served
    assert (await sync_once(village)).peer == town.node_id
    trust.revoke(town, village.node_id, "笔记本电脑被盗")
    body = wire.pack({"protocol": wire.PROTOCOL})
    headers = wire.sign_request(signing_key(village), village.node_id, town.node_id, "POST", "/v1/hello", body)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/v1/hello"), data=body, headers=headers) as r:
            assert r.status == 403
            answer = await r.json()
    assert answer["error"] == "revoked_node" and "笔记本电脑被盗" in answer["message"]
    assert "吊销" in answer["message_zh"] and "笔记本电脑被盗" in answer["message_zh"]


async def test_a_key_rotates_online_over_the_signed_request_path(served):
    town, village, server = served
    old = village.keys.public_key
    kid = await trust.rotate_online(village, village.config.parent_url)
    assert village.keys.public_key != old and town.store.keys.public_key(village.node_id) == village.keys.public_key
    assert kid == key_id(village.keys.public_key).hex()
    stats = await sync_once(village)  # the new key signs its requests now
    assert stats.peer == town.node_id and not stats.quarantined


def test_a_root_that_joins_a_chain_later_hands_its_children_the_whole_chain(tmp_path):
    town = home.init(tmp_path / "town", "440608100", "荷城街道")
    va = home.init(tmp_path / "va", "440608100201", "示范A村")
    district = home.init(tmp_path / "district", "440608", "高明区")
    city = home.init(tmp_path / "city", "4406", "佛山市")
    try:
        enrollment.apply_answer(va, enrollment.admit(town, enrollment.request(va)))  # the town is a root
        enrollment.apply_answer(district, enrollment.admit(city, enrollment.request(district)))
        enrollment.apply_answer(town, enrollment.admit(district, enrollment.request(town)))  # then joins
        assert [c.region for c in enrollment.chain(town)] == [town.node_id, district.node_id, city.node_id]
        vb = home.init(tmp_path / "vb", "440608100202", "示范B村")
        assert enrollment.apply_answer(vb, enrollment.admit(town, enrollment.request(vb))) == [
            town.node_id, district.node_id, city.node_id]
        vb.close()
    finally:
        for n in (town, va, district, city):
            n.close()


def test_two_ancestors_revoking_at_once_keep_the_lower_cut_everywhere(tmp_path):
    with synced_chain(tmp_path) as n:
        va, town, district, city = n["village_a"], n["town"], n["district"], n["city"]
        accept(va, 1)
        push(va, town)  # the town holds a seal of the village the district has not seen
        first = trust.revoke(district, va.node_id, "区县吊销")
        second = trust.revoke(town, va.node_id, "镇街吊销")
        assert first["cut"] < second["cut"]
        for _ in range(2):
            push(town, district), push(district, city), push(district, town)
        for hub in (town, district, city):
            assert hub.store.keys.revocation(va.node_id)[0] == first["cut"]
        with pytest.raises(trust.NoReason):
            trust.revoke(town, va.node_id, "  ")
