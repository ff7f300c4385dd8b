"""The node's HTTP server (aiohttp): sync routes for enrolled descendants, enrollment with
an invitation code, and a JSON status route.

Handlers are a few lines that call services; every database call runs in a worker thread
under one lock (one writer, and the event loop never blocks on SQLite). Errors become
`{"error": code, "message": ...}` with a 4xx status in one middleware.

Pushes are stored and forwarded: a child's seals are verified, stored and acknowledged at
once, and the `Materializer` applies them to documents and projections while the node is
otherwise idle (a push of a few seals with nothing waiting is applied at once). Routes
that read documents (reconcile) catch up first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from contextlib import contextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import web

from yimen.node.services import enrollment, status as peers
from yimen.node.home import Node
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.node.server.supervisor import Supervisor
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import reconcile
from yimen.sync.transports import wire
from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync.transports.wire import WireError

log = logging.getLogger("yimen.http")
NODE = web.AppKey("node", Node)
MAX_WAIT_S = 25.0


class Materializer:
    """Applies the seals that pushes stored, one per transaction on the database thread,
    only when the node is otherwise idle: no push being received, and none received nor
    anything written by another process (a `sync`, a clerk's command) for a short grace.
    So a child's push is acknowledged as soon as it is verified and stored, and relaying
    goes first. Starts by draining what a previous run left; `drained` is set whenever
    nothing is left to apply."""

    GRACE_S = 1.0  # a pipelining child pushes again sooner; a real pause lasts longer
    PAUSE_S = 0.005  # between seals applied (other writers retry every 2 ms, see Store)
    INLINE_SEALS = 4  # a push this small, with nothing waiting, is applied at once

    def __init__(self, node: Node):
        self.node = node
        self.wake, self.quiet, self.drained = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.wake.set()
        self.quiet.set()
        self.pushes, self.last_activity, self.seen = 0, 0.0, 0

    @contextmanager
    def receiving(self) -> Iterator[None]:
        self.pushes += 1
        self.quiet.clear()
        try:
            yield
        finally:
            self.pushes -= 1
            self.last_activity = asyncio.get_running_loop().time()
            if not self.pushes:
                self.quiet.set()
            self.wake.set()

    async def run(self) -> None:
        eng, loop = engine(self.node), asyncio.get_running_loop()
        self.wake.set()  # restarted after a failure (see Supervisor): look at what is left
        self.seen = await in_db(self.node, self.node.store.data_version)
        while True:
            await self.wake.wait()
            self.wake.clear()
            while True:
                await self.quiet.wait()
                version = await in_db(self.node, self.node.store.data_version)
                if version != self.seen:  # another process wrote to this node
                    self.seen, self.last_activity = version, loop.time()
                wait = self.last_activity + self.GRACE_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                try:
                    if not await in_db(self.node, eng.catch_up, 1):
                        self.drained.set()
                        break
                except Exception:  # keep serving; the next push wakes us to retry
                    log.exception("applying received seals failed")
                    break
                await asyncio.sleep(self.PAUSE_S)  # a window for another process's write


MATERIALIZER = web.AppKey("materializer", Materializer)


async def materializing(app: web.Application) -> AsyncIterator[None]:
    """The materializer runs supervised: one that died would leave every push stored and
    never applied."""
    tasks = Supervisor()
    tasks.start("materializer", app[MATERIALIZER].run)
    yield
    await tasks.stop()
    await in_db(app[NODE], lambda: None)  # a seal being applied on the database thread finishes


async def _db(app: web.Application, fn: Callable[..., Any], *args: Any) -> Any:
    return await in_db(app[NODE], fn, *args)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": code, "message": message, **extra}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@web.middleware
async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except WireError as e:
        return _error(wire.ERROR_STATUS.get(e.code, 400), e.code, e.en, **e.extra)
    except OutOfOrder as e:
        return _error(409, e.code, e.en)
    except YimenError as e:
        return _error(wire.ERROR_STATUS.get(e.code, 400), e.code, e.en)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "body_too_large", f"the body exceeds {wire.MAX_BODY} bytes")
    except web.HTTPException as e:
        return _error(e.status, "not_found" if e.status == 404 else "bad_request", e.reason or "")


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


def _packed(message: dict[str, Any]) -> web.Response:
    return web.Response(body=wire.pack(message), content_type=wire.CONTENT_TYPE)


async def hello(request: web.Request) -> web.Response:
    sender, _ = await _signed(request)
    node = request.app[NODE]
    recv, sent = await _db(request.app, engine(node).positions, sender)
    return _packed({"protocol": wire.PROTOCOL, "node": node.node_id, "recv_upto": recv, "sent_upto": sent})


def _position(message: dict[str, Any], key: str) -> int:
    value = message.get(key, 0)
    if type(value) is not int or not 0 <= value < 1 << 62:
        raise WireError("bad_request", f"字段 {key} 须为非负整数", f"{key} must be a non-negative integer")
    return value


def _batch(sender: str, message: dict[str, Any]) -> Batch:
    seals = message.get("seals")
    if not isinstance(seals, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, bytes) for x in p) for p in seals):
        raise WireError("bad_request", "批次格式错误", "seals must be a list of [body, signature] byte pairs")
    return Batch(sender, _position(message, "start"), _position(message, "next"), [(b, s) for b, s in seals])


async def push(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    batch = _batch(sender, message)
    node, m = request.app[NODE], request.app[MATERIALIZER]
    # Bulk is stored and forwarded; a few seals with nothing waiting are applied at once,
    # so a clerk's decision shows up without waiting for the node to be idle.
    defer = len(batch.seals) > m.INLINE_SEALS or not m.drained.is_set()
    with m.receiving():
        receipt = await _db(request.app, engine(node).receive, sender, batch, defer)
        if receipt.deferred:
            m.drained.clear()
    answer = {"recv_upto": receipt.recv_upto, "imported": receipt.imported,
              "duplicates": receipt.duplicates, "quarantined": receipt.quarantined}
    if receipt.quarantined:
        return _error(422, "seals_quarantined", "; ".join(receipt.quarantined), **answer)
    return _packed(answer)


async def pull(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    node, app = request.app[NODE], request.app
    since = _position(message, "since")
    max_bytes = min(max(_position(message, "max_bytes"), 1), 4 << 20)
    wait = message.get("wait", 0)
    if not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        raise WireError("bad_request", "等待时间无效", "wait must be a finite non-negative number")
    wait = min(float(wait), MAX_WAIT_S)
    eng = engine(node)
    await _db(app, eng.set_sent, sender, since)
    await _db(app, eng.seal_pending)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        batch = await _db(app, eng.next_batch, sender, since, max_bytes)
        if batch.seals or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.2)
        await _db(app, eng.seal_pending)
    await _db(app, peers.count_out, node, sender, batch)
    return _packed({"start": batch.start, "next": batch.next, "seals": batch.seals, "more": batch.more})


async def reconcile_digests(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    node = request.app[NODE]
    theirs = message.get("digests")
    if not isinstance(theirs, dict):
        raise WireError("bad_request", "对账请求格式错误", "malformed reconcile request")
    await _db(request.app, catch_up_all, node)
    mine = await _db(request.app, reconcile.listing, node.store, sender)
    scopes = reconcile.mismatched(reconcile.digests(mine), theirs)
    return _packed({"listing": {s: mine.get(s, {}) for s in scopes}})


async def seals_for_docs(request: web.Request) -> web.Response:
    sender, message = await _signed(request)
    docs = message.get("docs")
    if not isinstance(docs, list) or len(docs) > 1000 or not all(isinstance(d, str) for d in docs):
        raise WireError("bad_request", "请求格式错误", "docs must be a list of at most 1000 ids")
    await _db(request.app, catch_up_all, request.app[NODE])
    seals = await _db(request.app, reconcile.seals_for, request.app[NODE].store, docs, sender)
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
    info = await _db(request.app, peers.status, request.app[NODE])
    return web.json_response(info, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/hello", hello)
    app.router.add_post("/v1/push", push)
    app.router.add_post("/v1/pull", pull)
    app.router.add_post("/v1/reconcile", reconcile_digests)
    app.router.add_post("/v1/seals", seals_for_docs)
    app.router.add_post("/v1/enroll", enroll)
    app.router.add_get("/v1/status", status)


def create_app(node: Node, materialize: bool = True) -> web.Application:
    """The node's app. `materialize=False` leaves pushed seals stored but unapplied until
    someone calls `catch_up` (tests that also use the node's connection directly)."""
    app = web.Application(middlewares=[errors], client_max_size=wire.MAX_BODY)
    app[NODE] = node
    app[MATERIALIZER] = Materializer(node)
    if materialize:
        app.cleanup_ctx.append(materializing)
    setup_routes(app)
    return app
