"""A real chain over HTTP: city, district, town and two villages as aiohttp servers on
127.0.0.1 ephemeral ports, enrolled online with invitation codes."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer

from support.chain import make_chain, settle, sync_all
from support.files_chain import serve_chain
from support import MINI_CATALOG, id_number
from yimen.node.services import cases, catalog, clerks
from yimen.node.server.app import create_app
from yimen.node.replication import engine
from yimen.node.services.uplink import LinkDown, sync_once
from yimen.schema.catalog import parse_catalog_json


@pytest.fixture
async def http_chain(tmp_path):
    nodes, servers = await serve_chain(tmp_path)
    catalog.import_items(nodes["city"], parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(nodes["town"], "t01", "赵镇", ["民政"])
    clerks.add(nodes["village_a"], "c01", "李敏", ["民政", "社保", "村委会"])
    yield nodes, servers
    for s in servers.values():
        await s.close()
    for n in nodes.values():
        n.close()


async def converge(nodes, rounds=2):
    for _ in range(rounds):
        for name in ("district", "town", "village_a", "village_b", "town", "district"):
            await sync_once(nodes[name])
    await settle(*nodes.values())


def statuses(node):
    return dict(node.store.conn.execute("SELECT case_id, status FROM cases").fetchall())


async def test_offline_case_reaches_city_and_decision_comes_back(http_chain):
    nodes, servers = http_chain
    await converge(nodes)
    assert {k: n.store.count("catalog_item") for k, n in nodes.items()} == {k: 3 for k in nodes}, [n.store.conn.execute("select reason from quarantine").fetchall() for n in nodes.values()]
    va = nodes["village_a"]
    cid = cases.accept(va, "c01", cases.Application(
        "T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cases.act(va, cid, "submit", "c01")
    cases.act(va, cid, "approve", "c01")
    await converge(nodes)
    assert statuses(nodes["city"]) == {cid: "in_review"}
    cases.act(nodes["town"], cid, "approve", "t01")
    changed = parse_catalog_json(MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 4'), "2026-11-16")
    catalog.import_items(nodes["city"], changed)
    await converge(nodes)
    for name in ("village_a", "town", "district", "city"):
        assert statuses(nodes[name]) == {cid: "approved"}
    assert statuses(nodes["village_b"]) == {}
    for v in ("village_a", "village_b"):
        assert catalog.current(nodes[v], "T-LOCAL").time_limit_days == 4


async def test_village_falls_back_to_the_district_when_the_town_is_down(http_chain):
    nodes, servers = http_chain
    await converge(nodes)
    await servers["town"].close()
    va = nodes["village_a"]
    cid = cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))["case_id"]
    stats = await sync_once(va)
    assert stats.peer == nodes["district"].node_id and stats.pushed >= 1
    await sync_once(nodes["district"])
    await settle(nodes["city"])
    assert statuses(nodes["city"]) == {cid: "completed"}


async def test_no_reachable_ancestor_is_a_clear_error(http_chain):
    nodes, servers = http_chain
    await converge(nodes)
    for name in ("town", "district", "city"):
        await servers[name].close()
    with pytest.raises(LinkDown) as e:
        await sync_once(nodes["village_a"])
    # in Chinese, every address with why in Chinese: no English word but the addresses'
    assert re.sub(r"https?://[0-9.:]+/?", "", e.value.zh).isascii() is False
    assert not re.search(r"[A-Za-z]", re.sub(r"https?://[0-9.:]+/?", "", e.value.zh)), e.value.zh
    assert "ClientConnectorError" in e.value.en


async def test_reconcile_repairs_what_a_parent_lost(http_chain):
    from yimen.node.services.reconcile import reconcile
    nodes, servers = http_chain
    await converge(nodes)
    va, town = nodes["village_a"], nodes["town"]
    cid = cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))["case_id"]
    await sync_once(va)
    await settle(town)
    assert statuses(town) == {cid: "completed"}
    with town.store.transaction():  # the town restores an old backup: the case is gone
        town.store.conn.execute("DELETE FROM feed WHERE author = ?", (va.node_id,))
        for table in ("docs", "changes"):
            town.store.conn.execute(f"DELETE FROM {table} WHERE doc_id = ?", (cid,))
    assert await reconcile(nodes["district"]) == []  # the district still has it: nothing to say there
    rows = await reconcile(va)
    assert rows == [{"peer": town.node_id, "scope": va.node_id, "here_only": 1, "there_only": 0,
                     "diverged": 0, "repaired": 1}]
    assert town.store.get(cid) is not None
    assert await reconcile(va) == []


async def test_a_server_acknowledges_first_and_applies_in_the_background(tmp_path):
    """With its materializer on (as `yimen serve` runs), the town acknowledges a push once
    it is verified and stored, then applies it on its own."""
    from yimen.node.server.app import MATERIALIZER
    nodes = make_chain(tmp_path)
    sync_all(nodes)
    town, va = nodes["town"], nodes["village_a"]
    app = create_app(town)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        va.config = replace(va.config, parent_url=str(server.make_url("")))
        ids = []
        for _ in range(10):  # ten seals: more than a push applied at once
            ids.append(cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))["case_id"])
            engine(va).seal_pending()
        stats = await sync_once(va)
        assert stats.pushed == 10 and not stats.quarantined
        await asyncio.wait_for(app[MATERIALIZER].drained.wait(), 30)
        assert engine(town).backlog() == 0
        assert statuses(town) == {c: "completed" for c in ids}
        # with nothing waiting, a small push is applied before it is acknowledged
        ids.append(cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))["case_id"])
        assert (await sync_once(va)).pushed == 1
        assert statuses(town) == {c: "completed" for c in ids}
    finally:
        await server.close()
        for n in nodes.values():
            n.close()


async def test_an_acknowledgement_lost_with_the_link_is_learnt_at_the_next_hello(http_chain):
    """The town stored a push but its answer never arrived (the link broke): the village's
    next round learns from the hello that the town holds everything, and sends nothing."""
    nodes, servers = http_chain
    await converge(nodes)
    va, town = nodes["village_a"], nodes["town"]
    cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))
    await sync_once(va)
    head = engine(va).feed_head()
    assert engine(va).positions(town.node_id)[1] == head
    engine(va).set_sent(town.node_id, 0)  # as if the answer had been lost
    stats = await sync_once(va)
    assert stats.pushed == 0 and stats.bytes_out == 0
    assert engine(va).positions(town.node_id)[1] == head
