"""The file chunk routes (format: `yimen.sync.transports.chunks`; the rule of what may move:
`yimen.node.services.file_transfer`). Signed by an enrolled descendant like the sync
routes (`routes.signed_body`): a stranger learns nothing of which chunks exist. Every
size is bounded before the body is read (a pushed chunk at most `MAX_CHUNK` bytes, a want
at most `MAX_HASHES` hashes); a refusal is a 4xx JSON answer and writes nothing.

A push cut mid-body keeps what arrived (in memory, `Partials`: a few chunks per process,
for a sender enrolled here), and the want answer tells the sender how much (`partial`),
so the next push sends only the rest (header `X-Yimen-Offset`). The part kept is not
signed (the signature covers a whole body): the joined chunk is checked against its hash,
so a wrong part costs one chunk sent whole again, never a wrong chunk."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from aiohttp import web

from yimen.node.server.routes import NODE, _db, _packed, signed_body
from yimen.node.services import file_transfer
from yimen.sync.store.chunks import MAX_CHUNK
from yimen.sync.transports import wire
from yimen.sync.transports.chunks import (CHUNK_HEADER, MAX_HASHES, OFFSET_HEADER, RAW_TYPE, check_hashes, is_hash,
                                          put_proof)
from yimen.sync.transports.wire import WireError

MAX_WANT_BODY = 64 * MAX_HASHES + 64 * 1024  # hashes packed, plus room; zlib would only shrink them
MAX_PARTIALS = 16  # chunks cut on the way in whose received part is kept (16 MiB at most)


class Partials:
    """The received part of chunks whose push was cut, by (sender, hash): the newest
    MAX_PARTIALS, in memory (a new process resumes from the last whole chunk)."""

    def __init__(self, limit: int = MAX_PARTIALS):
        self.limit, self.parts = limit, OrderedDict[tuple[str, str], bytes]()

    def keep(self, sender: str, digest: str, data: bytes) -> None:
        if data:
            self.parts[(sender, digest)] = data
            self.parts.move_to_end((sender, digest))
            while len(self.parts) > self.limit:
                self.parts.popitem(last=False)

    def size(self, sender: str, digest: str) -> int:
        return len(self.parts.get((sender, digest), b""))

    def take(self, sender: str, digest: str) -> bytes:
        return self.parts.pop((sender, digest), b"")


PARTIALS = web.AppKey("chunk_partials", Partials)


async def _message(request: web.Request, limit: int) -> tuple[str, dict]:
    sender, body = await signed_body(request, limit)
    message = wire.unpack(body)
    wire.check_protocol(message)
    return sender, message


async def want(request: web.Request) -> web.Response:
    sender, message = await _message(request, MAX_WANT_BODY)
    hashes = check_hashes(message.get("hashes"))
    node = request.app[NODE]
    answer = await _db(request.app, file_transfer.answer_want, node, sender, hashes)
    parts = request.app[PARTIALS]
    answer["partial"] = {h: n for h in answer["lacks"] if (n := parts.size(sender, h))}
    return _packed(answer)


def _put_headers(request: web.Request) -> tuple[str, int]:
    digest, offset = request.headers.get(CHUNK_HEADER, ""), request.headers.get(OFFSET_HEADER, "0")
    if not is_hash(digest):
        raise WireError("bad_request", f"缺少或错误的 {CHUNK_HEADER} 请求头", f"{CHUNK_HEADER} must be a hex SHA-256")
    if not (offset.isascii() and offset.isdigit() and len(offset) <= 8 and int(offset) < MAX_CHUNK):
        raise WireError("bad_request", f"错误的 {OFFSET_HEADER} 请求头", f"{OFFSET_HEADER} must be a byte offset")
    if int(offset) + (request.content_length or 0) > MAX_CHUNK:  # before anything is read
        raise WireError("body_too_large", "文件分块过大", f"a chunk is at most {MAX_CHUNK} bytes")
    return digest, int(offset)


async def put(request: web.Request) -> web.Response:
    """One chunk (or its rest, from `X-Yimen-Offset` on) from a descendant, stored if a
    document held here lists it."""
    digest, offset = _put_headers(request)
    parts = request.app[PARTIALS]

    async def read(request: web.Request, sender: str, enrolled: bool) -> bytes:
        got = bytearray()
        try:
            async for piece in request.content.iter_chunked(1 << 16):
                got += piece
                if offset + len(got) > MAX_CHUNK:
                    raise WireError("body_too_large", "文件分块过大", f"a chunk is at most {MAX_CHUNK} bytes")
        except WireError:
            raise
        except (Exception, asyncio.CancelledError):  # cut mid-body: reset, or the handler cancelled
            # (kept, then raised on: cancellation goes on as it came)
            keep(sender, enrolled, got)
            raise
        if request.content_length is not None and len(got) < request.content_length:  # closed mid-body
            keep(sender, enrolled, got)
            raise WireError("bad_request", "请求体不完整", "the body ended before its length")
        return bytes(got)

    def keep(sender: str, enrolled: bool, got: bytearray) -> None:
        if enrolled and parts.size(sender, digest) >= offset:
            parts.keep(sender, digest, parts.take(sender, digest)[:offset] + bytes(got))
    if request.content_length is None:  # the signature covers the declared length
        raise WireError("bad_request", "缺少 Content-Length 请求头", "a chunk is sent with its Content-Length")
    sender, rest = await signed_body(request, read=read, proof=put_proof(digest, offset, request.content_length))
    head = parts.take(sender, digest)[:offset] if offset else b""
    if len(head) < offset:
        raise WireError("resume_refused", "本节点没有该分块的前半部分，请整块重发",
                        "this node holds no part of that chunk to resume from: send it whole")
    stored = await _db(request.app, file_transfer.accept, request.app[NODE], sender, digest, head + rest)
    return _packed({"stored": stored})


async def get(request: web.Request) -> web.Response:
    """One chunk for a descendant that may hold a document listing it, from byte `from` on
    (the rest of one whose first part came before the link was cut)."""
    sender, message = await _message(request, 4096)
    digest, start = message.get("hash"), message.get("from", 0)
    if not is_hash(digest):
        raise WireError("bad_request", "分块哈希格式错误", "hash must be a hex SHA-256")
    if type(start) is not int or not 0 <= start <= MAX_CHUNK:
        raise WireError("bad_request", "起始位置无效", f"from must be an integer from 0 to {MAX_CHUNK}")
    data = await _db(request.app, file_transfer.serve, request.app[NODE], sender, digest)
    return web.Response(body=data[start:], content_type=RAW_TYPE)  # (past the end: nothing)


def setup_chunk_routes(app: web.Application) -> None:
    app[PARTIALS] = Partials()
    app.router.add_post("/v1/chunks/want", want)
    app.router.add_post("/v1/chunks/put", put)
    app.router.add_post("/v1/chunks/get", get)
