"""Bad input on the wire: every refused request gets a 4xx JSON `{"error", "message"}` with
the code and status of `wire.ERROR_STATUS`, writes nothing on the server (except the
quarantine row a refused seal leaves), and the server keeps serving the other children.

The server is a real aiohttp server on 127.0.0.1 (a town node, the root here) with two
villages enrolled online; a third village node exists but never enrolled. Requests are
built byte by byte like `sync_client.Link.call` and sent raw.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
import zlib
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import aiohttp
import msgpack
import pytest
from aiohttp.test_utils import TestServer

from support.zh import english_words
from support.chain import settle
from support import MINI_CATALOG, dump, id_number
from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.node.services import status as node_status
from yimen.node import home
from yimen.node.server.app import create_app
from yimen.node.server.routes import ENROLL_ATTEMPTS
from yimen.node.replication import engine, signing_key
from yimen.node.services.uplink import sync_once
from yimen.schema import region
from yimen.schema.catalog import parse_catalog_json
from yimen.sync import seal as seals
from yimen.sync.transports import wire
from yimen.sync.docs import Doc
from yimen.sync.seal import SealedChange

TOWN_RC, VA, VB, STRANGER = "440608100", "440608100201", "440608100202", "440608100203"
PUSH, HELLO = "/v1/push", "/v1/hello"
_case_seq = iter(range(100, 1000))


def new_case(node: home.Node) -> str:
    app = cases.Application("T-IMM", id_number(next(_case_seq)), "陈美玲", {"居民身份证": None}, {})
    return cases.accept(node, "c01", app)["case_id"]


@pytest.fixture
async def net(tmp_path):
    town = home.init(tmp_path / "town", TOWN_RC, "荷城街道")
    va = home.init(tmp_path / "va", VA, "示范A村")
    vb = home.init(tmp_path / "vb", VB, "示范B村")
    stranger = home.init(tmp_path / "stranger", STRANGER, "未注册村")
    server = TestServer(create_app(town, materialize=False), host="127.0.0.1", port=0)
    await server.start_server()
    session = aiohttp.ClientSession()
    url = str(server.make_url(""))
    for v in (va, vb):
        code = enrollment.invite(town, v.node_id)["code"]
        async with session.post(server.make_url("/v1/enroll"),
                                json={"request": enrollment.request(v), "code": code}) as r:
            assert r.status == 200, await r.text()
            enrollment.apply_answer(v, await r.json())
        v.config = replace(v.config, parent_url=url)
    catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    for v in (va, vb):
        clerks.add(v, "c01", "李敏", ["民政", "社保", "村委会"])
        await sync_once(v)  # the catalog comes down
        new_case(v)
        stats = await sync_once(v)  # a case goes up: the town binds the village's Loro peer
        assert stats.pushed >= 1 and not stats.quarantined
    await settle(town)
    assert town.store.count("case") == 2
    yield SimpleNamespace(town=town, va=va, vb=vb, stranger=stranger, server=server, session=session)
    await session.close()
    await server.close()
    for n in (town, va, vb, stranger):
        n.close()


# -- helpers ------------------------------------------------------------------------------------
async def send(net, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    data = io.BytesIO(body) if len(body) > 1 << 20 else body  # aiohttp warns on big raw bytes
    async with net.session.post(net.server.make_url(path), data=data, headers=headers) as r:
        return r.status, r.content_type, await r.read()


async def send_signed(net, node: home.Node, path: str, body: bytes, **kw) -> tuple[int, str, bytes]:
    return await send(net, path, body, sign(node, path, body, **kw))


def sign(node: home.Node, path: str, body: bytes, sender: str | None = None, key: home.Node | None = None,
         **kw) -> dict[str, str]:
    """Headers of a request to the town, signed with `key`'s key (default `node`'s) in the
    name of `sender` (default `node`)."""
    return wire.sign_request(signing_key(key or node), node.node_id if sender is None else sender,
                             region.normalize(TOWN_RC), "POST", path, body, **kw)


def message(**fields) -> bytes:
    return wire.pack({"protocol": wire.PROTOCOL, **fields})


def error_of(answer: tuple[int, str, bytes], code: str) -> dict:
    status, ctype, raw = answer
    assert ctype == "application/json", (status, ctype, raw[:200])
    body = json.loads(raw)
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert english_words(body["message_zh"]) == [], body  # the clerk's language, both texts sent
    assert status == wire.ERROR_STATUS[code] and 400 <= status < 500, (status, body)
    return body


async def still_serving(net) -> None:
    """Another enrolled child syncs normally afterwards, and its new case arrives."""
    vb, town = net.vb, net.town
    status, ctype, raw = await send_signed(net, vb, HELLO, message())
    assert status == 200 and ctype == wire.CONTENT_TYPE
    assert wire.unpack(raw)["node"] == town.node_id
    case_id = new_case(vb)
    stats = await sync_once(vb)
    assert stats.pushed >= 1 and not stats.quarantined
    await settle(town)
    assert town.store.exists(case_id)


def held(net, node: home.Node) -> int:
    return engine(net.town).positions(node.node_id)[0]


def good_batch(net, node: home.Node):
    """A new case at `node`, sealed: (case_id, the batch the town is due next)."""
    case_id = new_case(node)
    eng = engine(node)
    eng.seal_pending()
    batch = eng.next_batch(net.town.node_id, held(net, node))
    assert batch.seals and not batch.more
    return case_id, batch


def real_change(doc_id: str, scope: str, peer: int) -> SealedChange:
    """A real Loro change of a fresh case document, made by Loro peer `peer`."""
    doc = Doc.new(doc_id, "case", scope, peer)
    doc.update("case", {"case_id": doc_id, "item_code": "T-IMM", "item_version": 1})
    ch = doc.commit()
    return SealedChange(doc_id, "case", ch.peer, ch.counter_start, ch.counter_end, doc.export_change(ch))


def quarantine_rows(node: home.Node) -> list[tuple]:
    return node.store.conn.execute("SELECT received_from, author, seq, reason FROM quarantine ORDER BY id").fetchall()


# -- malformed, unauthenticated, unsupported ------------------------------------------------------
MALFORMED = {
    "not_zlib": b"this is not zlib at all",
    "not_msgpack": zlib.compress(b"\xc1\xc1\xc1"),
    "truncated_msgpack": zlib.compress(msgpack.packb({"protocol": 1, "seals": [1, 2, 3]})[:-2]),
    "not_a_map": zlib.compress(msgpack.packb([1, "protocol", 1])),
    "empty": b"",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
async def test_malformed_body_is_bad_request(net, kind):
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, MALFORMED[kind]), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("fields", [{}, {"start": 0, "next": 1}, {"start": "x", "next": 1, "seals": []},
                                    {"start": 0, "next": 1, "seals": [[b"only the body"]]},
                                    {"start": 0, "next": 1, "seals": 7}])
async def test_malformed_batch_is_bad_request(net, fields):
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, message(**fields)), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("path", [HELLO, PUSH, "/v1/pull"])
async def test_node_never_enrolled_is_unknown(net, path):
    """Answered as a bad signature (as an enrolled node's would be: see test_fuzz_routes)."""
    before = dump(net.town)
    body = message(start=0, next=1, seals=[]) if path == PUSH else message()
    error_of(await send_signed(net, net.stranger, path, body), "bad_signature")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("sender", ["", "not-a-region", "440608100", "440608000000", "440608200201"])
async def test_sender_not_an_enrolled_descendant_is_unknown(net, sender):
    """Empty or malformed sender, the server itself, its parent, a village of another town."""
    before = dump(net.town)
    body = message()
    headers = sign(net.va, HELLO, body, sender=sender)
    error_of(await send(net, HELLO, body, headers), "unknown_node" if sender in ("", "not-a-region") else "bad_signature")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("fault", ["flipped_byte", "other_body", "other_path", "other_key", "missing", "not_hex"])
async def test_bad_signature(net, fault):
    _, batch = good_batch(net, net.va)
    body = message(start=batch.start, next=batch.next, seals=batch.seals)
    headers = sign(net.va, PUSH, body)
    sig = bytearray.fromhex(headers["X-Yimen-Signature"])
    if fault == "flipped_byte":
        sig[17] ^= 0x01
        headers["X-Yimen-Signature"] = sig.hex()
    elif fault == "other_body":
        other = message(start=batch.start, next=batch.next, seals=[])
        headers["X-Yimen-Signature"] = sign(net.va, PUSH, other)["X-Yimen-Signature"]
    elif fault == "other_path":
        headers["X-Yimen-Signature"] = sign(net.va, HELLO, body)["X-Yimen-Signature"]
    elif fault == "other_key":  # village B's key on a request claiming to be village A
        headers["X-Yimen-Signature"] = sign(net.va, PUSH, body, key=net.vb)["X-Yimen-Signature"]
    elif fault == "missing":
        del headers["X-Yimen-Signature"]
    else:
        headers["X-Yimen-Signature"] = "zz" + sig.hex()[2:]
    before = dump(net.town)
    error_of(await send(net, PUSH, body, headers), "bad_signature")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("offset", [-(wire.MAX_SKEW_S + 60), wire.MAX_SKEW_S + 60, -86400 * 365])
async def test_stale_request(net, offset):
    _, batch = good_batch(net, net.va)
    body = message(start=batch.start, next=batch.next, seals=batch.seals)
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, body, now=time.time() + offset), "stale_request")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("protocol", [2, 0, "1", None, "missing"])
async def test_wrong_protocol_version(net, protocol):
    _, batch = good_batch(net, net.va)
    msg = {"start": batch.start, "next": batch.next, "seals": batch.seals}
    if protocol != "missing":
        msg["protocol"] = protocol
    body = zlib.compress(msgpack.packb(msg, use_bin_type=True))
    before = dump(net.town)
    answer = error_of(await send_signed(net, net.va, PUSH, body), "unsupported_protocol")
    assert answer.get("supported") == [wire.PROTOCOL]
    assert dump(net.town) == before
    await still_serving(net)


