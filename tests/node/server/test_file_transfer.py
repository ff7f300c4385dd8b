"""File chunks over real HTTP between served nodes on 127.0.0.1: a file deposited at a
village reaches the town, district and city in their sync rounds; a consent holder fetches
it down; a link cut mid-chunk resumes losing at most that chunk; hostile requests are
refused with a 4xx JSON answer and change nothing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time

import aiohttp
import pytest

from support import id_number
from support.chain import settle
from support.files_chain import CuttingProxy, deposit, hand_over, serve_chain
from support.space import consent
from yimen.node.replication import signing_key
from yimen.node.server.chunk_routes import PARTIALS
from yimen.node.services import file_transfer, space_files
from yimen.node.services.file_fetch import fetch_files
from yimen.node.services import uplink
from yimen.node.services.uplink import sync_once
from yimen.personal_space.documents import CHUNK_SIZE
from yimen.sync.store.chunks import MAX_CHUNK
from yimen.sync.transports import wire
from yimen.sync.transports.chunks import CHUNK_HEADER, OFFSET_HEADER, put_proof

SIZE = 3 * CHUNK_SIZE + 12345  # four chunks, the last short


@pytest.fixture
async def chain(tmp_path):
    nodes, servers = await serve_chain(tmp_path)
    yield nodes, servers
    for s in servers.values():
        await s.close()
    for n in nodes.values():
        n.close()


async def converge(nodes, rounds=3, names=("village_a", "village_b", "town", "district")):
    for _ in range(rounds):
        for name in names:
            await sync_once(nodes[name])
            await settle(*nodes.values())


def held(node, ref):
    return not space_files.missing(node, ref)


def whole(node, ref) -> bytes:
    out = io.BytesIO()
    space_files.write_out(node, ref, out)
    return out.getvalue()


async def test_a_village_file_reaches_every_hub_above_it_in_their_rounds(chain, tmp_path):
    nodes, _ = chain
    await converge(nodes, rounds=1)
    doc_id, data, ref = deposit(nodes["village_a"], tmp_path, id_number(1), SIZE)
    await converge(nodes)
    for name in ("town", "district", "city"):
        assert held(nodes[name], ref), name
        assert whole(nodes[name], ref) == data
    assert nodes["village_b"].store.chunks.total() == (0, 0)  # a sibling holds no file of A's
    assert file_transfer.wanted(nodes["city"]) == []


async def test_a_consent_holder_gets_the_document_then_its_file_in_its_rounds(chain, tmp_path):
    nodes, _ = chain
    await converge(nodes, rounds=1)
    cid = id_number(8)
    doc_id, data, ref = deposit(nodes["village_a"], tmp_path, cid, SIZE)
    consent(nodes["village_b"], cid)
    await converge(nodes, rounds=4)  # up to the town; the consent up; the document down, then its file
    vb = nodes["village_b"]
    assert vb.store.exists(doc_id) and whole(vb, ref) == data
    served = nodes["town"].store.conn.execute("SELECT count(*) FROM audit_log WHERE action = 'space_file_serve'")
    assert served.fetchone()[0] == 1  # the file left the town for a consent holder: said once


async def test_a_consent_holder_fetches_the_file_and_a_cut_link_loses_at_most_one_chunk(chain, tmp_path, monkeypatch):
    nodes, servers = chain
    await converge(nodes, rounds=1)
    cid = id_number(2)
    doc_id, data, ref = deposit(nodes["village_a"], tmp_path, cid, SIZE)
    consent(nodes["village_b"], cid)
    await converge(nodes)
    vb = nodes["village_b"]
    with vb.store.transaction():  # it got them in its rounds: now it fetches them through a bad link
        vb.store.chunks.delete(ref.chunks)
    assert vb.store.exists(doc_id) and file_transfer.wanted(vb) == list(ref.chunks)
    proxy = CuttingProxy(servers["town"].port, cut_after=CHUNK_SIZE + CHUNK_SIZE // 2)  # mid second chunk
    url = await proxy.start()
    # the town through the proxy only (not its own address from its node record, nor the
    # district): every byte of the fetch goes over the link that is cut
    monkeypatch.setattr(uplink, "ancestors_to_try", lambda node: [(nodes["town"].node_id, url)])
    seen = []
    stats = await fetch_files(vb, lambda stage, done, total: seen.append((done, total)))
    await proxy.close()
    assert proxy.cuts == 1 and stats["cuts"] >= 1 and stats["missing"] == 0
    assert stats["fetched"] == len(ref.chunks) and whole(vb, ref) == data
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    # what went down the link: the file, at most one chunk lost to the cut, and small framing
    assert proxy.down <= SIZE + CHUNK_SIZE + 64 * 1024, proxy.down


async def test_a_push_cut_mid_chunk_loses_at_most_that_chunk(chain, tmp_path, monkeypatch):
    nodes, servers = chain
    await converge(nodes, rounds=1)
    va, town = nodes["village_a"], nodes["town"]
    doc_id, data, ref = deposit(va, tmp_path, id_number(5), SIZE)
    proxy = CuttingProxy(servers["town"].port, cut_after=2 * CHUNK_SIZE + CHUNK_SIZE // 3, up=True)
    url = await proxy.start()
    monkeypatch.setattr(uplink, "ancestors_to_try", lambda node: [(town.node_id, url)])
    for _ in range(6):  # rounds until the town holds the file (a round the cut ends is run again)
        try:
            await sync_once(va)
        except uplink.LinkDown:
            pass
        await settle(town)
        if held(town, ref):
            break
    await proxy.close()
    assert proxy.cuts == 1 and whole(town, ref) == data
    assert proxy.up <= SIZE + CHUNK_SIZE + 64 * 1024, proxy.up


async def test_the_part_of_a_chunk_a_hub_kept_is_not_sent_again(chain, tmp_path, monkeypatch):
    """What the town kept of a push the link cut (as the put route keeps it when the body
    stops: see the benchmark, whose paced link cuts bodies the server is reading)."""
    nodes, servers = chain
    await converge(nodes, rounds=1)
    va, town = nodes["village_a"], nodes["town"]
    doc_id, data, ref = deposit(va, tmp_path, id_number(7), SIZE)
    await converge(nodes, rounds=1, names=("village_a",))  # the document
    kept = 700_000
    servers["town"].app[PARTIALS].keep(va.node_id, ref.chunks[1], data[CHUNK_SIZE:CHUNK_SIZE + kept])
    proxy = CuttingProxy(servers["town"].port)
    url = await proxy.start()
    monkeypatch.setattr(uplink, "ancestors_to_try", lambda node: [(town.node_id, url)])
    await sync_once(va)
    await proxy.close()
    assert whole(town, ref) == data and not servers["town"].app[PARTIALS].parts
    assert SIZE - kept < proxy.up <= SIZE - kept + 64 * 1024, proxy.up


async def test_a_wrong_kept_part_costs_one_chunk_sent_whole_never_a_wrong_chunk(chain, tmp_path):
    nodes, servers = chain
    await converge(nodes, rounds=1)
    va, town = nodes["village_a"], nodes["town"]
    doc_id, data, ref = deposit(va, tmp_path, id_number(6), SIZE)
    await converge(nodes, rounds=1, names=("village_a",))  # the document
    servers["town"].app[PARTIALS].keep(va.node_id, ref.chunks[1], b"planted by whoever posed as A")
    await converge(nodes, rounds=1, names=("village_a",))  # the chunks
    assert whole(town, ref) == data and not servers["town"].app[PARTIALS].parts


async def test_a_hub_without_the_chunk_yet_says_so_and_fetches_it_in_its_own_round(chain, tmp_path):
    nodes, _ = chain
    await converge(nodes, rounds=1)
    cid = id_number(3)
    doc_id, data, ref = deposit(nodes["village_a"], tmp_path, cid, 1000)
    consent(nodes["village_b"], cid)
    await converge(nodes, names=("village_b", "town", "district"))  # A's document goes up, its file not yet
    await sync_once(nodes["village_a"])  # the document only: the town has not applied it yet
    await settle(*nodes.values())
    vb = nodes["village_b"]
    hand_over(nodes["town"], vb, doc_id)
    stats = await fetch_files(vb)
    assert stats["fetched"] == 0 and stats["missing"] == 1 and stats["not_here"] == 1
    await converge(nodes, rounds=1, names=("village_a",))  # A pushes the chunk to the town
    assert (await fetch_files(vb))["fetched"] == 1 and whole(vb, ref) == data


# -- hostile requests -----------------------------------------------------------------------
async def signed_post(session, server, sender, to, path, body, **headers):
    """`body` posted as `sender` would (a put's signature covers its chunk, offset and length)."""
    offset = headers.get(OFFSET_HEADER, "0")
    proof = put_proof(headers.get(CHUNK_HEADER, ""), int(offset) if offset.isdigit() else 0, len(body))
    signed = wire.sign_request(signing_key(sender), sender.node_id, to.node_id, "POST", path,
                               proof if path == "/v1/chunks/put" else body)
    data = io.BytesIO(body) if len(body) > CHUNK_SIZE else body  # (aiohttp warns of larger bytes)
    async with session.post(server.make_url(path), data=data, headers={**signed, **headers}) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.read())


