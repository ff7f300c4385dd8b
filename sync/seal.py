"""Seals: a node's changes to documents of one scope, signed once.

Canonical bytes are a msgpack array built in a fixed order (no maps), compressed once by
the author; the bytes signed are the bytes stored and relayed (relays never recompress):

    body = zlib([PROTOCOL, author, seq, scope, down, [[doc_id, kind, peer, start, end, blob], ...]])
    signature = Ed25519(SIGNING_CONTEXT + body)

Compression matters because every hub keeps every seal in its feed: Loro change bytes of
many similar cases compress to about a quarter.

`author` is the author node's region code, `seq` its per-author sequence number (1, 2, ...),
`down` whether the documents flow down (see visibility). Each change is one Loro change span
`[start, end)` of one peer in one document.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.sync.docs import KINDS
from yimen.sync.errors import SyncError

PROTOCOL = 1
SIGNING_CONTEXT = b"yimen/seal/v1\x00"
MAX_SEAL_BYTES = 256 * 1024
MAX_SEAL_CHANGES = 1000


class BadSeal(SyncError):
    """A seal is malformed, forged or not allowed; it is quarantined, never imported."""

    code = "bad_seal"


@dataclass(frozen=True)
class SealedChange:
    doc_id: str
    kind: str
    peer: int
    start: int
    end: int
    blob: bytes


@dataclass(frozen=True)
class Seal:
    author: str
    seq: int
    scope: str
    down: bool
    changes: tuple[SealedChange, ...]
    body: bytes
    signature: bytes


def encode(author: str, seq: int, scope: str, down: bool, changes: list[SealedChange]) -> bytes:
    rows = [[c.doc_id, c.kind, c.peer, c.start, c.end, c.blob] for c in changes]
    return zlib.compress(msgpack.packb([PROTOCOL, author, seq, scope, down, rows], use_bin_type=True), 6)


def sign(key: Ed25519PrivateKey, body: bytes) -> bytes:
    return key.sign(SIGNING_CONTEXT + body)


def make(key: Ed25519PrivateKey, author: str, seq: int, scope: str, down: bool,
         changes: list[SealedChange]) -> Seal:
    body = encode(author, seq, scope, down, changes)
    return Seal(author, seq, scope, down, tuple(changes), body, sign(key, body))


def _bad(zh: str, en: str) -> BadSeal:
    return BadSeal(zh, en)


def decode(body: bytes, signature: bytes) -> Seal:
    """Parse a seal's body (no signature check yet). Raises BadSeal if malformed."""
    if not isinstance(body, bytes) or len(body) > MAX_SEAL_BYTES + 64 * 1024:
        raise _bad("签封过大或格式错误", "seal too large or not bytes")
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(body, MAX_SEAL_BYTES + 64 * 1024)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("truncated or too large when expanded")
        v, author, seq, scope, down, rows = msgpack.unpackb(raw, raw=False, strict_map_key=True)
        changes = tuple(SealedChange(*row) for row in rows)
    except (ValueError, TypeError, zlib.error, msgpack.UnpackException) as e:
        raise _bad("签封无法解析", f"malformed seal: {e}") from e
    if v != PROTOCOL:
        raise _bad(f"签封协议版本不支持：{v}", f"unsupported seal protocol {v!r}")
    if not (isinstance(author, str) and isinstance(scope, str) and isinstance(seq, int)
            and seq >= 1 and isinstance(down, bool) and isinstance(signature, bytes)):
        raise _bad("签封头部字段错误", "malformed seal header")
    if not changes or len(changes) > MAX_SEAL_CHANGES:
        raise _bad("签封变更数量不合规", f"a seal holds 1..{MAX_SEAL_CHANGES} changes")
    for c in changes:
        if not (isinstance(c.doc_id, str) and c.kind in KINDS and isinstance(c.peer, int)
                and isinstance(c.start, int) and isinstance(c.end, int) and 0 <= c.start < c.end
                and isinstance(c.blob, bytes)):
            raise _bad("签封中的变更格式错误", f"malformed change in seal {author}#{seq}")
    return Seal(author, seq, scope, down, changes, body, signature)


def verify(seal: Seal, public_key: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(seal.signature, SIGNING_CONTEXT + seal.body)
    except (InvalidSignature, ValueError) as e:
        raise _bad(f"签封 {seal.author}#{seal.seq} 签名无效", f"bad signature on seal {seal.author}#{seal.seq}") from e
