"""File chunks over the node's HTTP routes, client side (the server's are
`yimen.node.server.chunk_routes`). Every request is signed for its recipient like the sync
routes (`wire`); the chunk itself travels as the body's raw bytes, not msgpack and not
zlib (scans and PDFs are compressed already), so a chunk costs its size plus headers:

    POST /v1/chunks/want   msgpack {"hashes": [...]}  ->  {"lacks": [...], "gives": [...],
                           "partial": {hash: bytes held}}: of these hashes, which the
                           recipient lacks and would take from the sender (and how much of
                           each it kept of a push that was cut), which it holds and would
                           give the sender
    POST /v1/chunks/put    raw chunk bytes, header X-Yimen-Chunk: its SHA-256 hex (checked
                           against the chunk; the signature covers the body), and
                           X-Yimen-Offset: n when the body is the chunk from byte n on
                           ->  {"stored": bool}   (409 `resume_refused`: send it whole)
    POST /v1/chunks/get    msgpack {"hash": h, "from": n}  ->  the chunk's raw bytes from
                           byte n on (404 `chunk_not_here`: the recipient may give it but
                           does not hold it yet)

A chunk is one request: a link cut mid-chunk loses that chunk only, and the caller asks
again what is missing. A chunk coming down that is cut keeps what arrived in memory
(`partials`, a few chunks at most), and the next request for it asks only for the rest
(`from`): the whole is checked against its hash, so a wrong part costs that chunk again,
never a wrong chunk. What comes back is bounded (a chunk at most `MAX_CHUNK` bytes) and
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
MAX_PARTIALS = 4  # chunks cut on the way down whose received part is kept
CHUNK_HEADER = "X-Yimen-Chunk"
OFFSET_HEADER = "X-Yimen-Offset"


def put_proof(digest: str, offset: int, length: int) -> bytes:
    """What a put request's signature covers: the chunk, where its bytes start and how many
    there are, not the bytes themselves (they are checked by the chunk's hash). So the
    receiver verifies the sender before it reads anything, and keeps what came of a body
    cut short only for a sender it verified."""
    return f"chunk-put\0{digest}\0{offset}\0{length}".encode()
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

    def __init__(self, transport: HttpTransport, timeout: float = 120, partials: dict[str, bytes] | None = None):
        """`partials`: chunk hash -> bytes of it already received (kept between links by the
        caller; entries beyond MAX_PARTIALS are dropped, oldest first)."""
        self.t, self.timeout = transport, aiohttp.ClientTimeout(total=timeout)
        self.partials = partials if partials is not None else {}
        self.resume_at: dict[str, int] = {}  # what the peer kept of a chunk pushed before

    async def want(self, hashes: list[str]) -> tuple[list[str], list[str]]:
        """(lacks, gives) of `hashes` at the peer (at most MAX_HASHES at once)."""
        answer = await self.t.call("/v1/chunks/want", {"hashes": list(hashes)})
        partial = answer.get("partial", {})
        try:
            asked = set(hashes)
            lacks, gives = check_hashes(answer.get("lacks")), check_hashes(answer.get("gives"))
            if not (isinstance(partial, dict) and all(type(n) is int and 0 < n < MAX_CHUNK for n in partial.values())):
                raise wire.WireError("bad_request", "", "")
        except wire.WireError:
            raise wire.WireError("bad_request", "上级的应答格式错误", f"{self.t.peer} answered a malformed want")
        self.resume_at.update({h: n for h, n in partial.items() if h in asked})
        return [h for h in lacks if h in asked], [h for h in gives if h in asked]

    async def put(self, digest: str, data: bytes) -> bool:
        """Send one chunk (only its rest if the peer kept a part of it); True if the peer did
        not hold it before."""
        offset = self.resume_at.pop(digest, 0)
        headers = {CHUNK_HEADER: digest, "Content-Type": RAW_TYPE}
        try:
            if 0 < offset < len(data):
                raw = await self._post("/v1/chunks/put", data[offset:], {**headers, OFFSET_HEADER: str(offset)},
                                       proof=put_proof(digest, offset, len(data) - offset))
                return bool(wire.unpack(raw).get("stored"))
        except wire.WireError as e:
            if e.code not in ("resume_refused", "bad_chunk"):  # (a wrong part there: the whole again)
                raise
        raw = await self._post("/v1/chunks/put", data, headers, proof=put_proof(digest, 0, len(data)))
        return bool(wire.unpack(raw).get("stored"))

    async def get(self, digest: str) -> bytes | None:
        """One chunk from the peer, checked against its hash; None if the peer may give it
        but does not hold it yet."""
        got = bytearray(self.partials.pop(digest, b""))
        body = wire.pack({"protocol": wire.PROTOCOL, "hash": digest, "from": len(got)})
        try:
            await self._post("/v1/chunks/get", body, {}, got)
        except wire.WireError as e:
            if e.code == "chunk_not_here":
                return None
            raise
        except BaseException:
            self._keep(digest, bytes(got))
            raise
        if hashlib.sha256(got).hexdigest() != digest:
            raise BadChunk("上级发来的文件分块与其哈希不符", f"{self.t.peer} sent bytes that are not chunk {digest[:16]}…")
        return bytes(got)

    def _keep(self, digest: str, data: bytes) -> None:
        if data:
            self.partials[digest] = data
            while len(self.partials) > MAX_PARTIALS:
                self.partials.pop(next(iter(self.partials)))

    async def _post(self, path: str, body: bytes, extra: dict[str, str], into: bytearray | None = None,
                    proof: bytes | None = None) -> bytes:
        t = self.t
        signed = body if proof is None else proof
        headers = {**wire.sign_request(t.key, t.node_id, t.peer, "POST", path, signed), **extra}
        async with t.session.post(t.url + path, data=body, headers=headers, ssl=t.ssl, timeout=self.timeout) as resp:
            if resp.content_type == "application/json" and resp.status >= 400:
                raise answered(t.peer, resp.status, await resp.json())
            if resp.status >= 400:
                raise aiohttp.ClientResponseError(resp.request_info, resp.history, status=resp.status,
                                                  message=f"{t.url} is not a Yimen node ({resp.content_type})")
            out = into if into is not None else bytearray()
            await _bounded(resp, MAX_CHUNK, out)
            return bytes(out)


async def _bounded(resp: aiohttp.ClientResponse, limit: int, out: bytearray) -> None:
    """Append the answer's body to `out` as it comes (what came is kept if the link is cut),
    refused once `out` would pass `limit` bytes."""
    if len(out) + (resp.content_length or 0) > limit:
        raise wire.WireError("body_too_large", "上级的应答过大", f"the answer exceeds {limit} bytes")
    async for piece in resp.content.iter_chunked(1 << 16):
        out += piece
        if len(out) > limit:
            raise wire.WireError("body_too_large", "上级的应答过大", f"the answer exceeds {limit} bytes")
