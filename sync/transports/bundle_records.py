"""The records of a decrypted bundle, checked as they stream past (see `bundle` for the format)."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import msgpack

from yimen.sync.positions import is_count, valid_numbers
from yimen.sync.errors import SyncError
from yimen.sync.store.chunks import MAX_CHUNK

PROTOCOL = 3  # 3: chunk records after the batches, `wanted` in the header
READABLE = (2, 3)  # a bundle of protocol 2 (no files) is still read
MAX_BUNDLE_BYTES = 512 * 1024 * 1024  # of the records (the file is larger by age's framing)
# One record: a batch is bounded by the engine (1 MiB plus at most one seal past it).
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_SEALS_PER_BATCH = 100_000
# The end record holds two counts and a 64-byte signature: well under this many bytes.
END_RECORD_MAX = 256

MAX_WANTED = 50_000  # chunk hashes a header asks for (3.3 MB of hex)

HEADER_KEYS = frozenset({"protocol", "from", "to", "created_at", "ack"})
# "space": on-demand space documents (a child's request, a parent's answer seals): a map
# the node's bundle service reads (`yimen.node.services.space_delivery`); "wanted": the file
# chunks the sender lacks (`yimen.node.services.bundle_files`)
OPTIONAL_HEADER_KEYS = frozenset({"last_seal", "numbers", "rewind", "space", "wanted"})
BATCH_KEYS = frozenset({"start", "next", "seals"})
CHUNK_KEYS = frozenset({"chunk"})
END_KEYS = frozenset({"batches", "seals", "signature"})  # and "chunks" (a count) when any were written


class BadBundle(SyncError):
    """A bundle file is damaged, truncated, forged, not for this node or not a Yimen bundle; nothing was imported."""

    code = "bad_bundle"


def bad(zh: str, en: str) -> BadBundle:
    return BadBundle(f"数据包无效：{zh}", f"bad bundle: {en}")


def too_large() -> BadBundle:
    return bad(f"超过 {MAX_BUNDLE_BYTES} 字节上限", f"larger than {MAX_BUNDLE_BYTES} bytes")


class Records:
    """The decrypted records as pyrage writes them (`decrypt_io` pushes): bounded and
    checked in order as they pass, each batch handed to `on_batch` once the next record
    shows it is not the end. Keeps the digest of everything (`whole`) and, `END_RECORD_MAX`
    bytes behind, the digest the signature covers."""

    def __init__(self, prefix: bytes, on_batch: Callable[[dict[str, Any]], None] | None,
                 on_chunk: Callable[[bytes], None] | None = None):
        self.on_batch, self.on_chunk = on_batch, on_chunk
        self.whole, self.signed = hashlib.sha256(prefix), hashlib.sha256(prefix)
        self.tail, self.tail_at, self.size = b"", 0, 0  # bytes not yet in `signed`, and from where
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_RECORD_BYTES,
                                         max_array_len=MAX_SEALS_PER_BATCH, max_map_len=16,
                                         max_str_len=1024, max_ext_len=0)
        self.before = 0  # where the last whole record ended
        self.first: Any = None
        self.header: dict[str, Any] | None = None
        self.last: Any = None
        self.last_start = self.n_batches = self.n_seals = self.n_chunks = 0
        self.previous: int | None = None

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self.size += len(data)
        if self.size > MAX_BUNDLE_BYTES:
            raise too_large()
        self.whole.update(data)
        tail = self.tail + data
        cut = max(0, len(tail) - END_RECORD_MAX)
        self.signed.update(tail[:cut])
        self.tail, self.tail_at = tail[cut:], self.tail_at + cut
        try:
            self.unpacker.feed(data)
        except msgpack.BufferFull:
            raise bad(f"单条记录超过 {MAX_RECORD_BYTES} 字节上限",
                       f"a record is larger than {MAX_RECORD_BYTES} bytes") from None
        while (record := self._next()) is not _NONE:
            self._take(record, self.before)
            self.before = self.unpacker.tell()
        return len(data)

    def flush(self) -> None:
        pass

    def _next(self) -> Any:
        try:
            return next(self.unpacker)
        except StopIteration:
            return _NONE
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise bad("记录无法解析", f"malformed record: {e}") from e

    def _take(self, record: Any, start: int) -> None:
        if self.first is None:
            self.first = record
            return
        if self.header is None:  # a header is only a header if a record follows it
            check_header(self.first)
            self.header = self.first
        if self.last is not None:  # not the last record, so a batch or a chunk
            self._middle(self.last)
        self.last, self.last_start = record, start

    def _middle(self, record: Any) -> None:
        if isinstance(record, dict) and set(record) == CHUNK_KEYS:
            check_chunk(record, self.header["protocol"])
            self.n_chunks += 1
            if self.on_chunk is not None:
                self.on_chunk(record["chunk"])
            return
        if self.n_chunks:
            raise bad("文件分块之后不能再有批次", "a batch after the file chunks")
        check_batch(record, self.previous)
        self.previous = record["next"]
        self.n_batches += 1
        self.n_seals += len(record["seals"])
        if self.on_batch is not None:
            self.on_batch(record)

    def finish(self) -> tuple[dict[str, Any], dict[str, Any], int]:
        """The header, the end record and where it starts, once everything is decrypted."""
        # `tell()` also counts a partly read record, so compare where the last whole one ended.
        if self.before != self.size:
            raise bad("结尾有不完整的记录", "an incomplete record at the end")
        end = self.last
        if self.header is None or end is None:
            raise bad("缺少头部或结束记录", "missing header or end record")
        if not (isinstance(end, dict) and END_KEYS <= set(end) <= END_KEYS | {"chunks"} and is_count(end["batches"])
                and is_count(end["seals"]) and is_count(end.get("chunks", 0))
                and isinstance(end["signature"], bytes) and len(end["signature"]) == 64):
            raise bad("结束记录格式错误", "malformed end record")
        if end["batches"] != self.n_batches or end["seals"] != self.n_seals or end.get("chunks", 0) != self.n_chunks:
            raise bad("结束记录中的计数与内容不符", "the end record's counts do not match the content")
        return self.header, end, self.last_start

    def signed_digest(self, end_start: int) -> bytes:
        """The digest of the envelope and the records before `end_start`."""
        if end_start < self.tail_at:
            raise bad("结束记录格式错误", "malformed end record")
        h = self.signed.copy()
        h.update(self.tail[:end_start - self.tail_at])
        return h.digest()


_NONE = object()


def check_version(v: Any) -> None:
    if not (type(v) is int and v in READABLE):
        raise bad(f"协议版本 {v!r} 不受支持（本节点支持 {PROTOCOL}）",
                   f"unsupported protocol {v!r} (this node speaks {PROTOCOL})")


def _wanted(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= MAX_WANTED and all(
        type(h) is str and len(h) == 64 and all(c in "0123456789abcdef" for c in h) for h in v)


def check_chunk(record: dict[str, Any], protocol: int) -> None:
    if protocol < 3 or not (isinstance(record["chunk"], bytes) and len(record["chunk"]) <= MAX_CHUNK):
        raise bad("文件分块记录格式错误", "malformed chunk record")


def check_header(header: Any) -> None:
    if isinstance(header, dict) and "protocol" in header:
        check_version(header["protocol"])
    if not (isinstance(header, dict) and HEADER_KEYS <= set(header) <= HEADER_KEYS | OPTIONAL_HEADER_KEYS
            and all(isinstance(header[k], str) and 0 < len(header[k]) <= 64 for k in ("from", "to", "created_at"))
            and is_count(header["ack"]) and is_count(header.get("last_seal", 0))
            and valid_numbers(header.get("numbers", {})) and isinstance(header.get("rewind", False), bool)
            and isinstance(header.get("space", {}), dict) and _wanted(header.get("wanted", []))):
        raise bad("头部记录格式错误", "malformed header record")


def check_batch(b: Any, previous: int | None) -> None:
    if not (isinstance(b, dict) and set(b) == BATCH_KEYS and is_count(b["start"]) and is_count(b["next"])
            and b["next"] >= b["start"] and isinstance(b["seals"], list)
            and all(isinstance(s, list) and len(s) == 2 and isinstance(s[0], bytes) and isinstance(s[1], bytes)
                    for s in b["seals"])):
        raise bad("批次记录格式错误", "malformed batch record")
    if previous is not None and b["start"] != previous:
        raise bad("批次不连续", f"batches are not contiguous ({b['start']} after {previous})")