async def test_body_larger_than_max_body(net):
    body = os.urandom(wire.MAX_BODY + 1)
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, body), "body_too_large")
    assert dump(net.town) == before
    await still_serving(net)


async def test_body_of_exactly_max_body_is_read(net):
    """The bound is inclusive: MAX_BODY bytes are read (and then refused as malformed)."""
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, os.urandom(wire.MAX_BODY)), "bad_request")
    assert dump(net.town) == before


async def test_body_expanding_beyond_max_expanded(net):
    bomb = zlib.compress(msgpack.packb({"protocol": wire.PROTOCOL, "start": 0, "next": 1,
                                        "seals": [[bytes(wire.MAX_EXPANDED), b"x"]]}), 9)
    assert len(bomb) < wire.MAX_BODY // 100
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, bomb), "body_too_large")
    assert dump(net.town) == before
    await still_serving(net)


# -- batches and seals ---------------------------------------------------------------------------
async def test_batch_past_what_the_server_holds_is_out_of_order(net):
    _, batch = good_batch(net, net.va)
    start = held(net, net.va) + 1
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, message(start=start, next=batch.next + 1, seals=batch.seals)),
             "out_of_order")
    assert dump(net.town) == before
    await still_serving(net)


async def test_replayed_push_imports_nothing(net):
    va, town = net.va, net.town
    batch = engine(va).next_batch(town.node_id, 0)
    assert batch.seals and held(net, va) == batch.next
    peers_before = town.store.conn.execute(
        "SELECT recv_upto, sent_upto, seals_in FROM peers WHERE node_id = ?", (va.node_id,)).fetchone()
    before = [line for line in dump(town) if not line.startswith('INSERT INTO "peers"')]
    status, ctype, raw = await send_signed(net, va, PUSH, message(start=0, next=batch.next, seals=batch.seals))
    assert status == 200 and ctype == wire.CONTENT_TYPE, raw[:300]
    answer = wire.unpack(raw)
    assert answer["imported"] == 0 and answer["duplicates"] == len(batch.seals) > 0
    assert answer["recv_upto"] == batch.next and answer["quarantined"] == []
    assert [line for line in dump(town) if not line.startswith('INSERT INTO "peers"')] == before
    assert town.store.conn.execute("SELECT recv_upto, sent_upto, seals_in FROM peers WHERE node_id = ?",
                                   (va.node_id,)).fetchone() == peers_before
    await still_serving(net)


