"""The checkpoint exchange over HTTP: a village and its town's real server on 127.0.0.1.
Each round after the push the village's log head is countersigned and kept; a village
that rewrote its log from the first entry is refused at the town (recorded there), and
the rest of its sync goes on."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from support import MINI_CATALOG, TOWN, accept
from yimen.node import home
from yimen.node.audit import exchange
from yimen.node.server.app import create_app
from yimen.node.services import audit, catalog, clerks, enrollment, status
from yimen.node.services.uplink import sync_once
from yimen.schema.catalog import parse_catalog_json
from tests.node.services.test_audit import _rewrite


@pytest.fixture
async def linked(tmp_path, clock):
    town = home.init(tmp_path / "town", TOWN, "镇", clock=clock)
    village = home.init(tmp_path / "village", "440608100201", "村", clock=clock)
    server = TestServer(create_app(town), host="127.0.0.1", port=0)
    await server.start_server()
    code = enrollment.invite(town, village.node_id)["code"]
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/v1/enroll"),
                                json={"request": enrollment.request(village), "code": code}) as r:
            enrollment.apply_answer(village, await r.json())
    village.config = replace(village.config, parent_url=str(server.make_url("")))
    catalog.import_items(village, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(village, "c01", "李敏", ["民政", "社保", "村委会"])
    yield village, town
    await server.close()
    village.close()
    town.close()


def kept(node) -> list[int]:
    return [r[0] for r in node.store.conn.execute("SELECT size FROM audit_checkpoints ORDER BY size")]


async def test_each_round_the_head_is_countersigned_and_a_rewrite_is_refused_at_the_parent(linked):
    village, town = linked
    accept(village, 1)
    await sync_once(village)
    assert kept(village) == [audit.verify(village).entries]
    await sync_once(village)
    assert len(kept(village)) == 1  # nothing new: nothing sent
    accept(village, 2)
    await sync_once(village)
    v = audit.verify(village)
    assert len(kept(village)) == 2 and v.checkpoint_broken is None and v.countersigned == 2

    _rewrite(village)
    assert audit.verify(village).checkpoint_broken == (kept(village)[0], "root")
    cid = accept(village, 3)
    stats = await sync_once(village)
    assert stats.pushed and "rewritten" in exchange.refused_by_parent(village, "en")
    assert "改写" in status.status(village, "zh")["audit_refused_by_parent"]
    assert [r["child"] for r in exchange.refusals(town)] == [village.node_id]
    assert status.status(town)["audit_refusals"][0]["held"] == kept(village)[-1]  # `yimen status` tells
    assert "checkpoint_refused" in [r[0] for r in town.store.conn.execute("SELECT action FROM audit_log")]
    assert town.store.get(cid) is not None  # the case went up all the same

