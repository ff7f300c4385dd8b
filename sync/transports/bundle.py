"""Bundle files: the engine's batches carried on a USB stick instead of a link.

A bundle is written by one node for one other node. The file is

    MAGIC                          b"YIMENBUNDLE\\x00"
    header record                  {"protocol": 1, "from": node_id, "to": node_id,
                                    "created_at": iso time, "ack": int,
                                    "last_seal": int, "numbers": {str: int}, "rewind": bool}
    batch record, ...              {"start": int, "next": int, "seals": [[body, sig], ...]}
    end record                     {"batches": int, "seals": int, "signature": bytes}
    trailer                        SHA-256 of every byte before it (32 bytes)

Records are msgpack maps, one after the other (msgpack frames itself). Batches are
contiguous: each starts where the one before it ended (`start` of the first is what the
sender believes the recipient holds). `ack` is how far the sender holds the recipient's
feed: the acknowledgement travelling back; `last_seal` and `numbers` what it holds of the
recipient's own numbering (the highest seal number, the highest document number per
series: a node restored from an older copy continues after them); `rewind` that the
first batch restates the sender's feed from its `start` (see `yimen.sync.positions`).
These three may be missing (a bundle from an older Yimen) and are then not told.
`created_at` orders the bundles of one sender (microseconds): an older one's `ack` never
moves a position back.

The end record's `signature` is the sender's Ed25519 signature over
`SIGNING_CONTEXT + SHA-256(MAGIC .. last batch record)`. Seals are signed one by one by
their authors, but the header (`from`, `ack`) and the batch positions are not; without the
bundle signature anyone with a USB stick could make a node believe its peer holds
everything (a forged `ack`) or skip a stretch of the peer's feed (a forged `next`).

`read_bundle` checks, in this order and before returning anything: size bound, magic,
trailer checksum, record structure and sizes, protocol version, then the signature. Any
failure is `BadBundle` with one sentence in each language. It keeps no seal in memory:
the batches are read again, one at a time, as the import goes (see `Batches`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.sync.engine import Batch
from yimen.sync.errors import SyncError
from yimen.sync.positions import is_count, valid_numbers
from yimen.schema.errors import os_reason

MAGIC = b"YIMENBUNDLE\x00"
PROTOCOL = 1
SIGNING_CONTEXT = b"yimen/bundle/v1\x00"
TRAILER_BYTES = 32
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
# One record: a batch is bounded by the engine (1 MiB plus at most one seal past it).
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_SEALS_PER_BATCH = 100_000
_CHUNK = 1 << 16

HEADER_KEYS = frozenset({"protocol", "from", "to", "created_at", "ack"})
OPTIONAL_HEADER_KEYS = frozenset({"last_seal", "numbers", "rewind"})
BATCH_KEYS = frozenset({"start", "next", "seals"})
END_KEYS = frozenset({"batches", "seals", "signature"})

SenderKey = Callable[[dict[str, Any]], "bytes | None"]


class BadBundle(SyncError):
    """A bundle file is damaged, truncated, forged or not a Yimen bundle; nothing was imported."""

    code = "bad_bundle"


class BundleIOError(SyncError):
    """A bundle file could not be read or written (missing folder, full or removed stick)."""

    code = "bundle_io"


def _bad(zh: str, en: str) -> BadBundle:
    return BadBundle(f"数据包无效：{zh}", f"bad bundle: {en}")


# -- writing -------------------------------------------------------------------------------
def write_bundle(path: Path | str, header: dict[str, Any], batches: Iterable[Batch],
                 key: Ed25519PrivateKey) -> dict[str, int]:
    """Write a bundle atomically (temp file, fsync, rename) and sign it with the sender's
    `key`. `batches` may be a generator: they are written as they come. Returns counts."""
    path = Path(path)
    _check_header(header)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                counts = _write(f, header, batches, key)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        raise BundleIOError(f"无法写入数据包 {path}：{os_reason(e)[0]}", f"cannot write bundle {path}: {os_reason(e)[1]}") from e
    _fsync_dir(path.parent)
    return counts


def _write(f, header: dict[str, Any], batches: Iterable[Batch], key: Ed25519PrivateKey) -> dict[str, int]:
    digest = hashlib.sha256()
    written = 0

    def put(data: bytes) -> None:
        nonlocal written
        written += len(data)
        if written + TRAILER_BYTES > MAX_BUNDLE_BYTES:
            raise _bad(f"超过 {MAX_BUNDLE_BYTES} 字节上限", f"larger than {MAX_BUNDLE_BYTES} bytes")
        digest.update(data)
        f.write(data)

    put(MAGIC)
    put(_pack(dict(header)))
    n_batches = n_seals = 0
    previous: int | None = None
    for b in batches:
        if previous is not None and b.start != previous:
            raise ValueError(f"batches must be contiguous: {b.start} after {previous}")
        if len(b.seals) > MAX_SEALS_PER_BATCH:
            raise ValueError(f"a batch may hold at most {MAX_SEALS_PER_BATCH} seals")
        previous = b.next
        put(_pack({"start": b.start, "next": b.next, "seals": [[body, sig] for body, sig in b.seals]}))
        n_batches += 1
        n_seals += len(b.seals)
    signature = key.sign(SIGNING_CONTEXT + digest.digest())
    put(_pack({"batches": n_batches, "seals": n_seals, "signature": signature}))
    trailer = digest.digest()
    f.write(trailer)
    return {"bytes": written + len(trailer), "batches": n_batches, "seals": n_seals}


def _pack(record: dict[str, Any]) -> bytes:
    data = msgpack.packb(record, use_bin_type=True)
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError(f"a bundle record may hold at most {MAX_RECORD_BYTES} bytes, not {len(data)}")
    return data


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (not possible on every platform or file system)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading -------------------------------------------------------------------------------
# The end record holds two counts and a 64-byte signature: well under this many bytes.
END_RECORD_MAX = 256


class Batches:
    """The batches of a verified bundle, read from the file again batch by batch as they
    are iterated (memory holds one batch, whatever the bundle's size). The second reading
    is checksummed too: if the file changed since it was verified, iteration ends with
    BadBundle, so an import inside one transaction writes nothing."""

    def __init__(self, path: Path, sender: str, count: int, seals: int, digest: bytes):
        self.path, self.sender, self.count, self.seals, self.digest = path, sender, count, seals, digest

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Batch]:
        try:
            with open(self.path, "rb") as f:
                h = hashlib.sha256()
                h.update(_read_exactly(f, len(MAGIC)))
                size = os.fstat(f.fileno()).st_size
                previous = None
                for i, (record, _) in enumerate(_records(f, size - TRAILER_BYTES - len(MAGIC), h)):
                    if 0 < i <= self.count:
                        _check_batch(record, previous)
                        previous = record["next"]
                        yield Batch(self.sender, record["start"], record["next"], [(b, s) for b, s in record["seals"]])
        except OSError as e:
            raise BundleIOError(f"无法读取数据包 {self.path}：{os_reason(e)[0]}", f"cannot read bundle {self.path}: {os_reason(e)[1]}") from e
        if h.digest() != self.digest:
            raise _bad("数据包在读取期间被改动", "the bundle changed while it was being read")


def read_bundle(path: Path | str, sender_key: SenderKey) -> tuple[dict[str, Any], Batches]:
    """Verify a whole bundle (one streaming pass). `sender_key(header)` returns the
    sender's raw Ed25519 public key (or None if unknown); it may also raise to refuse the
    header. Returns the header and the batches (each with `sender` = the header's `from`),
    read again from the file as they are iterated."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_BUNDLE_BYTES:
                raise _bad(f"文件超过 {MAX_BUNDLE_BYTES} 字节上限", f"file larger than {MAX_BUNDLE_BYTES} bytes")
            if not MAGIC.startswith(f.read(len(MAGIC))):  # a short prefix of it is "truncated"
                raise _bad("不是一门（Yimen）数据包文件", "not a Yimen bundle file (wrong magic)")
            if size < len(MAGIC) + TRAILER_BYTES:
                raise _bad("文件不完整（过短）", "file is truncated (too short)")
            body_end = size - TRAILER_BYTES
            tail_start = max(0, body_end - END_RECORD_MAX)
            at_tail, tail, digest = _checksum(f, tail_start, body_end)
            f.seek(len(MAGIC))
            header, end, end_start, batches = _structure(_records(f, body_end - len(MAGIC)))
    except OSError as e:
        raise BundleIOError(f"无法读取数据包 {path}：{os_reason(e)[0]}", f"cannot read bundle {path}: {os_reason(e)[1]}") from e
    end_start += len(MAGIC)
    if end_start < tail_start:
        raise _bad("结束记录格式错误", "malformed end record")
    at_tail.update(tail[:end_start - tail_start])
    _verify(header, end["signature"], at_tail.digest(), sender_key)
    return header, Batches(path, header["from"], batches, end["seals"], digest)


def _read_exactly(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _bad("读取时文件变短", "the file shrank while being read")
    return data


def _checksum(f, tail_start: int, body_end: int) -> tuple[Any, bytes, bytes]:
    """Check the trailer. Returns the hash state at `tail_start` and the bytes from there
    to the trailer, from which the signed digest is finished without a second pass, and
    the trailer itself."""
    f.seek(0)
    h, pos = hashlib.sha256(), 0
    while pos < tail_start:
        chunk = _read_exactly(f, min(_CHUNK, tail_start - pos))
        h.update(chunk)
        pos += len(chunk)
    at_tail = h.copy()
    tail = _read_exactly(f, body_end - tail_start)
    h.update(tail)
    trailer = _read_exactly(f, TRAILER_BYTES)
    if h.digest() != trailer:
        raise _bad("校验和不符，文件已损坏或不完整", "checksum mismatch: the file is damaged or truncated")
    return at_tail, tail, trailer


def _records(f, length: int, digest: Any = None) -> Iterator[tuple[Any, int]]:
    """Each msgpack record of the body with the offset before it (bounded sizes); the
    bytes read also go into `digest`."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_RECORD_BYTES,
                                max_array_len=MAX_SEALS_PER_BATCH, max_map_len=16,
                                max_str_len=1024, max_ext_len=0)
    pos = before = 0
    try:
        while pos < length:
            chunk = _read_exactly(f, min(_CHUNK, length - pos))
            pos += len(chunk)
            if digest is not None:
                digest.update(chunk)
            unpacker.feed(chunk)
            for record in unpacker:
                yield record, before
                before = unpacker.tell()
    except msgpack.BufferFull:
        raise _bad(f"单条记录超过 {MAX_RECORD_BYTES} 字节上限",
                   f"a record is larger than {MAX_RECORD_BYTES} bytes") from None
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise _bad("记录无法解析", f"malformed record: {e}") from e
    # `tell()` also counts a partly read record, so compare where the last whole one ended.
    if before != length:
        raise _bad("结尾有不完整的记录", "an incomplete record at the end")


def _verify(header: dict[str, Any], signature: bytes, signed: bytes, sender_key: SenderKey) -> None:
    key = sender_key(header)
    if key is None:
        raise _bad(f"发送节点 {header['from']} 的公钥未知", f"the sender {header['from']} is not a known node")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, SIGNING_CONTEXT + signed)
    except (InvalidSignature, ValueError) as e:
        raise _bad(f"签名无效，可能被篡改或并非来自 {header['from']}",
                   f"bad signature: tampered with or not from {header['from']}") from e


def _structure(records: Iterator[tuple[Any, int]]) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """Check the records as they stream past, keeping none of the seals: returns the
    header, the end record, where the end record starts and the number of batches."""
    first = header = last = None
    last_start = n_batches = n_seals = 0
    previous: int | None = None
    for record, start in records:
        if first is None:
            first = record
            continue
        if header is None:  # a header is only a header if a record follows it
            _check_header(first)
            header = first
        if last is not None:  # not the last record, so a batch
            _check_batch(last, previous)
            previous = last["next"]
            n_batches += 1
            n_seals += len(last["seals"])
        last, last_start = record, start
    end, end_start = last, last_start
    if header is None or end is None:
        raise _bad("缺少头部或结束记录", "missing header or end record")
    if not (isinstance(end, dict) and set(end) == END_KEYS and is_count(end["batches"]) and is_count(end["seals"])
            and isinstance(end["signature"], bytes) and len(end["signature"]) == 64):
        raise _bad("结束记录格式错误", "malformed end record")
    if end["batches"] != n_batches or end["seals"] != n_seals:
        raise _bad("结束记录中的计数与内容不符", "the end record's counts do not match the content")
    return header, end, end_start, n_batches


def _check_header(header: Any) -> None:
    if isinstance(header, dict) and "protocol" in header and \
            not (type(header["protocol"]) is int and header["protocol"] == PROTOCOL):
        v = header["protocol"]
        raise _bad(f"协议版本 {v!r} 不受支持（本节点支持 {PROTOCOL}）",
                   f"unsupported protocol {v!r} (this node speaks {PROTOCOL})")
    if not (isinstance(header, dict) and HEADER_KEYS <= set(header) <= HEADER_KEYS | OPTIONAL_HEADER_KEYS
            and all(isinstance(header[k], str) and 0 < len(header[k]) <= 64 for k in ("from", "to", "created_at"))
            and is_count(header["ack"]) and is_count(header.get("last_seal", 0))
            and valid_numbers(header.get("numbers", {})) and isinstance(header.get("rewind", False), bool)):
        raise _bad("头部记录格式错误", "malformed header record")


def _check_batch(b: Any, previous: int | None) -> None:
    if not (isinstance(b, dict) and set(b) == BATCH_KEYS and is_count(b["start"]) and is_count(b["next"])
            and b["next"] >= b["start"] and isinstance(b["seals"], list)
            and all(isinstance(s, list) and len(s) == 2 and isinstance(s[0], bytes) and isinstance(s[1], bytes)
                    for s in b["seals"])):
        raise _bad("批次记录格式错误", "malformed batch record")
    if previous is not None and b["start"] != previous:
        raise _bad("批次不连续", f"batches are not contiguous ({b['start']} after {previous})")