async def push_with_forged(net, forged: seals.Seal, expect_reason: str, expect_seq: int | None = -1) -> None:
    """Push one forged seal by village A ahead of its good ones in the same batch: the forged
    one is quarantined (exactly one row, with its reason) and the good ones are imported."""
    va, town = net.va, net.town
    case_id, batch = good_batch(net, va)
    before_q = quarantine_rows(town)
    before_docs = town.store.count("case")
    body = message(start=batch.start, next=batch.next, seals=[(forged.body, forged.signature), *batch.seals])
    answer = error_of(await send_signed(net, va, PUSH, body), "seals_quarantined")
    assert answer["imported"] == len(batch.seals) and answer["recv_upto"] == batch.next
    assert len(answer["quarantined"]) == 1 and expect_reason in answer["quarantined"][0]
    await settle(town)
    rows = quarantine_rows(town)
    assert rows[:len(before_q)] == before_q and len(rows) == len(before_q) + 1
    seq = forged.seq if expect_seq == -1 else expect_seq
    assert rows[-1][:3] == (va.node_id, va.node_id, seq) and expect_reason in rows[-1][3]
    assert town.store.exists(case_id) and town.store.count("case") == before_docs + 1
    assert town.store.get(forged.changes[0].doc_id) is None
    assert town.store.conn.execute("SELECT count(*) FROM feed WHERE author = ? AND seq = ?",
                                   (va.node_id, min(forged.seq, 2**63 - 1))).fetchone()[0] == 0
    assert town.store.conn.execute("SELECT count(*) FROM pending").fetchone()[0] == 0
    await still_serving(net)


