"""A hub's apply loop never stops for one document (issue 8): a village signs a case whose
fields SQLite cannot bind (a list where a name belongs, absurd sizes). The town's
background apply, on a real server, keeps the document, shows it in quarantine, and goes
on applying a sibling village's cases, also after a restart; so does the district after the
town relays it; `rebuild` reproduces it all. And the loop itself never tries one seal for
ever: a seal it fails on for a fault of ours is set aside; a failing database is retried."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer

from support import accept, listed
from support.chain import synced_chain
from support.forge import UNBINDABLE, bad_case
from yimen.node import home
from yimen.node.projections import dump, rebuild
from yimen.node.replication import engine
from yimen.node.server.app import MATERIALIZER, create_app
from yimen.node.server.materializer import Materializer
from yimen.node.services import status
from yimen.node.services.uplink import sync_once
from yimen.sync.errors import StoreError


def unlisted(node: home.Node) -> list[str]:
    return [q["doc_id"] for q in status.quarantine(node) if q.get("doc_id")]


async def serve(node: home.Node) -> tuple[TestServer, object]:
    app = create_app(node)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server, app


async def applied(app) -> None:
    """Wait until the server's materializer has applied everything it stored."""
    m = app[MATERIALIZER]
    m.drained.clear()
    m.wake.set()
    await asyncio.wait_for(m.drained.wait(), 30)


def point_at(child: home.Node, server: TestServer) -> None:
    child.config = replace(child.config, parent_url=str(server.make_url("")))


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path) as nodes:
        yield nodes


async def test_the_town_and_district_go_on_applying_after_a_case_that_cannot_be_projected(chain, tmp_path):
    va, vb, town, district = chain["village_a"], chain["village_b"], chain["town"], chain["district"]
    bad = []
    for field, value in UNBINDABLE:  # a seal each: more than a push applied at once (see below)
        bad.append(bad_case(va, field, value))
        engine(va).seal_pending()
    for _ in range(6):  # more than a push applied at once: the town stores, then applies in the background
        accept(vb, 0)
        engine(vb).seal_pending()
    good = listed(vb)
    town_server, town_app = await serve(town)
    try:
        point_at(va, town_server)
        point_at(vb, town_server)
        assert not (await sync_once(va)).quarantined
        assert not (await sync_once(vb)).quarantined
        await applied(town_app)
        assert listed(town) == good and sorted(unlisted(town)) == sorted(bad)
        assert all(town.store.exists(c) for c in bad)
    finally:
        await town_server.close()
    # the town restarts (a new process opens its home) and goes on
    town.close()
    town = chain["town"] = home.open_node(town.home)
    town_server, town_app = await serve(town)
    district_server, district_app = await serve(district)
    try:
        point_at(vb, town_server)
        more = {accept(vb, n) for n in range(1, 6)}
        assert (await sync_once(vb)).pushed
        await applied(town_app)
        assert listed(town) == good | more
        point_at(town, district_server)
        assert (await sync_once(town)).pushed
        await applied(district_app)
        assert listed(district) == good | more and sorted(unlisted(district)) == sorted(bad)
        reasons = {q["doc_id"]: q["reason"] for q in status.quarantine(district) if q.get("doc_id")}
        assert "applicant_name is not text: ['陈', '美玲']" in reasons[bad[0]]
    finally:
        await town_server.close()
        await district_server.close()
    for node in (town, district):
        live = dump(node.store)
        assert rebuild(node.store, node.calendar) > len(good | more)
        assert dump(node.store) == live


async def stored_then_applied(chain, monkeypatch, failure):
    """The town stores six of village B's seals; its materializer's tries fail as
    `failure(n)` says for the n-th (raising or not); returns the town and B's cases."""
    vb, town = chain["village_b"], chain["town"]
    monkeypatch.setattr(Materializer, "RETRY_S", 0.01)
    for n in range(6):
        accept(vb, n)
        engine(vb).seal_pending()
    eng, calls = engine(town), []
    real = eng.catch_up

    def catch_up(max_seals: int = 2, receipt=None) -> int:
        if eng.backlog():  # (it also starts by looking, before anything is stored)
            calls.append(1)
            failure(len(calls))
        return real(max_seals, receipt)

    monkeypatch.setattr(eng, "catch_up", catch_up)
    server, app = await serve(town)
    try:
        point_at(vb, server)
        assert (await sync_once(vb)).pushed == 6 and engine(town).backlog() == 6
        await applied(app)
    finally:
        await server.close()
    return town, listed(vb)


async def test_the_apply_loop_sets_aside_a_seal_it_cannot_apply_and_goes_on(chain, monkeypatch, caplog):
    def bug(call: int) -> None:
        if call == 1:
            raise RuntimeError("a fault of ours")

    town, good = await stored_then_applied(chain, monkeypatch, bug)
    assert len(listed(town)) == len(good) - 1 and engine(town).backlog() == 0
    assert [(q["author"], q["reason"]) for q in status.quarantine(town)] == [
        (chain["village_b"].node_id, "seal could not be applied: RuntimeError('a fault of ours')")]
    assert caplog.text.count("a received seal could not be applied") == 1


async def test_the_apply_loop_retries_a_failing_database_and_logs_it_once(chain, monkeypatch, caplog):
    def disk_full(call: int) -> None:
        if call <= 3:
            raise StoreError("数据库读写失败", "the node's database could not be read or written: database or disk is full")

    town, good = await stored_then_applied(chain, monkeypatch, disk_full)
    assert listed(town) == good and status.quarantine(town) == []
    assert caplog.text.count("applying received seals failed") == 1
