"""Signed requests on a real server: a verbatim replay of any signed route is refused and
writes nothing, a request signed for another node is refused as misdirected, a request
signed before the server started (a restart) is refused, and the node serves its children
as before after each of them."""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from support import dump
from yimen.node import home
from yimen.node.replication import engine, signing_key
from yimen.node.server.app import create_app
from yimen.node.server.routes import REPLAY
from yimen.node.services import enrollment
from yimen.node.services.uplink import sync_once
from yimen.sync.transports import wire

TOWN, VILLAGE, DISTRICT = "440608100", "440608100201", "440608000000"


@pytest.fixture
async def pair(tmp_path):
    town = home.init(tmp_path / "town", TOWN, "荷城街道")
    village = home.init(tmp_path / "village", VILLAGE, "示范A村")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    server = TestServer(create_app(town, materialize=False), host="127.0.0.1", port=0)
    await server.start_server()
    village.config = replace(village.config, parent_url=str(server.make_url("")))
    async with aiohttp.ClientSession() as session:
        yield SimpleNamespace(town=town, village=village, server=server, session=session)
    await server.close()
    town.close()
    village.close()


def request(pair, path: str, to: str | None = None, **kw) -> tuple[bytes, dict[str, str]]:
    held = engine(pair.town).positions(pair.village.node_id)[0]
    fields = {"/v1/push": {"start": held, "next": held, "seals": []}, "/v1/pull": {"since": 0},
              "/v1/reconcile": {"digests": {}}, "/v1/seals": {"docs": []}}.get(path, {})
    body = wire.pack({"protocol": wire.PROTOCOL, **fields})
    return body, wire.sign_request(signing_key(pair.village), pair.village.node_id, to or pair.town.node_id,
                                   "POST", path, body, **kw)


async def send(pair, path: str, body: bytes, headers: dict[str, str], server=None) -> tuple[int, dict | None]:
    async with pair.session.post((server or pair.server).make_url(path), data=body, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else None)


async def serves_as_before(pair) -> None:
    stats = await sync_once(pair.village)
    assert stats.peer == pair.town.node_id and not stats.quarantined


@pytest.mark.parametrize("path", ["/v1/hello", "/v1/push", "/v1/pull", "/v1/reconcile", "/v1/seals"])
async def test_a_verbatim_replay_is_refused_and_writes_nothing(pair, path):
    body, headers = request(pair, path)
    assert (await send(pair, path, body, headers))[0] == 200
    before = dump(pair.town)
    for _ in range(20):
        status, answer = await send(pair, path, body, headers)
        assert (status, answer["error"]) == (401, "replayed_request"), answer
        assert "replay" in answer["message"]
    assert dump(pair.town) == before
    await serves_as_before(pair)


async def test_a_request_signed_for_another_node_is_refused_as_misdirected(pair):
    """A village's request captured on its way to the district (which also knows the
    village's key) and sent to the town instead."""
    body, headers = request(pair, "/v1/push", to=DISTRICT)
    before = dump(pair.town)
    status, answer = await send(pair, "/v1/push", body, headers)
    assert (status, answer["error"]) == (421, "wrong_recipient") and DISTRICT in answer["message"]
    assert dump(pair.town) == before
    await serves_as_before(pair)


async def test_a_request_signed_before_the_server_started_is_refused(pair):
    """The restarted server remembers nothing of what the old one took: a request stamped
    before it started is refused, even inside the allowed clock skew; new ones are served."""
    app = create_app(pair.town, materialize=False)
    started = app[REPLAY].started
    assert abs(started - time.time()) < 5
    restarted = TestServer(app, host="127.0.0.1", port=0)
    await restarted.start_server()
    try:
        body, headers = request(pair, "/v1/hello", now=started - 1)  # taken by the old process
        status, answer = await send(pair, "/v1/hello", body, headers, server=restarted)
        assert (status, answer["error"]) == (401, "stale_request")
        body, headers = request(pair, "/v1/hello", now=max(started, time.time()))
        assert (await send(pair, "/v1/hello", body, headers, server=restarted))[0] == 200
    finally:
        await restarted.close()


async def test_a_request_with_a_huge_time_stamp_is_a_json_4xx(pair):
    body, headers = request(pair, "/v1/hello")
    headers["X-Yimen-Time"] = "9" * 400
    status, answer = await send(pair, "/v1/hello", body, headers)
    assert (status, answer["error"]) == (401, "bad_signature")
    await serves_as_before(pair)