async def test_seal_outside_the_authors_jurisdiction_is_quarantined(net):
    va, vb = net.va, net.vb
    change = real_change(f"{vb.node_id}-2026-900001", vb.node_id, va.store.peer)
    forged = seals.make(signing_key(va), va.node_id, 10_000, vb.node_id, False, [change])
    await push_with_forged(net, forged, "may not write")


async def test_change_of_a_peer_bound_to_another_author_is_quarantined(net):
    """Village A signs a change whose Loro ops were made by village B's peer (bound to B at
    the town since B's first push)."""
    va, vb, town = net.va, net.vb, net.town
    assert town.store.conn.execute("SELECT author FROM peer_owners WHERE peer = ?",
                                   (vb.store.peer,)).fetchone() == (vb.node_id,)
    change = real_change(f"{va.node_id}-2026-900002", va.node_id, vb.store.peer)
    forged = seals.make(signing_key(va), va.node_id, 10_001, va.node_id, False, [change])
    await push_with_forged(net, forged, "belongs to")


async def test_change_claiming_own_peer_but_holding_anothers_ops_is_quarantined(net):
    va, vb = net.va, net.vb
    c = real_change(f"{va.node_id}-2026-900003", va.node_id, vb.store.peer)
    disguised = replace(c, peer=va.store.peer)
    forged = seals.make(signing_key(va), va.node_id, 10_002, va.node_id, False, [disguised])
    await push_with_forged(net, forged, "holds ops")


async def test_seal_with_a_bad_signature_inside_a_good_request_is_quarantined(net):
    va = net.va
    change = real_change(f"{va.node_id}-2026-900004", va.node_id, va.store.peer)
    good = seals.make(signing_key(va), va.node_id, 10_003, va.node_id, False, [change])
    forged = replace(good, signature=bytes(64))
    await push_with_forged(net, forged, "bad signature")


# -- enrollment, status, routes ----------------------------------------------------------------
OTHER_VILLAGE = "440608100204"


UNIFORM_REFUSAL = enrollment.REFUSED_EN
REASONS = {"wrong": "invalid invitation code", "expired": "has expired", "used": "already used",
           "other_region": "invalid invitation code", "not_a_child": "not a direct child",
           "taken_region": "already has a node"}


async def post_enroll(net, body: bytes) -> tuple[int, str, bytes]:
    return await send(net, "/v1/enroll", body, {"Content-Type": "application/json"})


