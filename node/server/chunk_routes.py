"""The file chunk routes (format: `yimen.sync.transports.chunks`; the rule of what may move:
`yimen.node.services.file_transfer`). Signed by an enrolled descendant like the sync
routes (`routes.signed_body`): a stranger learns nothing of which chunks exist. Every
size is bounded before the body is read (a pushed chunk at most `MAX_CHUNK` bytes, a want
at most `MAX_HASHES` hashes); a refusal is a 4xx JSON answer and writes nothing."""

from __future__ import annotations

from aiohttp import web

from yimen.node.server.routes import NODE, _db, _packed, signed_body
from yimen.node.services import file_transfer
from yimen.sync.store.chunks import MAX_CHUNK
from yimen.sync.transports import wire
from yimen.sync.transports.chunks import CHUNK_HEADER, MAX_HASHES, RAW_TYPE, check_hashes, is_hash
from yimen.sync.transports.wire import WireError

MAX_WANT_BODY = 64 * MAX_HASHES + 64 * 1024  # hashes packed, plus room; zlib would only shrink them


async def _message(request: web.Request, limit: int) -> tuple[str, dict]:
    sender, body = await signed_body(request, limit)
    message = wire.unpack(body)
    wire.check_protocol(message)
    return sender, message


async def want(request: web.Request) -> web.Response:
    sender, message = await _message(request, MAX_WANT_BODY)
    hashes = check_hashes(message.get("hashes"))
    node = request.app[NODE]
    return _packed(await _db(request.app, file_transfer.answer_want, node, sender, hashes))


async def put(request: web.Request) -> web.Response:
    """One chunk from a descendant, stored if a document held here lists it."""
    digest = request.headers.get(CHUNK_HEADER, "")
    if not is_hash(digest):
        raise WireError("bad_request", f"缺少或错误的 {CHUNK_HEADER} 请求头", f"{CHUNK_HEADER} must be a hex SHA-256")
    if (request.content_length or 0) > MAX_CHUNK:  # before anything is read
        raise WireError("body_too_large", "文件分块过大", f"a chunk is at most {MAX_CHUNK} bytes")
    sender, data = await signed_body(request, MAX_CHUNK)
    stored = await _db(request.app, file_transfer.accept, request.app[NODE], sender, digest, data)
    return _packed({"stored": stored})


async def get(request: web.Request) -> web.Response:
    """One chunk for a descendant that may hold a document listing it."""
    sender, message = await _message(request, 4096)
    digest = message.get("hash")
    if not is_hash(digest):
        raise WireError("bad_request", "分块哈希格式错误", "hash must be a hex SHA-256")
    data = await _db(request.app, file_transfer.serve, request.app[NODE], sender, digest)
    return web.Response(body=data, content_type=RAW_TYPE)


def setup_chunk_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chunks/want", want)
    app.router.add_post("/v1/chunks/put", put)
    app.router.add_post("/v1/chunks/get", get)
