"""The node's HTTP routes: the sync routes for enrolled descendants (the answering side of
a session, `yimen.sync.session.Responder`), reconcile, enrollment with an invitation code,
a child's key rotation, and a liveness route. A descendant whose key is revoked is refused
every signed route at once (`revoked_node`). Handlers are a few lines that call services; every database call
runs on the node's database thread (`in_db`).

What a stranger (no enrolled key) learns is kept to what it needs: that the node is up
(`/v1/status`), on `/v1/enroll` whether its request is well formed and whether it was
admitted, one refusal for every other reason, and on a signed route that its request is
not signed by a node enrolled here, in the same words whatever region it names. No answer
names the server's software (`app.no_banner`)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any, Awaitable, Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.node.audit import exchange
from yimen.node.home import Node
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.node.server.feedwatch import FEED_WATCH
from yimen.node.server.materializer import MATERIALIZER
from yimen.node.server.throttle import FailureThrottle
from yimen.node.services import enrollment, space_delivery, trust
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import digests
from yimen.sync.engine import Batch, public_bytes
from yimen.sync.positions import Holding
from yimen.sync.session import Responder
from yimen.sync.transports import wire
from yimen.sync.transports.replay import ReplayGuard
from yimen.sync.transports.wire import WireError

log = logging.getLogger("yimen.http")
NODE = web.AppKey("node", Node)
RESPONDER = web.AppKey("responder", Responder)
REPLAY = web.AppKey("replay", ReplayGuard)
ENROLL_THROTTLE = web.AppKey("enroll_throttle", FailureThrottle)
MAX_WAIT_S = 25.0
ENROLL_ATTEMPTS = 10  # failed enrollments per address in 15 minutes
# Seals in one push: a sender's batch is about 1 MiB, and no real seal is under 100 bytes.
MAX_PUSH_SEALS = 20_000
MAX_REASONS_TOLD = 100
STRANGER_KEY = public_bytes(Ed25519PrivateKey.generate())  # its private half is dropped at once


async def _db(app: web.Application, fn: Callable[..., Any], *args: Any) -> Any:
    return await in_db(app[NODE], fn, *args)


def _packed(message: dict[str, Any]) -> web.Response:
    return web.Response(body=wire.pack(message), content_type=wire.CONTENT_TYPE)


def json_error(status: int, code: str, message: str, message_zh: str, **extra: Any) -> web.Response:
    """An error answer in both languages: the server does not know the clerk's language
    (a hub relays for children set to either), so the client shows the one it is set to."""
    body = {"error": code, "message": message, "message_zh": message_zh, **extra}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _signed(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The verified sender and its message. Only enrolled descendants may call sync routes,
    and only with a request signed for this node that it has not taken before. The body is
    read once the sender is known to be enrolled."""
    sender, body = await signed_body(request)
    message = wire.unpack(body)
    wire.check_protocol(message)
    return sender, message


Reader = Callable[[web.Request, str, bool], Awaitable[bytes]]


async def signed_body(request: web.Request, limit: int | None = None, read: Reader | None = None,
                      proof: bytes | None = None) -> tuple[str, bytes]:
    """The verified sender and the raw body (at most `limit` bytes, when given), as `_signed`.
    `read(request, sender, verified)`: how to read the body instead (it may keep what came
    of a body cut short, for a verified sender: see `chunk_routes`). With `proof`, the
    signature covers those bytes (what the request's headers say the body is) instead of the
    body, and is checked before the body is read."""
    node = request.app[NODE]
    sender = request.headers.get(wire.SENDER, "")
    try:
        sender = region.normalize(sender)
    except YimenError:
        raise WireError("unknown_node", "未知节点", f"unknown node {sender[:40]!r}")
    key, revoked = await _db(request.app, _sender_key, node, sender)
    enrolled = not (key is None or sender == node.node_id or not region.is_within(sender, node.node_id))
    if not enrolled:
        # Checked against a key nobody holds, so a node not enrolled here is answered exactly
        # as an enrolled one with a bad signature: the answers do not list the enrolled regions.
        key = STRANGER_KEY
    if proof is not None:
        _admit(request, wire.verify_request(key, request.headers, request.method, request.path, proof, node.node_id),
               sender, revoked)
        return sender, await read(request, sender, enrolled) if read is not None else await request.read()
    if read is not None:
        body = await read(request, sender, False)  # (nothing is kept for a sender not yet verified)
    else:
        body = await request.read() if limit is None else await _read_bounded(request, limit)
    stamp = wire.verify_request(key, request.headers, request.method, request.path, body, node.node_id)
    _admit(request, stamp, sender, revoked)
    return sender, body


def _admit(request: web.Request, stamp: wire.RequestStamp, sender: str, revoked: tuple[int, str, str] | None) -> None:
    if revoked is not None:  # after the signature: only the key's holder learns it was revoked
        raise WireError("revoked_node", f"节点 {sender} 的密钥已被吊销（{revoked[2]}）",
                        f"the key of node {sender} has been revoked ({revoked[1]})")
    request.app[REPLAY].admit(sender, stamp.nonce, stamp.time)