@pytest.mark.parametrize("fault", sorted(REASONS))
async def test_enrollment_refused_alike_whatever_the_reason(net, fault, caplog, monkeypatch):
    """A stranger learns nothing from a refusal (not which regions are enrolled, nor whether
    a code exists): one answer for every reason; the reason goes to the node's log."""
    town, stranger = net.town, net.stranger
    req = enrollment.request(stranger)
    code = enrollment.invite(town, STRANGER)["code"]
    if fault == "wrong":
        code = "not-the-code"
    elif fault == "expired":
        with monkeypatch.context() as m:  # a code made two hours ago, valid for one
            m.setattr(town, "clock", lambda: home.china_now() - timedelta(hours=2))
            code = enrollment.invite(town, STRANGER, hours=1)["code"]
    elif fault == "used":
        async with net.session.post(net.server.make_url("/v1/enroll"), json={"request": req, "code": code}) as r:
            assert r.status == 200, await r.text()
    elif fault == "taken_region":  # a valid code for village A, but with another node's key
        code = enrollment.invite(town, VA)["code"]
        req = {**req, "region": VA}
    elif fault == "other_region":
        code = enrollment.invite(town, OTHER_VILLAGE)["code"]
    else:
        req = {**req, "region": "440608200201"}
    before = dump(town)
    with caplog.at_level(logging.INFO, logger="yimen.http"):
        answer = error_of(await post_enroll(net, json.dumps({"request": req, "code": code}).encode()),
                          "enrollment_refused")
    assert answer == {"error": "enrollment_refused", "message": UNIFORM_REFUSAL, "message_zh": enrollment.REFUSED_ZH}
    assert any(REASONS[fault] in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert dump(town) == before
    await still_serving(net)


def enroll_body(net, code="x" * 16, **request_fields) -> bytes:
    return json.dumps({"request": {**enrollment.request(net.stranger), **request_fields}, "code": code}).encode()


MALFORMED_ENROLLMENTS = {
    "not_json": lambda net: b"{not json",
    "not_utf8": lambda net: b'{"request": {}, "code": "\xff\xfe"}',
    "a_list": lambda net: b"[]",
    "no_request": lambda net: b'{"code": "x"}',
    "no_code": lambda net: b'{"request": {}}',
    "empty_request": lambda net: b'{"request": {}, "code": "x"}',
    "deeply_nested": lambda net: b'{"request": ' + b"[" * 5000 + b"]" * 5000 + b', "code": "x"}',
    "nested_in_a_field": lambda net: enroll_body(net, name=[[[[["x"]]]]]),
    "code_a_number": lambda net: enroll_body(net, code=12345),
    "code_too_long": lambda net: enroll_body(net, code="x" * 1000),
    "name_a_list": lambda net: enroll_body(net, name=["示范", "村"]),
    "name_too_long": lambda net: enroll_body(net, name="村" * 1000),
    "address_too_long": lambda net: enroll_body(net, address="http://" + "a" * 2000),
    "region_a_number": lambda net: enroll_body(net, region=440608100203),
    "region_not_a_code": lambda net: enroll_body(net, region="44060810020x"),
    "protocol_a_string": lambda net: enroll_body(net, protocol="1"),
    "protocol_true": lambda net: enroll_body(net, protocol=True),
    "key_not_hex": lambda net: enroll_body(net, public_key="zz" * 32),
    "key_too_short": lambda net: enroll_body(net, public_key="00" * 31),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_ENROLLMENTS))
async def test_malformed_enrollment_is_bad_request(net, kind):
    body = MALFORMED_ENROLLMENTS[kind](net)
    before = dump(net.town)
    error_of(await post_enroll(net, body), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"request": {}, "code": "' + b"x" * 100_000 + b'"}'])
async def test_an_enrollment_larger_than_any_request_is_refused_unread(net, body):
    before = dump(net.town)
    error_of(await post_enroll(net, body), "body_too_large")
    assert dump(net.town) == before
    await still_serving(net)


