"""The node's HTTP routes: the sync routes for enrolled descendants (the answering side of
a session, `yimen.sync.session.Responder`), reconcile, enrollment with an invitation code,
and a JSON status route. Handlers are a few lines that call services; every database call
runs on the node's database thread (`in_db`)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Callable

from aiohttp import web

from yimen.node.home import Node
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.node.server.feedwatch import FEED_WATCH
from yimen.node.server.materializer import MATERIALIZER
from yimen.node.services import enrollment
from yimen.node.services import status as node_status
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import digests
from yimen.sync.engine import Batch
from yimen.sync.session import Responder
from yimen.sync.transports import wire
from yimen.sync.transports.wire import WireError

NODE = web.AppKey("node", Node)
RESPONDER = web.AppKey("responder", Responder)
MAX_WAIT_S = 25.0
# Seals in one push: a sender's batch is about 1 MiB, and no real seal is under 100 bytes.
MAX_PUSH_SEALS = 20_000
MAX_REASONS_TOLD = 100


async def _db(app: web.Application, fn: Callable[..., Any], *args: Any) -> Any:
    return await in_db(app[NODE], fn, *args)


def _packed(message: dict[str, Any]) -> web.Response:
    return web.Response(body=wire.pack(message), content_type=wire.CONTENT_TYPE)


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": code, "message": message, **extra}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _signed(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The verified sender and its message. Only enrolled descendants may call sync routes."""
    node = request.app[NODE]
    body = await request.read()
    sender = request.headers.get("X-Yimen-Node", "")
    try:
        sender = region.normalize(sender)
    except YimenError:
        raise WireError("unknown_node", "未知节点", f"unknown node {sender!r}")
    key = await _db(request.app, engine(node).public_key, sender)
    if key is None or sender == node.node_id or not region.is_within(sender, node.node_id):
        raise WireError("unknown_node", f"节点 {sender} 未在本节点注册", f"node {sender} is not enrolled here")
    wire.verify_request(key, request.headers, request.method, request.path, body)
    message = wire.unpack(body)
    wire.check_protocol(message)
    return sender, message


async def hello(request: web.Request) -> web.Response:
    sender, _ = await _signed(request)
    welcome = await _db(request.app, request.app[RESPONDER].hello, sender)
    return _packed({"protocol": wire.PROTOCOL, **welcome})


def _position(message: dict[str, Any], key: str) -> int:
    value = message.get(key, 0)
    if type(value) is not int or not 0 <= value < 1 << 62:
        raise WireError("bad_request", f"字段 {key} 须为非负整数", f"{key} must be a non-negative integer")
    return value


def _batch(sender: str, message: dict[str, Any]) -> Batch:
    """A pushed batch's shape (what each seal holds is the engine's to check, seal by seal)."""
    seals = message.get("seals")
    if not isinstance(seals, list) or len(seals) > MAX_PUSH_SEALS or not all(
            isinstance(p, list) and len(p) == 2 and all(type(x) is bytes for x in p) for p in seals):
        raise WireError("bad_request", "批次格式错误",
                        f"seals must be a list of at most {MAX_PUSH_SEALS} [body, signature] byte pairs")
    return Batch(sender, _position(message, "start"), _position(message, "next"), [(b, s) for b, s in seals])


def _refusals(reasons: list[str]) -> list[str]:
    """The reasons told back, bounded (a hostile batch may hold a hundred thousand)."""
    if len(reasons) <= MAX_REASONS_TOLD:
        return reasons
    return reasons[:MAX_REASONS_TOLD] + [f"... and {len(reasons) - MAX_REASONS_TOLD} more"]


async def push(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    batch = _batch(sender, message)
    m = request.app[MATERIALIZER]
    # Bulk is stored and forwarded; a few seals with nothing waiting are applied at once,
    # so a clerk's decision shows up without waiting for the node to be idle.
    defer = len(batch.seals) > m.INLINE_SEALS or not m.drained.is_set()
    with m.receiving():
        receipt = await _db(request.app, request.app[RESPONDER].push, sender, batch, defer)
        if receipt.deferred:
            m.drained.clear()
    refused = _refusals(receipt.quarantined)
    answer = {"recv_upto": receipt.recv_upto, "imported": receipt.imported,
              "duplicates": receipt.duplicates, "quarantined": refused}
    if refused:
        return json_error(422, "seals_quarantined", "; ".join(refused[:10]), **answer)
    return _packed(answer)


async def pull(request: web.Request) -> web.Response:
    """The next batch after `since`; with `wait`, held open until one has seals (woken by
    the feed watch, not by polling) or the wait is over."""
    sender, message = await _signed(request)
    app = request.app
    since = _position(message, "since")
    max_bytes = min(max(_position(message, "max_bytes"), 1), 4 << 20)
    wait = message.get("wait", 0)
    if not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        raise WireError("bad_request", "等待时间无效", "wait must be a finite non-negative number")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(float(wait), MAX_WAIT_S)
    while True:
        batch = await _db(app, app[RESPONDER].pull, sender, since, max_bytes)
        if batch.seals or loop.time() >= deadline:
            return _packed({"start": batch.start, "next": batch.next, "seals": batch.seals, "more": batch.more})
        await app[FEED_WATCH].wait(deadline - loop.time())


async def reconcile_digests(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    node = request.app[NODE]
    theirs = digests.check_digests(message.get("digests"))
    await _db(request.app, catch_up_all, node)
    mine = await _db(request.app, digests.listing, node.store, sender)
    scopes = digests.mismatched(digests.digests(mine), theirs)
    return _packed({"listing": {s: mine.get(s, {}) for s in scopes}})


async def seals_for_docs(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    docs = digests.check_doc_ids(message.get("docs"))
    await _db(request.app, catch_up_all, request.app[NODE])
    seals = await _db(request.app, digests.seals_for, request.app[NODE].store, docs, sender)
    return _packed({"seals": seals})


async def enroll(request: web.Request) -> web.Response:
    try:
        message = json.loads(await request.read())
        req, code = message["request"], str(message["code"])
    except (ValueError, KeyError, TypeError) as e:
        raise WireError("bad_request", "注册请求格式错误", f"malformed enrollment: {e}") from e
    answer = await _db(request.app, enrollment.admit, request.app[NODE], req, code)
    return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def status(request: web.Request) -> web.Response:
    info = await _db(request.app, node_status.status, request.app[NODE])
    return web.json_response(info, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/hello", hello)
    app.router.add_post("/v1/push", push)
    app.router.add_post("/v1/pull", pull)
    app.router.add_post("/v1/reconcile", reconcile_digests)
    app.router.add_post("/v1/seals", seals_for_docs)
    app.router.add_post("/v1/enroll", enroll)
    app.router.add_get("/v1/status", status)