async def test_hostile_chunk_requests_are_refused_and_change_nothing(chain, tmp_path):
    nodes, servers = chain
    await converge(nodes, rounds=1)
    doc_id, data, ref = deposit(nodes["village_a"], tmp_path, id_number(4), 5000)
    await converge(nodes, rounds=1, names=("village_a",))
    town, va, vb, srv = nodes["town"], nodes["village_a"], nodes["village_b"], servers["town"]
    assert town.store.chunks.total() == (0, 0) and town.store.exists(doc_id)
    chunk, other = ref.chunks[0], b"bytes no document lists"
    cases = [
        # bytes that are not the chunk they name (a listed one)
        (va, "/v1/chunks/put", b"x" * 5000, {CHUNK_HEADER: chunk}, 400, "bad_chunk"),
        # a chunk no document held there lists
        (va, "/v1/chunks/put", other, {CHUNK_HEADER: hashlib.sha256(other).hexdigest()}, 403, "chunk_refused"),
        # a body larger than any chunk
        (va, "/v1/chunks/put", b"\0" * (MAX_CHUNK + 1), {CHUNK_HEADER: chunk}, 413, "body_too_large"),
        # village B may not hold A's document: neither its chunk nor whether the town has it
        (vb, "/v1/chunks/get", wire.pack({"protocol": wire.PROTOCOL, "hash": chunk}), {}, 403, "chunk_refused"),
        (vb, "/v1/chunks/put", data, {CHUNK_HEADER: chunk}, 403, "chunk_refused"),
        (va, "/v1/chunks/get", wire.pack({"protocol": wire.PROTOCOL, "hash": "zz"}), {}, 400, "bad_request"),
        (va, "/v1/chunks/get", wire.pack({"protocol": wire.PROTOCOL, "hash": chunk, "from": -1}), {}, 400,
         "bad_request"),
        # the rest of a chunk of which the town kept no part; offsets that are not one
        (va, "/v1/chunks/put", data[10:], {CHUNK_HEADER: chunk, OFFSET_HEADER: "10"}, 409, "resume_refused"),
        (va, "/v1/chunks/put", data, {CHUNK_HEADER: chunk, OFFSET_HEADER: "-1"}, 400, "bad_request"),
        (va, "/v1/chunks/put", data, {CHUNK_HEADER: chunk, OFFSET_HEADER: str(MAX_CHUNK)}, 400, "bad_request"),
        (va, "/v1/chunks/want", wire.pack({"protocol": wire.PROTOCOL, "hashes": ["00"] * 3}), {}, 400, "bad_request"),
        (va, "/v1/chunks/want", wire.pack({"protocol": wire.PROTOCOL, "hashes": [chunk] * 5000}), {}, 400,
         "bad_request"),
    ]
    async with aiohttp.ClientSession() as session:
        for sender, path, body, headers, status, code in cases:
            got, answer = await signed_post(session, srv, sender, town, path, body, **headers)
            assert (got, answer["error"]) == (status, code), (path, answer)
            assert answer["message"] and answer["message_zh"]
        async with session.post(srv.make_url("/v1/chunks/get"), data=b"unsigned") as r:
            assert r.status == 403 and (await r.json())["error"] == "unknown_node"
        assert town.store.chunks.total() == (0, 0)
        # and the one honest push goes in
        got, _ = await signed_post(session, srv, va, town, "/v1/chunks/put", data, **{CHUNK_HEADER: chunk})
        assert got == 200 and town.store.chunks.total() == (1, 5000)