async def test_failed_enrollments_from_one_address_are_throttled(net):
    """Each failure costs the node a write transaction and a log line: after a few, the
    address is refused without either for a while, even with the right code."""
    town = net.town
    code = enrollment.invite(town, STRANGER)["code"]
    for _ in range(ENROLL_ATTEMPTS):
        error_of(await post_enroll(net, enroll_body(net, code="guess-" + code[:6])), "enrollment_refused")
    before = dump(town)
    answer = error_of(await post_enroll(net, enroll_body(net, code=code)), "too_many_attempts")
    assert "later" in answer["message"]
    error_of(await post_enroll(net, b"{not json"), "too_many_attempts")
    assert dump(town) == before  # the invitation is still unused
    await still_serving(net)  # signed routes are not throttled


async def test_status_tells_a_stranger_only_that_the_node_is_up(net):
    before = dump(net.town)
    async with net.session.get(net.server.make_url("/v1/status")) as r:
        assert r.status == 200 and r.content_type == "application/json"
        raw = await r.read()
    assert json.loads(raw) == {"ok": True, "protocol": wire.PROTOCOL}
    for secret in (VA, VB, net.town.node_id, TOWN_RC, net.town.config.name):
        assert secret.encode() not in raw
    assert dump(net.town) == before


async def test_unknown_route_is_json_not_found(net):
    async with net.session.get(net.server.make_url("/v1/nothing-here")) as r:
        error_of((r.status, r.content_type, await r.read()), "not_found")
    await still_serving(net)




# -- input the server once failed to validate -------------------------------------------------
async def test_seal_entries_that_are_not_bytes_are_bad_request(net):
    h = held(net, net.va)
    body = message(start=h, next=h, seals=[[5_000_000, 64]])
    assert len(body) < 100
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, body), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


