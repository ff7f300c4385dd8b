"""Seals: a node's changes to documents of one scope, signed once.

Canonical bytes are a msgpack array built in a fixed order (no maps), compressed once by
the author; the bytes signed are the bytes stored and relayed (relays never recompress):

    body = zlib([PROTOCOL, author, seq, scope, flow, key_id, [[doc_id, kind, peer, start, end, blob], ...]])
    signature = Ed25519(SIGNING_CONTEXT + body)

Compression matters because every hub keeps every seal in its feed: Loro change bytes of
many similar cases compress to about a quarter.

`author` is the author node's region code, `seq` its per-author sequence number (growing),
`flow` how the documents flow (up, down, city-wide: see visibility), `key_id` which of the
author's keys signed it (`certs.key_id`: a node that rotated its key has several, and its
seals signed before the rotation stay valid). Each change is one Loro change span
`[start, end)` of one peer in one document. (Protocol 1 had a `down` flag and no key id.)

`decode` is where a received seal's fields meet their bounds, so that nothing later fails on
them (a failure there would fail a whole batch): integers a SQLite row holds (no bools),
region codes in a written form, well-formed document ids, a 64-byte signature, one whole
zlib stream. `check_sealable` keeps a node from saving a change no seal could carry.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.schema import region
from yimen.schema.region import InvalidRegionCode
from yimen.sync.certs import KEY_ID_BYTES, key_id as key_id_of
from yimen.sync.docs import KINDS
from yimen.sync.errors import SyncError
from yimen.sync.visibility import SPACE, UP

PROTOCOL = 2
SIGNING_CONTEXT = b"yimen/seal/v1\x00"
MAX_SEAL_BYTES = 256 * 1024
MAX_SEAL_CHANGES = 1000
# What a body may expand to: a seal of MAX_SEAL_BYTES of changes plus their framing (a few
# dozen bytes a change; see `sealing.chunks`).
MAX_EXPANDED = MAX_SEAL_BYTES + 64 * 1024
# One change travels in one seal, so its bytes are bounded like a seal's (see `check_sealable`).
MAX_CHANGE_BYTES = MAX_SEAL_BYTES
MAX_DOC_ID = 128
MAX_INT = 2**63 - 1  # seq, peer and counters are stored as SQLite integers (signed 64 bits)
SIGNATURE_BYTES = 64  # Ed25519


class BadSeal(SyncError):
    """A seal is malformed, forged or not allowed; it is quarantined, never imported."""

    code = "bad_seal"
    # what a seal refused by `decode` claims to be, when its header says so in range
    author: str | None = None
    seq: int | None = None


class Unsealable(SyncError):
    """An edit could not travel in a seal (too large, or its document id is malformed); it was not saved."""

    code = "unsealable_change"


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
    flow: int
    key_id: bytes
    changes: tuple[SealedChange, ...]
    body: bytes
    signature: bytes

    @property
    def down(self) -> bool:
        """Do its documents flow down as well as up (down or city-wide)?"""
        return self.flow != UP


def encode(author: str, seq: int, scope: str, flow: int, kid: bytes, changes: list[SealedChange]) -> bytes:
    rows = [[c.doc_id, c.kind, c.peer, c.start, c.end, c.blob] for c in changes]
    return zlib.compress(msgpack.packb([PROTOCOL, author, seq, scope, flow, kid, rows], use_bin_type=True), 6)


def sign(key: Ed25519PrivateKey, body: bytes) -> bytes:
    return key.sign(SIGNING_CONTEXT + body)


def make(key: Ed25519PrivateKey, author: str, seq: int, scope: str, flow: int,
         changes: list[SealedChange]) -> Seal:
    flow = int(flow)  # a bool says down or up
    kid = key_id_of(key.public_key().public_bytes_raw())
    body = encode(author, seq, scope, flow, kid, changes)
    return Seal(author, seq, scope, flow, kid, tuple(changes), body, sign(key, body))


def _bad(zh: str, en: str) -> BadSeal:
    return BadSeal(zh, en)


_NO_SPACE = re.compile(r"\S+")


def valid_doc_id(doc_id: object) -> bool:
    """A document id as nodes write them: 1..MAX_DOC_ID printable characters, no spaces
    (digests join ids with NUL, and a log line or a listing shows them as they are)."""
    return (type(doc_id) is str and 0 < len(doc_id) <= MAX_DOC_ID and doc_id.isprintable()
            and _NO_SPACE.fullmatch(doc_id) is not None)


def _int(v: object, low: int) -> bool:
    """An integer SQLite stores as it is (a bool is an int to Python, not here)."""
    return type(v) is int and low <= v <= MAX_INT


def _region(field: str, code: object) -> None:
    """`code` as a region code in one of its written forms (12 digits or the significant
    prefix), so that string comparisons of scopes and authors mean what they say."""
    if not isinstance(code, str):
        raise _bad("签封头部字段错误", "malformed seal header")
    try:
        ok = len(code) <= region.CODE_LEN and code in (region.normalize(code), region.prefix(code))
        reason_zh, reason_en = "写法不规范", "not in its 12-digit or prefix form"
    except InvalidRegionCode as e:
        ok, reason_zh, reason_en = False, e.zh, e.en
    if not ok:
        shown = code[:24] + ("…" if len(code) > 24 else "")
        raise _bad(f"签封的{'作者' if field == 'author' else '范围'} {shown} 不是区划代码：{reason_zh}",
                   f"seal {field} {shown!r} is not a region code: {reason_en}")


def _change(row: SealedChange) -> bool:
    # spelt out rather than through `_int`: it runs for every change received
    peer, start, end = row.peer, row.start, row.end
    return (type(peer) is int and type(start) is int and type(end) is int and 0 <= peer <= MAX_INT
            and 0 <= start < end <= MAX_INT and type(row.blob) is bytes and type(row.kind) is str
            and row.kind in KINDS and valid_doc_id(row.doc_id))


def _inflate(body: bytes) -> bytes:
    """The expanded body: bounded, one whole zlib stream and nothing after it."""
    inflate = zlib.decompressobj()
    raw = inflate.decompress(body, MAX_EXPANDED)
    if inflate.unconsumed_tail or not inflate.eof:
        raise ValueError("truncated or too large when expanded")
    if inflate.unused_data:
        raise ValueError("bytes after the compressed stream")
    return raw


def decode(body: bytes, signature: bytes) -> Seal:
    """Parse a seal's body (no signature check yet). Raises BadSeal if malformed or if any
    field is out of what a node writes and a receiver can store."""
    if type(body) is not bytes or len(body) > MAX_EXPANDED:
        raise _bad("签封过大或格式错误", "seal too large or not bytes")
    try:
        v, author, seq, scope, flow, kid, rows = msgpack.unpackb(_inflate(body), raw=False, strict_map_key=True)
        changes = tuple(SealedChange(*row) for row in rows)
    except (ValueError, TypeError, zlib.error, msgpack.UnpackException) as e:
        raise _bad("签封无法解析", f"malformed seal: {e}") from e
    try:
        _check(v, author, seq, scope, flow, kid, changes, signature)
    except BadSeal as e:  # the admin is told which seal it claims to be
        e.author = author if isinstance(author, str) and 0 < len(author) <= region.CODE_LEN else None
        e.seq = seq if _int(seq, 1) else None
        raise
    return Seal(author, seq, scope, flow, kid, changes, body, signature)


def _check(v: object, author: object, seq: object, scope: object, flow: object, kid: object,
           changes: tuple[SealedChange, ...], signature: object) -> None:
    if type(v) is not int or v != PROTOCOL:
        raise _bad(f"签封协议版本不支持：{v!r:.20}", f"unsupported seal protocol {v!r:.20}")
    if not (_int(seq, 1) and type(flow) is int and UP <= flow <= SPACE and type(kid) is bytes
            and len(kid) == KEY_ID_BYTES and type(signature) is bytes and len(signature) == SIGNATURE_BYTES):
        raise _bad("签封头部字段错误", "malformed seal header")
    _region("author", author)
    _region("scope", scope)
    if not changes or len(changes) > MAX_SEAL_CHANGES:
        raise _bad("签封变更数量不合规", f"a seal holds 1..{MAX_SEAL_CHANGES} changes")
    if not all(map(_change, changes)):
        raise _bad("签封中的变更格式错误", f"malformed change in seal {author}#{seq}")


def check_sealable(doc_id: str, change_bytes: int) -> None:
    """Refuse, before it is saved, an own change no receiver would take: every seal this
    node makes must decode (`decode`), and a change travels whole in one seal."""
    if not valid_doc_id(doc_id):
        raise Unsealable(f"文档编号 {doc_id[:40]!r} 格式错误，无法同步",
                         f"document id {doc_id[:40]!r} is malformed: it could not be replicated")
    if change_bytes > MAX_CHANGE_BYTES:
        raise Unsealable(
            f"这次修改过大（{change_bytes // 1024} KB，上限 {MAX_CHANGE_BYTES // 1024} KB），未保存；请分几次保存",
            f"this edit is too large to replicate ({change_bytes // 1024} KB, at most "
            f"{MAX_CHANGE_BYTES // 1024} KB); it was not saved: save it in smaller parts")


def verify(seal: Seal, public_key: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(seal.signature, SIGNING_CONTEXT + seal.body)
    except (InvalidSignature, ValueError) as e:
        raise _bad(f"签封 {seal.author}#{seal.seq} 签名无效", f"bad signature on seal {seal.author}#{seal.seq}") from e
