"""The node's HTTP server (aiohttp): `create_app(node)` wires the routes (`routes`), the
error middleware, and the background parts that live with the app: the materializer
(applies stored seals while idle, see `materializer`) and the feed watch (wakes long
polls, see `feedwatch`).

Errors become `{"error": code, "message": en, "message_zh": zh}` with a 4xx status in one
middleware (both texts: the client shows its clerk's language); a
database error is a 503 the sender retries; anything unexpected (a bare `BaseException`
too, which the loro library raises) is logged with its details and answered as a JSON
500 with an id the log holds, never a traceback or a dropped connection. Cancellation
and interrupts pass through.

Per app (so per process) live the replay guard of signed requests and the throttle of
failed enrollments.
"""

from __future__ import annotations

import logging
import secrets
from typing import Awaitable, Callable

from aiohttp import web

from yimen.node.errors import CONTROL_FLOW
from yimen.node.home import Node
from yimen.node.server.chunk_routes import setup_chunk_routes
from yimen.node.replication import engine
from yimen.node.server.feedwatch import FEED_WATCH, FeedWatch, watching
from yimen.node.server.materializer import MATERIALIZER, Materializer, materializing
from yimen.node.server.routes import (ENROLL_ATTEMPTS, ENROLL_THROTTLE, NODE, REPLAY, RESPONDER, json_error,
                                      setup_routes)
from yimen.node.server.throttle import FailureThrottle
from yimen.schema.errors import YimenError
from yimen.sync.engine import OutOfOrder
from yimen.sync.session import Responder
from yimen.sync.store import driver, wrap
from yimen.sync.transports import wire
from yimen.sync.transports.replay import ReplayGuard
from yimen.sync.transports.wire import WireError

log = logging.getLogger("yimen.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WireError as e:
        return json_error(wire.ERROR_STATUS.get(e.code, 400), e.code, e.en, e.zh, **e.extra)
    except OutOfOrder as e:
        return json_error(409, e.code, e.en, e.zh, recv_upto=e.recv_upto)
    except YimenError as e:
        return json_error(wire.ERROR_STATUS.get(e.code, 400), e.code, e.en, e.zh)
    except driver.Error as e:
        err = wrap(e)
        log.warning("%s %s: %s", request.method, request.path, e)
        return json_error(503, err.code, err.en, err.zh)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "body_too_large", f"the body exceeds {wire.MAX_BODY} bytes",
                          f"请求体超过 {wire.MAX_BODY} 字节")
    except web.HTTPException as e:
        if e.status < 400:  # a redirect (of the pages)
            raise
        if e.status == 404:
            return json_error(404, "not_found", e.reason or "", "没有这个地址")
        return json_error(e.status, "bad_request", e.reason or "", f"请求无效（HTTP {e.status}）")
    except ConnectionResetError:  # the client went away mid-body: nothing to log, no one to answer
        return json_error(400, "connection_lost", "the connection was lost mid-request", "请求中途连接断开")
    except CONTROL_FLOW:
        raise
    except BaseException:  # noqa: BLE001 (the boundary, loro's bare BaseException too: logged, one sentence)
        ref = secrets.token_hex(4)
        log.exception("%s %s failed (error id %s)", request.method, request.path, ref)
        return json_error(500, "internal_error", f"unexpected error; the node's log holds error id {ref}",
                          f"出现意外错误，节点日志中的错误编号为 {ref}", error_id=ref)


async def no_banner(request: web.Request, response: web.StreamResponse) -> None:
    """Name no software and version in answers (aiohttp's default `Server` header would)."""
    response.headers["Server"] = "yimen"


def create_app(node: Node, materialize: bool = True, secure: bool = False) -> web.Application:
    """The node's app: the sync routes and the window's pages (`yimen.node.web`).
    `materialize=False` leaves pushed seals stored but unapplied until someone calls
    `catch_up` (tests that also use the node's connection directly). `secure`: the node
    serves TLS (the pages' cookies are Secure)."""
    app = web.Application(middlewares=[errors], client_max_size=wire.MAX_BODY)
    app[NODE] = node
    app[RESPONDER] = Responder(engine(node))
    app[REPLAY] = ReplayGuard()  # a new process remembers nothing: see its docstring
    app[ENROLL_THROTTLE] = FailureThrottle(limit=ENROLL_ATTEMPTS, window_s=900)
    app[MATERIALIZER] = Materializer(node)
    app[FEED_WATCH] = FeedWatch(node)
    app.on_response_prepare.append(no_banner)
    app.cleanup_ctx.append(watching)
    if materialize:
        app.cleanup_ctx.append(materializing)
    setup_routes(app)
    setup_chunk_routes(app)  # file chunks (My Space)
    from yimen.node.web.app import setup_pages  # here: `yimen sync` never loads the templates' libraries
    setup_pages(app, secure)
    return app


__all__ = ["create_app", "NODE", "MATERIALIZER", "errors"]