def _sender_key(node: Node, sender: str) -> tuple[bytes | None, tuple[int, str, str] | None]:
    """The sender's current key and, if it is revoked, the revocation (cut, reason, reason_zh)."""
    return engine(node).public_key(sender), node.store.keys.revocation(sender)


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
    rewind = message.get("rewind", False)
    if not isinstance(rewind, bool):
        raise WireError("bad_request", "字段 rewind 须为布尔值", "rewind must be a boolean")
    return Batch(sender, _position(message, "start"), _position(message, "next"), [(b, s) for b, s in seals],
                 rewind=rewind)


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
        return json_error(422, "seals_quarantined", "; ".join(refused[:10]), f"{len(receipt.quarantined)} 个签封被隔离",
                          **answer)
    return _packed(answer)


async def pull(request: web.Request) -> web.Response:
    """The next batch after `since`; with `wait`, held open until one has seals (woken by
    the feed watch, not by polling) or the wait is over."""
    sender, message = await _signed(request)
    app = request.app
    # what the child holds of our feed: checked against it (we may restate our feed)
    held = Holding(_position(message, "since"), message.get("last_seal"))
    max_bytes = min(max(_position(message, "max_bytes"), 1), 4 << 20)
    wait = message.get("wait", 0)
    if not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        raise WireError("bad_request", "等待时间无效", "wait must be a finite non-negative number")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(float(wait), MAX_WAIT_S)
    while True:
        batch = await _db(app, app[RESPONDER].pull, sender, held, max_bytes)
        if batch.seals or batch.rewind or loop.time() >= deadline:
            return _packed({"start": batch.start, "next": batch.next, "seals": batch.seals, "more": batch.more,
                            "rewind": batch.rewind})
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


async def checkpoint(request: web.Request) -> web.Response:
    """A child's audit checkpoint, countersigned when it extends the one held (see
    `yimen.node.audit.exchange`): only a direct child's, the parent being its anchor."""
    sender, message = await _signed(request)
    node = request.app[NODE]
    if region.parent_code(sender) != node.node_id:
        raise WireError("unknown_node", f"节点 {sender} 不是本节点的下级", f"node {sender} is not a child of this node")
    return _packed({"countersigned": await _db(request.app, exchange.countersign_child, node, sender, message)})


async def space_documents(request: web.Request) -> web.Response:
    """Space seals under the consents a descendant names (see `services.space_delivery`)."""
    sender, message = await _signed(request)
    node = request.app[NODE]
    await _db(request.app, catch_up_all, node)  # a consent just pushed may be stored but not applied
    return _packed(await _db(request.app, space_delivery.answer, node, sender, message))


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    """The body, refused past `limit` bytes without reading the rest."""
    if (request.content_length or 0) <= limit:
        try:
            await request.content.readexactly(limit + 1)
        except asyncio.IncompleteReadError as e:  # the body ended within the limit
            return e.partial
    raise WireError("body_too_large", "请求体过大", f"the body exceeds {limit} bytes")


async def enroll(request: web.Request) -> web.Response:
    """Online enrollment with an invitation code. A refusal is one answer whatever its
    reason (a used code, an unknown region, one already enrolled would each tell a stranger
    something); the node's log has the reason. Failures are throttled per address."""
    throttle, address = request.app[ENROLL_THROTTLE], request.remote or ""
    throttle.check(address)
    try:
        req, code = enrollment.read_online(await _read_bounded(request, enrollment.MAX_BODY))
        answer = await _db(request.app, enrollment.admit, request.app[NODE], req, code)
    except (WireError, enrollment.EnrollmentRefused) as e:
        throttle.failed(address)
        if isinstance(e, (WireError, enrollment.MalformedEnrollment)):
            raise
        log.warning("enrollment from %s refused: %s", address, e.en)
        raise WireError("enrollment_refused", enrollment.REFUSED_ZH, enrollment.REFUSED_EN) from e
    return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def rotate(request: web.Request) -> web.Response:
    """A child's key rotation, signed with its current key (see `services.trust`)."""
    sender, message = await _signed(request)
    try:
        answer = await _db(request.app, trust.certify_rotation, request.app[NODE], message.get("request"), sender)
    except trust.RotationRefused as e:
        raise WireError("rotation_refused", e.zh, e.en) from e
    return _packed(answer)


async def status(request: web.Request) -> web.Response:
    """That the node is up and the protocol it speaks, nothing more: its name, counts and
    peers would tell a stranger the region codes to try (`yimen status` shows them)."""
    return web.json_response({"ok": True, "protocol": wire.PROTOCOL})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/hello", hello)
    app.router.add_post("/v1/push", push)
    app.router.add_post("/v1/pull", pull)
    app.router.add_post("/v1/reconcile", reconcile_digests)
    app.router.add_post("/v1/seals", seals_for_docs)
    app.router.add_post("/v1/checkpoint", checkpoint)
    app.router.add_post(space_delivery.ROUTE, space_documents)
    app.router.add_post("/v1/enroll", enroll)
    app.router.add_post("/v1/rotate", rotate)
    app.router.add_get("/v1/status", status)
