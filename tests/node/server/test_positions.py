"""Stream positions against real servers on 127.0.0.1: what a child does when its parent
claims to hold more of the child's feed than the child ever had (a stolen key's inflated
`next`), and what a node restored from an older copy does so that its new work still
reaches the chain."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from support import id_number
from support.chain import make_chain, settle, sync_all
from yimen.node.replication import engine, signing_key
from yimen.node.server.app import create_app
from yimen.node.services import cases
from yimen.node.services.uplink import sync_once
from yimen.sync.engine import Batch
from yimen.sync.transports.http import HttpTransport

INFLATED = 2**62 - 1


@pytest.fixture
async def online(tmp_path):
    """The chain of `support.chain` in step, with the town and the district serving on
    127.0.0.1 and village A, the town syncing with their parents over HTTP."""
    nodes = make_chain(tmp_path)
    sync_all(nodes)
    servers = {}
    for name in ("town", "district"):
        servers[name] = TestServer(create_app(nodes[name], materialize=False), host="127.0.0.1", port=0)
        await servers[name].start_server()
    for child, parent in (("village_a", "town"), ("town", "district")):
        nodes[child].config = replace(nodes[child].config, parent_url=str(servers[parent].make_url("")))
    yield nodes, servers
    for s in servers.values():
        await s.close()
    for n in nodes.values():
        n.close()


def accept(village, n: int, first: int = 1) -> list[str]:
    return [cases.accept(village, "c01", cases.Application("T-IMM", id_number(i), "陈美玲",
                                                            {"居民身份证": None}, {}))["case_id"]
            for i in range(first, first + n)]


def case_ids(node) -> set[str]:
    return {r[0] for r in node.store.conn.execute("SELECT case_id FROM cases")}


async def claim_with_the_childs_key(server, child, parent, upto: int) -> None:
    """What a stolen key can sign: an empty push saying the child's feed goes on to `upto`."""
    async with aiohttp.ClientSession() as session:
        link = HttpTransport(session, str(server.make_url("")), parent.node_id, child.node_id,
                             signing_key(child))
        held = engine(parent).positions(child.node_id)[0]
        await link.push(Batch(child.node_id, held, upto, []))


async def test_an_inflated_position_does_not_cut_the_child_off(online):
    """A stolen town key tells the district that the town's feed goes on to 2**62 - 1: the
    town notices the impossible acknowledgement at its next hello, says so, and has the
    district rewind, so the village cases it relays still reach the district."""
    nodes, servers = online
    village, town, district = nodes["village_a"], nodes["town"], nodes["district"]
    accept(village, 2)
    await sync_once(village)
    await sync_once(town)
    await claim_with_the_childs_key(servers["district"], town, district, INFLATED)
    assert engine(district).positions(town.node_id)[0] == INFLATED  # the district took the word

    later = accept(village, 3, first=3)
    await sync_once(village)  # in the town's feed before the town says hello to the district
    stats = await sync_once(town)
    await settle(town, district)
    assert set(later) <= case_ids(district)  # recovered in the same round
    assert stats.pushed == 1
    assert len(stats.notices) == 1 and "past the end of our feed" in stats.notices[0]
    assert engine(district).positions(town.node_id)[0] == engine(town).feed_head()
    assert engine(town).positions(district.node_id)[1] == engine(town).feed_head()

    again = await sync_once(town)  # and the next round is an ordinary one
    assert again.notices == [] and again.pushed == 0