@pytest.mark.parametrize("path", [PUSH, "/v1/pull"])
async def test_positions_beyond_int64_are_bad_request(net, path):
    h = held(net, net.va)
    body = message(start=h, next=2**64 - 1, seals=[]) if path == PUSH else message(since=2**64 - 1)
    before = dump(net.town)
    error_of(await send_signed(net, net.va, path, body), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


async def test_pull_with_nan_wait_still_answers(net, monkeypatch):
    from yimen.node.server import routes as http_app
    monkeypatch.setattr(http_app, "MAX_WAIT_S", 0.2)
    since = engine(net.vb).positions(net.town.node_id)[0]
    body = message(since=since, wait=float("nan"))
    try:
        status, _, _ = await asyncio.wait_for(send_signed(net, net.vb, "/v1/pull", body), 2)
    except asyncio.TimeoutError:
        status = None
    assert status in (200, 400), "no answer within 10 x MAX_WAIT_S"


# -- hostile fields: each once a plain-text 500 or a dropped connection -------------------------
RECONCILE, SEALS = "/v1/reconcile", "/v1/seals"
HEX = "ab" * 32


@pytest.mark.parametrize("digests", [
    {b"440608100201": HEX}, {"440608100201": HEX, b"440608100202": HEX}, {"440608100201": b"\0" * 32},
    {"not-a-region": HEX}, {"440608100201": HEX * 2}, {"440608100201": 5}, [["440608100201", HEX]], None,
    {f"440608{n // 999 + 1:03d}{n % 999 + 1:03d}": HEX for n in range(100_001)},
], ids=["bytes-key", "mixed-keys", "bytes-digest", "not-a-region", "long-digest", "int-digest", "list",
        "missing", "too-many"])
async def test_a_malformed_reconcile_request_is_bad_request(net, digests):
    msg = message() if digests is None else wire.pack({"protocol": wire.PROTOCOL, "digests": digests})
    before = dump(net.town)
    error_of(await send_signed(net, net.va, RECONCILE, msg), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


async def test_a_well_formed_reconcile_request_is_answered(net):
    status, ctype, raw = await send_signed(net, net.va, RECONCILE, message(digests={net.va.node_id: HEX}))
    assert status == 200 and ctype == wire.CONTENT_TYPE
    listing = wire.unpack(raw)["listing"]
    assert net.va.node_id in listing and listing[net.va.node_id]  # the village's case, at the town


@pytest.mark.parametrize("docs", [[5], [b"440608100201-2026-000100"], ["a b"], ["x" * 129], "c1", None,
                                  ["c"] * 1001], ids=["int", "bytes", "space", "long", "str", "missing", "many"])
async def test_a_malformed_seals_request_is_bad_request(net, docs):
    before = dump(net.town)
    error_of(await send_signed(net, net.va, SEALS, message(docs=docs)), "bad_request")
    assert dump(net.town) == before
    await still_serving(net)


def own_seal(node: home.Node, seq: int, scope: str, blob: bytes | None = None) -> seals.Seal:
    """A seal `node` signs (a stolen key can), of a fresh case of `scope`, whose change bytes
    may be replaced by `blob`."""
    change = real_change(f"{scope}-2026-{seq:06d}", scope, node.store.peer)
    if blob is not None:
        change = replace(change, blob=blob)
    return seals.make(signing_key(node), node.node_id, seq, scope, False, [change])


@pytest.mark.parametrize("blob", [b"not loro", b"\x00" * 64, b""], ids=["text", "zeros", "empty"])
async def test_a_seal_whose_change_is_not_loro_is_quarantined_not_a_dropped_connection(net, blob):
    """The loro binding's bare BaseException once escaped every handler: no answer at all."""
    await push_with_forged(net, own_seal(net.va, 20_000 + len(blob), net.va.node_id, blob), "not a Loro update")


@pytest.mark.parametrize("scope", ["not-a-region", "999999", "4406 ", "440600"])
async def test_a_seal_with_a_scope_that_is_not_a_region_is_quarantined_alone(net, scope):
    """Once a 400 `invalid_region_code` for the whole batch."""
    va = net.va
    change = real_change(f"{va.node_id}-2026-930001", va.node_id, va.store.peer)
    forged = seals.make(signing_key(va), va.node_id, 30_000, scope, False, [change])
    await push_with_forged(net, forged, "is not a region code")


@pytest.mark.parametrize("field", ["seq", "peer"])
async def test_a_seal_with_numbers_beyond_sqlite_integers_is_quarantined_alone(net, field):
    """Once an OverflowError: a plain-text 500 and the batch never went in."""
    va = net.va
    change = real_change(f"{va.node_id}-2026-940001", va.node_id, va.store.peer)
    seq = 2**64 - 1 if field == "seq" else 40_000
    if field == "peer":
        change = replace(change, peer=2**64 - 1)
    forged = seals.make(signing_key(va), va.node_id, seq, va.node_id, False, [change])
    await push_with_forged(net, forged, "malformed", expect_seq=None if field == "seq" else seq)


async def test_a_flood_of_refused_seals_in_one_push_is_bounded(net):
    """One small signed push once added 20,000 quarantine rows."""
    va, town = net.va, net.town
    h = held(net, va)
    flood = [[i.to_bytes(3, "big"), b""] for i in range(20_000)]
    body = message(start=h, next=h, seals=flood)
    assert len(body) < 200_000
    answer = error_of(await send_signed(net, va, PUSH, body), "seals_quarantined")
    assert len(answer["quarantined"]) == 101 and answer["quarantined"][-1] == "... and 19900 more"
    assert len(quarantine_rows(town)) <= town.store.quarantine.KEEP_PER_PEER
    assert town.store.quarantine.count(va.node_id) == 20_000
    info = node_status.status(town)
    assert info["quarantined"] == 20_000
    assert [(q["peer"], q["reason"], q["count"]) for q in info["quarantine"]] == [(va.node_id, "malformed seal", 20_000)]
    assert {p["peer"]: p["quarantined"] for p in info["peers"]}[va.node_id] == 20_000
    # the newest of them again add nothing (those only counted are counted again)
    before = dump(town)
    status, ctype, raw = await send_signed(net, va, PUSH, message(start=h, next=h, seals=flood[-100:]))
    assert status == 200 and wire.unpack(raw)["duplicates"] == 100
    assert [line for line in dump(town) if not line.startswith('INSERT INTO "peers"')] == \
        [line for line in before if not line.startswith('INSERT INTO "peers"')]
    await still_serving(net)


async def test_more_seals_than_a_push_may_hold_is_bad_request(net):
    h = held(net, net.va)
    body = message(start=h, next=h, seals=[[b"", b""]] * 20_001)
    before = dump(net.town)
    error_of(await send_signed(net, net.va, PUSH, body), "bad_request")
    assert dump(net.town) == before
