"""Stream positions against real servers on 127.0.0.1: what a child does when its parent
claims to hold more of the child's feed than the child ever had (a stolen key's inflated
`next`), and what a node restored from an older copy does so that its new work still
reaches the chain."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from support import accept_cases, listed
from support.chain import settle, synced_chain
from yimen.sync.store import driver
from yimen.node import home
from yimen.node.cli.main import main
from yimen.node.replication import engine, signing_key
from yimen.node.server.app import create_app
from yimen.node.services import backup, cases
from yimen.node.services import status as node_status
from yimen.node.services.uplink import sync_once
from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync.transports.http import HttpTransport
from yimen.sync.transports.wire import WireError

INFLATED = 2**62 - 1


@pytest.fixture
async def online(tmp_path):
    """The chain of `support.chain` in step, with the town and the district serving on
    127.0.0.1 and village A, the town syncing with their parents over HTTP."""
    with synced_chain(tmp_path) as nodes:
        servers = {}
        for name in ("town", "district"):
            servers[name] = TestServer(create_app(nodes[name], materialize=False), host="127.0.0.1", port=0)
            await servers[name].start_server()
        for child, parent in (("village_a", "town"), ("town", "district")):
            nodes[child].config = replace(nodes[child].config, parent_url=str(servers[parent].make_url("")))
        yield nodes, servers
        for s in servers.values():
            await s.close()


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
    accept_cases(village, 2)
    await sync_once(village)
    await sync_once(town)
    await claim_with_the_childs_key(servers["district"], town, district, INFLATED)
    assert engine(district).positions(town.node_id)[0] == INFLATED  # the district took the word

    later = accept_cases(village, 3, first=3)
    await sync_once(village)  # in the town's feed before the town says hello to the district
    stats = await sync_once(town)
    await settle(town, district)
    assert set(later) <= listed(district)  # recovered in the same round
    assert stats.pushed == 1
    assert len(stats.notices) == 1 and "past the end of our feed" in stats.notices[0]
    assert engine(district).positions(town.node_id)[0] == engine(town).feed_head()
    assert engine(town).positions(district.node_id)[1] == engine(town).feed_head()

    again = await sync_once(town)  # and the next round is an ordinary one
    assert again.notices == [] and again.pushed == 0
    shown = CliRunner().invoke(main, ["--home", str(town.home), "--lang", "en", "status"])
    assert "last position notice" in shown.output and "past the end of our feed" in shown.output
    assert "restating our feed to" not in shown.output


def applicants(node, ids) -> dict[str, tuple[str, int]]:
    """case id -> (applicant id, events in its history) as `node` holds the documents."""
    out = {}
    for cid in ids:
        value = node.store.get(cid).value()
        out[cid] = (value["case"]["applicant_id"], len(value["history"]))
    return out


async def test_a_village_restored_from_a_backup_gets_its_new_cases_to_the_district(online, tmp_path):
    """The village's laptop dies; last week's backup goes onto a new one. The town and the
    district hold cases the backup does not: the restored village accepts nothing until it
    has synced once, then its new cases reach the town and the district under receipt
    numbers of their own, and the cases it lost stay there as they were."""
    nodes, servers = online
    village, town, district = nodes["village_a"], nodes["town"], nodes["district"]
    before = accept_cases(village, 2)
    await sync_once(village)
    backup.backup(village, tmp_path / "backup")
    lost = accept_cases(village, 3, first=3)
    await sync_once(village)
    await sync_once(town)
    expected = applicants(village, before + lost)
    village.close()

    restored = tmp_path / "new-laptop"
    assert backup.restore(restored, tmp_path / "backup", "2026-11-20T09:00:00+08:00")["waits_for_parent"]
    with home.open_node(restored) as again:
        again.config = replace(again.config, parent_url=str(servers["town"].make_url("")))
        with pytest.raises(cases.NumbersUnconfirmed):
            accept_cases(again, 1, first=10)
        assert node_status.status(again)["positions"]["restore_unconfirmed"] == "2026-11-20T09:00:00+08:00"
        stats = await sync_once(again)
        assert len(stats.notices) == 1 and "restored from an older copy" in stats.notices[0]
        assert node_status.status(again)["positions"]["restore_unconfirmed"] is None
        new = accept_cases(again, 10, first=10)
        assert not set(new) & set(before + lost)
        expected.update(applicants(again, new))
        assert (await sync_once(again)).pushed >= 1
        await settle(town)
        await sync_once(town)
        await settle(district)
        for hub in (town, district):
            assert applicants(hub, expected) == expected  # every case once, with its own applicant
        assert engine(town).positions(again.node_id)[0] == engine(again).feed_head()
        assert (await sync_once(again)).notices == []
        assert node_status.status(again)["positions"]["restating_to"] == []


async def test_the_sync_routes_tell_and_check_the_numbering(online):
    """The hello answers what the town holds of the village's numbering; a pull or push
    carrying a malformed one is refused with a JSON 400 and changes nothing; a gap is
    refused naming the position to resend from."""
    nodes, servers = online
    village, town = nodes["village_a"], nodes["town"]
    ids = accept_cases(village, 2)
    await sync_once(village)
    await settle(town)
    async with aiohttp.ClientSession() as session:
        link = HttpTransport(session, str(servers["town"].make_url("")), town.node_id, village.node_id,
                             signing_key(village))
        welcome = await link.call("/v1/hello", {})
        seal_numbers = [s for _, s in village.store.conn.execute(
            "SELECT local_seq, seq FROM feed WHERE author = ?", (village.node_id,))]
        assert welcome["last_seal"] == max(seal_numbers)
        _, year, number = max(ids).rsplit("-", 2)
        assert welcome["numbers"] == {f"case:{year}": int(number)}
        before = list(driver.iterdump(town.store.conn))
        held = engine(town).positions(village.node_id)[0]
        for path, message in (("/v1/pull", {"since": 0, "last_seal": -1}),
                              ("/v1/pull", {"since": 0, "last_seal": "7"}),
                              ("/v1/push", {"start": held, "next": held, "seals": [], "rewind": "yes"}),
                              ("/v1/push", {"start": held, "next": held - 1, "seals": []})):
            with pytest.raises(WireError) as refused:
                await link.call(path, message)
            assert refused.value.code == "bad_request", (path, message)
        with pytest.raises(OutOfOrder) as gap:
            await link.push(Batch(village.node_id, held + 5, held + 6, []))
        assert gap.value.recv_upto == held
        assert list(driver.iterdump(town.store.conn)) == before