async def test_a_body_cut_short_under_a_name_it_cannot_sign_for_keeps_nothing(chain, tmp_path):
    """A stranger naming a real child starts a put and closes it mid-body: refused at the
    signature, before the body is read, so nothing is kept that would spoil the child's
    resume."""
    nodes, servers = chain
    await converge(nodes, rounds=1)
    _, data, ref = deposit(nodes["village_a"], tmp_path, id_number(5), 5000)
    await converge(nodes, rounds=1, names=("village_a",))
    srv, chunk = servers["town"], ref.chunks[0]
    head = (f"POST /v1/chunks/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
            f"{wire.SENDER}: {nodes['village_a'].node_id}\r\n{wire.RECIPIENT}: {nodes['town'].node_id}\r\n"
            f"{wire.TIME}: {int(time.time())}\r\n{wire.NONCE}: {'00' * wire.NONCE_BYTES}\r\n"
            f"{wire.SIGNATURE}: {'00' * 64}\r\n{CHUNK_HEADER}: {chunk}\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(head + data[:1000])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)  # (not after the body: it never comes)
    writer.close()
    assert b" 401 " in answer.split(b"\r\n")[0] and b"bad_signature" in answer
    assert srv.app[PARTIALS].size(nodes["village_a"].node_id, chunk) == 0
