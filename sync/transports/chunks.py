"""File chunks over the node's HTTP routes, client side (the server's are
`yimen.node.server.chunk_routes`). Every request is signed for its recipient like the sync
routes (`wire`); the chunk itself travels as the body's raw bytes, not msgpack and not
zlib (scans and PDFs are compressed already), so a chunk costs its size plus headers:

    POST /v1/chunks/want   msgpack {"hashes": [...]}  ->  {"lacks": [...], "gives": [...]}
                           of these hashes, which the recipient lacks and would take from
                           the sender, and which it holds and would give the sender
    POST /v1/chunks/put    raw chunk bytes, header X-Yimen-Chunk: its SHA-256 hex
                           (checked against the body; the signature covers the body)
                           ->  {"stored": bool}
    POST /v1/chunks/get    msgpack {"hash": h}  ->  the chunk's raw bytes
                           (404 `chunk_not_here`: the recipient may give it but does not
                           hold it yet)

A chunk is one request: a link cut mid-chunk loses that chunk only, and the caller asks
again what is missing. What comes back is bounded (a chunk at most `MAX_CHUNK` bytes) and
checked against its hash before anyone stores it."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import aiohttp

from yimen.sync.store.chunks import MAX_CHUNK, BadChunk
from yimen.sync.transports import wire
from yimen.sync.transports.http import HttpTransport, answered

MAX_HASHES = 4096  # chunk hashes in one request or answer (~270 KB of msgpack)
CHUNK_HEADER = "X-Yimen-Chunk"
RAW_TYPE = "application/octet-stream"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hash(v: object) -> bool:
    return type(v) is str and _HEX64.fullmatch(v) is not None


def check_hashes(value: Any, limit: int = MAX_HASHES) -> list[str]:
    """A list of at most `limit` lowercase hex SHA-256 digests, without repeats (WireError)."""
    if not isinstance(value, list) or len(value) > limit or not all(is_hash(h) for h in value):
        raise wire.WireError("bad_request", f"分块哈希须为至多 {limit} 个十六进制 SHA-256 值的列表",
                             f"hashes must be a list of at most {limit} lowercase hex SHA-256 digests")
    return list(dict.fromkeys(value))


class ChunkLink:
    """The chunk routes of the node `transport` reaches (same session, pin and key)."""

    def __init__(self, transport: HttpTransport, timeout: float = 120):
        self.t, self.timeout = transport, aiohttp.ClientTimeout(total=timeout)

    async def want(self, hashes: list[str]) -> tuple[list[str], list[str]]:
        """(lacks, gives) of `hashes` at the peer (at most MAX_HASHES at once)."""
        answer = await self.t.call("/v1/chunks/want", {"hashes": list(hashes)})
        try:
            asked = set(hashes)
            lacks, gives = check_hashes(answer.get("lacks")), check_hashes(answer.get("gives"))
        except wire.WireError:
            raise wire.WireError("bad_request", "上级的应答格式错误", f"{self.t.peer} answered a malformed want")
        return [h for h in lacks if h in asked], [h for h in gives if h in asked]

    async def put(self, digest: str, data: bytes) -> bool:
        """Send one chunk; True if the peer did not hold it before."""
        raw = await self._post("/v1/chunks/put", data, {CHUNK_HEADER: digest, "Content-Type": RAW_TYPE})
        return bool(wire.unpack(raw).get("stored"))

    async def get(self, digest: str) -> bytes | None:
        """One chunk from the peer, checked against its hash; None if the peer may give it
        but does not hold it yet."""
        try:
            data = await self._post("/v1/chunks/get", wire.pack({"protocol": wire.PROTOCOL, "hash": digest}), {})
        except wire.WireError as e:
            if e.code == "chunk_not_here":
                return None
            raise
        if hashlib.sha256(data).hexdigest() != digest:
            raise BadChunk("上级发来的文件分块与其哈希不符", f"{self.t.peer} sent bytes that are not chunk {digest[:16]}…")
        return data

    async def _post(self, path: str, body: bytes, extra: dict[str, str]) -> bytes:
        t = self.t
        headers = {**wire.sign_request(t.key, t.node_id, t.peer, "POST", path, body), **extra}
        async with t.session.post(t.url + path, data=body, headers=headers, ssl=t.ssl, timeout=self.timeout) as resp:
            if resp.content_type == "application/json" and resp.status >= 400:
                raise answered(t.peer, resp.status, await resp.json())
            if resp.status >= 400:
                raise aiohttp.ClientResponseError(resp.request_info, resp.history, status=resp.status,
                                                  message=f"{t.url} is not a Yimen node ({resp.content_type})")
            return await _bounded(resp, MAX_CHUNK)


async def _bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body, refused past `limit` bytes without reading the rest."""
    if (resp.content_length or 0) > limit:
        raise wire.WireError("body_too_large", "上级的应答过大", f"the answer exceeds {limit} bytes")
    data = await resp.content.read(limit + 1)
    while len(data) <= limit and (more := await resp.content.read(limit + 1 - len(data))):
        data += more
    if len(data) > limit:
        raise wire.WireError("body_too_large", "上级的应答过大", f"the answer exceeds {limit} bytes")
    return data
