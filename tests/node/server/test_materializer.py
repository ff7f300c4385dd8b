"""A hub's apply loop never stops for one document: the town's real server, with its
materializer applying what pushes stored, takes a stream of seals from village A with a
poisonous one in the middle (a case of A's own scope whose applicant's name is a list:
signed by A's key, it passes every check a receiver makes of a seal, and no projection
can list it), then village B's cases. Everything after the poisonous seal is applied and
listed; the poisonous case is listed nowhere."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from support.forge import case_doc, change_of, sealed
from support.wire_fuzz import VA, VB, make_town
from support import id_number
from yimen.node.replication import engine, in_db, signing_key
from yimen.node.server.app import create_app
from yimen.node.server.materializer import Materializer
from yimen.node.services import cases
from yimen.node.services.uplink import sync_once
from yimen.sync.engine import Batch
from yimen.sync.transports.http import HttpTransport

_n = iter(range(1, 10**6))


def new_case(village) -> str:
    n = next(_n)
    app = cases.Application("T-IMM", id_number(n), f"申请人{n}", {"居民身份证": None}, {})
    return cases.accept(village, "c01", app)["case_id"]


def listed(node) -> set[str]:
    return {r[0] for r in node.store.conn.execute("SELECT case_id FROM cases")}


@pytest.fixture
async def served_town(tmp_path, monkeypatch):
    monkeypatch.setattr(Materializer, "GRACE_S", 0.05)  # apply as soon as the pushes pause
    town, villages = make_town(tmp_path)
    server = TestServer(create_app(town), host="127.0.0.1", port=0)
    await server.start_server()
    for v in (villages[VA], villages[VB]):
        v.config = replace(v.config, parent_url=str(server.make_url("")))
        await sync_once(v)  # the catalog comes down
    yield town, villages[VA], villages[VB], server
    await server.close()
    for n in (town, *villages.values()):
        n.close()


async def test_the_apply_loop_goes_on_past_a_document_it_cannot_list(served_town):
    town, a, b, server = served_town
    eng = engine(a)
    before, after = [], []
    for ids in (before, after):
        for _ in range(3):
            ids.append(new_case(a))
            eng.seal_pending()  # one seal per case: a stream of seals
    held = await in_db(town, lambda: engine(town).positions(a.node_id)[0])
    stream = eng.next_batch(town.node_id, held)
    assert len(stream.seals) == 6
    poison_id = f"{a.node_id}-{a.clock().year}-900001"
    poison = sealed(signing_key(a), a.node_id, 10_000, a.node_id,
                    [change_of(case_doc(poison_id, a.node_id, applicant_name=["张三", "李四"]))])
    seals = [*stream.seals[:3], poison, *stream.seals[3:]]  # more than a push applies inline: stored
    async with aiohttp.ClientSession() as session:
        link = HttpTransport(session, str(server.make_url("")), town.node_id, a.node_id, signing_key(a))
        ack = await link.push(Batch(a.node_id, stream.start, stream.next, seals))
    assert ack.recv_upto == stream.next and ack.imported == 7, ack
    from_b = [new_case(b) for _ in range(2)]
    await asyncio.wait_for(sync_once(b), 60)  # then another village's cases

    async def applied() -> bool:
        return await in_db(town, lambda: not engine(town).backlog() and
                           listed(town) >= {*before, *after, *from_b})

    for _ in range(100):
        if await applied():
            break
        await asyncio.sleep(0.05)
    left = await in_db(town, engine(town).backlog)
    missing = {*before, *after, *from_b} - await in_db(town, listed, town)
    assert not left and not missing, f"the materializer stopped: {left} seals unapplied, {sorted(missing)} not listed"
    assert poison_id not in await in_db(town, listed, town)
    assert await in_db(town, town.store.exists, poison_id), "the document is kept"
