"""The server's boundaries and waits: an unexpected error (a bare BaseException too, as
the loro library raises) is a JSON 500 with an id the log holds (never a dropped
connection or a traceback) while cancellation and interrupts pass through; a busy
database is a 503 the sender retries; and a long-polling pull is woken by a new seal,
made in this process or by a commit of another process, instead of polling."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, make_mocked_request

from support import MINI_CATALOG
from yimen.sync.store import driver
from yimen.node import home
from yimen.node.replication import engine, in_db, signing_key
from yimen.node.server import feedwatch
from yimen.node.server.app import create_app, errors
from yimen.node.services import catalog, enrollment
from yimen.node.services.uplink import sync_once
from yimen.schema.catalog import parse_catalog_json
from yimen.sync import positions
from yimen.sync.session import Responder
from yimen.sync.transports import wire
from yimen.sync.transports.http import HttpTransport

TOWN, VILLAGE = "440608100", "440608100201"


@pytest.fixture
async def pair(tmp_path):
    town = home.init(tmp_path / "town", TOWN, "荷城街道")
    village = home.init(tmp_path / "village", VILLAGE, "示范A村")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    server = TestServer(create_app(town, materialize=False), host="127.0.0.1", port=0)
    await server.start_server()
    village.config = replace(village.config, parent_url=str(server.make_url("")))
    await sync_once(village)
    async with aiohttp.ClientSession() as session:
        link = HttpTransport(session, str(server.make_url("")), town.node_id, village.node_id, signing_key(village))
        yield town, village, server, link
    await server.close()
    town.close()
    village.close()


async def _answer(link: HttpTransport, path: str) -> tuple[int, dict]:
    body = wire.pack({"protocol": wire.PROTOCOL})
    headers = wire.sign_request(link.key, link.node_id, link.peer, "POST", path, body)
    async with link.session.post(link.url + path, data=body, headers=headers) as r:
        return r.status, json.loads(await r.read())


async def test_an_unexpected_error_is_a_json_500_with_an_id_in_the_log(pair, monkeypatch, caplog):
    town, village, server, link = pair

    def broken(self, peer):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(Responder, "hello", broken)
    with caplog.at_level(logging.ERROR, logger="yimen.http"):
        status, body = await _answer(link, "/v1/hello")
    assert status == 500 and body["error"] == "internal_error"
    assert body["error_id"] in body["message"] and "ZeroDivisionError" not in body["message"]
    logged = [r for r in caplog.records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info[0] is ZeroDivisionError
    monkeypatch.undo()
    assert (await sync_once(village)).peer == town.node_id  # served as before


async def test_a_busy_database_is_a_503_the_sender_can_retry(pair, monkeypatch):
    town, village, server, link = pair

    def busy(self, peer):
        raise driver.OperationalError("database is locked")
    monkeypatch.setattr(Responder, "hello", busy)
    status, body = await _answer(link, "/v1/hello")
    assert status == 503 and body["error"] == "node_busy" and "try again" in body["message"]


async def _parked_pull(pair, monkeypatch):
    """A pull of the village held open by the town (parked on the feed watch)."""
    town, village, server, link = pair
    parked = asyncio.Event()
    wait = feedwatch.FeedWatch.wait

    async def watched(self, timeout):
        parked.set()
        await wait(self, timeout)
    monkeypatch.setattr(feedwatch.FeedWatch, "wait", watched)
    pull = asyncio.ensure_future(link.pull(positions.holding(village.store, town.node_id), 1 << 20, 25))
    await asyncio.wait_for(parked.wait(), 10)
    assert not pull.done()
    return pull


CHANGED = MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 4')


async def test_a_parked_pull_wakes_when_this_process_seals(pair, monkeypatch):
    town = pair[0]
    pull = await _parked_pull(pair, monkeypatch)

    def publish():
        catalog.import_items(town, parse_catalog_json(CHANGED, "2026-11-16"))
        engine(town).seal_pending()
    await in_db(town, publish)
    batch = await asyncio.wait_for(pull, 10)  # well before the 25 s the pull may wait
    assert batch.seals


async def test_a_parked_pull_wakes_when_another_process_commits(pair, monkeypatch):
    town = pair[0]
    pull = await _parked_pull(pair, monkeypatch)
    with home.open_node(town.home) as clerk_side:  # another connection, as a clerk's command
        catalog.import_items(clerk_side, parse_catalog_json(CHANGED, "2026-11-16"))
    batch = await asyncio.wait_for(pull, 10)
    assert batch.seals


class LoroPanic(BaseException):
    """What the loro library raises on a garbage blob: a BaseException that is no Exception."""


async def test_a_bare_base_exception_is_a_json_500_with_an_id_in_the_log(pair, monkeypatch, caplog):
    town, village, server, link = pair

    def broken(self, peer):
        raise LoroPanic("called `Result::unwrap()` on an `Err` value")
    monkeypatch.setattr(Responder, "hello", broken)
    with caplog.at_level(logging.ERROR, logger="yimen.http"):
        status, body = await _answer(link, "/v1/hello")
    assert status == 500 and body["error"] == "internal_error" and body["error_id"] in body["message"]
    logged = [r for r in caplog.records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info[0] is LoroPanic
    monkeypatch.undo()
    assert (await sync_once(village)).peer == town.node_id  # served as before


@pytest.mark.parametrize("stop", [asyncio.CancelledError, KeyboardInterrupt, SystemExit])
async def test_cancellation_and_interrupts_pass_through_the_error_middleware(stop):
    """They end the request (or the process): answering them would keep a cancelled task
    alive or swallow a Ctrl-C."""
    async def handler(request):
        raise stop()
    with pytest.raises(stop):
        await errors(make_mocked_request("POST", "/v1/hello"), handler)
