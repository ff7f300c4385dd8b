"""Bundle files: the engine's batches carried on a USB stick instead of a link.

A bundle is written by one node for one other node: signed by its sender, then encrypted
to its recipient's age X25519 key (`pyrage`, the age format), so whoever finds the stick
learns who wrote it for whom and nothing else. The file is

    MAGIC                          b"YIMENBUNDLE\\x00"
    envelope (readable)            {"protocol": 3, "from": node_id, "to": node_id}
    age file, to the recipient, of
        header record              {"protocol": 3, "from": node_id, "to": node_id,
                                    "created_at": iso time, "ack": int,
                                    "last_seal": int, "numbers": {str: int}, "rewind": bool,
                                    "wanted": [chunk sha256 hex, ...]}
        batch record, ...          {"start": int, "next": int, "seals": [[body, sig], ...]}
        chunk record, ...          {"chunk": bytes}   (a file chunk, after every batch)
        end record                 {"batches": int, "seals": int, "chunks": int, "signature": bytes}

Protocol 3 added the chunk records (the files of space documents: each named by the
SHA-256 of its bytes, so a record needs no name, and what may be stored is the importer's
rule: a chunk a document it holds lists) and the header's `wanted` (the chunks the sender
lacks: the recipient's next bundle carries those it may give). A protocol 2 bundle (no
chunks, no `wanted`, no `chunks` count) is still read.

The envelope holds only what a node needs to refuse a bundle before decrypting it: the
version and the two region codes; the header repeats them and must match. Records are
msgpack maps, one after the other (msgpack frames itself). Batches are contiguous: each
starts where the one before it ended (`start` of the first is what the sender believes the
recipient holds). `ack` is how far the sender holds the recipient's feed: the
acknowledgement travelling back; `last_seal` and `numbers` what it holds of the
recipient's own numbering (the highest seal number, the highest document number per
series: a node restored from an older copy continues after them); `rewind` that the first
batch restates the sender's feed from its `start` (see `yimen.sync.positions`). These three
may be missing and are then not told. `created_at` orders the bundles of one sender
(microseconds): an older one's `ack` never moves a position back.

Sign, then encrypt. The end record's `signature` is the sender's Ed25519 signature over
`SIGNING_CONTEXT + SHA-256(MAGIC, envelope, every record before the end record)`. Seals are
signed one by one by their authors, but the header (`from`, `ack`) and the batch positions
are not, and age authenticates only the ciphertext, not who wrote it (anyone may encrypt
to a public key): without the bundle signature anyone could make a node believe its peer
holds everything (a forged `ack`) or skip a stretch of the peer's feed (a forged `next`).
age's own chunk authentication makes any changed or cut byte of the ciphertext fail to
decrypt, so no checksum of our own is needed.

`read_bundle` checks, in this order and before returning anything: size bound, magic,
envelope (form, version), `sender_key` (the recipient, a known sender: a bundle for another
node is refused before any decryption), decryption with the node's identity (another
node's key, a damaged or cut file), the records as they are decrypted (structure, sizes,
the header matching the envelope), then the signature. Any failure is `BadBundle` with one
sentence in each language. It keeps no seal in memory: the file is decrypted again, one
batch at a time, as the import goes (see `Batches`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import msgpack
import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyrage import x25519

from yimen.sync.engine import Batch
from yimen.sync.errors import SyncError
from yimen.sync.transports.bundle_records import (MAX_BUNDLE_BYTES, MAX_RECORD_BYTES, MAX_SEALS_PER_BATCH, PROTOCOL,
                                                  BadBundle, Records, bad,
                                                  check_header, check_version, too_large)
from yimen.schema.errors import os_reason

MAGIC = b"YIMENBUNDLE\x00"
SIGNING_CONTEXT = b"yimen/bundle/v2\x00"
AGE_ROOM = 1 << 20  # age adds 16 bytes per 64 KiB chunk and a header of a few hundred bytes
MAX_ENVELOPE_BYTES = 4096  # the envelope is ~50 bytes; an older Yimen's header is read as far
ENVELOPE_KEYS = frozenset({"protocol", "from", "to"})

SenderKey = Callable[[dict[str, Any]], "bytes | None"]


class BundleIOError(SyncError):
    """A bundle file could not be read or written (missing folder, full or removed stick)."""

    code = "bundle_io"


# -- writing -------------------------------------------------------------------------------
def write_bundle(path: Path | str, header: dict[str, Any], batches: Iterable[Batch],
                 key: Ed25519PrivateKey, recipient: str, chunks: Iterable[bytes] = ()) -> dict[str, int]:
    """Write a bundle atomically (a 0600 temp file, fsync, rename), signed with the
    sender's `key` and encrypted to `recipient` (an age X25519 recipient, `age1...`).
    `batches`, then `chunks` (file chunks' bytes), may be generators: they are encrypted and
    written as they come. Returns counts."""
    path = Path(path)
    check_header(header)
    to = x25519.Recipient.from_str(recipient)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                counts = _write(f, header, batches, key, to, chunks)
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


class _Plaintext:
    """The records as a file that pyrage reads (`encrypt_io` pulls what it encrypts): the
    generator's chunks, handed out as asked. pyrage wraps what `read` raises in its own
    error, so the original is kept here for the writer to raise."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.left, self.error = chunks, memoryview(b""), None

    def read(self, n: int = -1) -> bytes:
        try:
            while not self.left:
                self.left = memoryview(next(self.chunks))  # (slices of a view copy nothing)
        except StopIteration:
            return b""
        except BaseException as e:
            self.error = e
            raise
        n = len(self.left) if n < 0 else n
        out, self.left = self.left[:n], self.left[n:]
        return bytes(out)


def _write(f, header: dict[str, Any], batches: Iterable[Batch], key: Ed25519PrivateKey,
           to: x25519.Recipient, chunks: Iterable[bytes]) -> dict[str, int]:
    prefix = MAGIC + _pack({"protocol": header["protocol"], "from": header["from"], "to": header["to"]})
    f.write(prefix)
    counts = {"batches": 0, "seals": 0, "chunks": 0}
    plain = _Plaintext(_records(prefix, header, batches, key, counts, chunks))
    try:
        pyrage.encrypt_io(plain, f, [to])
    except pyrage.EncryptError:
        if plain.error is not None:
            raise plain.error from None
        raise
    return {"bytes": f.tell(), **counts}


def _records(prefix: bytes, header: dict[str, Any], batches: Iterable[Batch], key: Ed25519PrivateKey,
             counts: dict[str, int], chunks: Iterable[bytes] = ()) -> Iterator[bytes]:
    """The packed records, the end record signed over everything before it."""
    digest = hashlib.sha256(prefix)
    written = 0

    def put(data: bytes) -> bytes:
        nonlocal written
        written += len(data)
        if written > MAX_BUNDLE_BYTES:
            raise too_large()
        digest.update(data)
        return data

    yield put(_pack(dict(header)))
    previous: int | None = None
    for b in batches:
        if previous is not None and b.start != previous:
            raise ValueError(f"batches must be contiguous: {b.start} after {previous}")
        if len(b.seals) > MAX_SEALS_PER_BATCH:
            raise ValueError(f"a batch may hold at most {MAX_SEALS_PER_BATCH} seals")
        previous = b.next
        yield put(_pack({"start": b.start, "next": b.next, "seals": [[body, sig] for body, sig in b.seals]}))
        counts["batches"] += 1
        counts["seals"] += len(b.seals)
    for data in chunks:
        yield put(_pack({"chunk": data}))
        counts["chunks"] += 1
    signature = key.sign(SIGNING_CONTEXT + digest.digest())
    end = {"batches": counts["batches"], "seals": counts["seals"], "signature": signature}
    if counts["chunks"]:
        end["chunks"] = counts["chunks"]
    yield put(_pack(end))


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
class Batches:
    """The batches of a verified bundle, decrypted from the file again batch by batch as
    `each` hands them on (memory holds one batch, whatever the bundle's size). The second
    reading is hashed too: if the file changed since it was verified, `each` ends with
    BadBundle, so an import inside one transaction writes nothing."""

    def __init__(self, path: Path, sender: str, count: int, seals: int, digest: bytes,
                 identity: x25519.Identity, chunks: int = 0):
        self.path, self.sender, self.count, self.seals, self.digest = path, sender, count, seals, digest
        self.identity, self.chunks = identity, chunks

    def __len__(self) -> int:
        return self.count

    def each(self, take: Callable[[Batch], Any] | None, take_chunk: Callable[[bytes], Any] | None = None) -> None:
        """Call `take` on every batch, then `take_chunk` on every file chunk, in order."""
        def batch(record: dict[str, Any]) -> None:
            if take is not None:
                take(Batch(self.sender, record["start"], record["next"], [(b, s) for b, s in record["seals"]]))
        records = _open(self.path, lambda envelope: None, self.identity, batch, take_chunk)[1]
        if records.whole.digest() != self.digest:
            raise bad("数据包在读取期间被改动", "the bundle changed while it was being read")


def read_bundle(path: Path | str, sender_key: SenderKey,
                identity: x25519.Identity) -> tuple[dict[str, Any], Batches]:
    """Verify a whole bundle (one streaming pass), decrypting it with this node's
    `identity`. `sender_key(envelope)` (the readable `from` and `to`) returns the sender's
    raw Ed25519 public key, or None if unknown; it may also raise to refuse the bundle
    before it is decrypted. Returns the header and the batches (each with `sender` = the
    header's `from`), decrypted again from the file as they are taken."""
    path = Path(path)
    keys: list[bytes | None] = []
    envelope, records = _open(path, lambda envelope: keys.append(sender_key(envelope)), identity)
    header, end, end_start = records.finish()
    if any(header[k] != envelope[k] for k in ("from", "to", "protocol")):
        raise bad("封面与内容中的节点不符", "the envelope's nodes do not match the header's")
    _verify(header, end["signature"], records.signed_digest(end_start), keys[0])
    return header, Batches(path, header["from"], records.n_batches, end["seals"], records.whole.digest(), identity,
                           records.n_chunks)


def _open(path: Path, check: Callable[[dict[str, Any]], None], identity: x25519.Identity,
          on_batch: Callable[[dict[str, Any]], None] | None = None,
          on_chunk: Callable[[bytes], None] | None = None) -> tuple[dict[str, Any], Records]:
    """Read the envelope, let `check` refuse it, then decrypt the records through `Records`."""
    try:
        with open(path, "rb") as f:
            envelope, prefix = _envelope(f)
            check(envelope)
            records = Records(prefix, on_batch, on_chunk)
            _decrypt(f, records, identity)
    except OSError as e:
        raise BundleIOError(f"无法读取数据包 {path}：{os_reason(e)[0]}", f"cannot read bundle {path}: {os_reason(e)[1]}") from e
    return envelope, records


def _envelope(f) -> tuple[dict[str, Any], bytes]:
    """The envelope and the bytes up to its end (the file is left there)."""
    if os.fstat(f.fileno()).st_size > MAX_BUNDLE_BYTES + AGE_ROOM:
        raise bad(f"文件超过 {MAX_BUNDLE_BYTES} 字节上限", f"file larger than {MAX_BUNDLE_BYTES} bytes")
    magic = f.read(len(MAGIC))
    if not MAGIC.startswith(magic):  # a short prefix of it is "truncated"
        raise bad("不是一门（Yimen）数据包文件", "not a Yimen bundle file (wrong magic)")
    head = f.read(MAX_ENVELOPE_BYTES) if len(magic) == len(MAGIC) else b""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_ENVELOPE_BYTES,
                                max_map_len=32, max_array_len=32, max_str_len=1024, max_bin_len=0, max_ext_len=0)
    unpacker.feed(head)
    try:
        envelope = unpacker.unpack()
    except msgpack.OutOfData:
        raise bad("文件不完整（过短）", "file is truncated (too short)") from None
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise bad("封面格式错误", f"malformed envelope: {e}") from e
    version = envelope.get("protocol") if isinstance(envelope, dict) else None
    if type(version) is int and version == 1:
        raise bad("这是旧版一门写的未加密数据包，请对方用本版本重新导出",
                   "an unencrypted bundle from an older Yimen: ask the sender to export it again")
    if isinstance(envelope, dict) and "protocol" in envelope:
        check_version(version)
    if not (isinstance(envelope, dict) and set(envelope) == ENVELOPE_KEYS and
            all(isinstance(envelope[k], str) and 0 < len(envelope[k]) <= 64 for k in ("from", "to"))):
        raise bad("封面格式错误", "malformed envelope")
    end = len(MAGIC) + unpacker.tell()
    f.seek(end)
    return envelope, magic + head[:unpacker.tell()]


def _decrypt(f, records: Records, identity: x25519.Identity) -> None:
    """Decrypt the rest of `f` into `records`. What `records` raises comes out as it is."""
    try:
        pyrage.decrypt_io(f, records, [identity])
    except pyrage.DecryptError as e:
        if "no matching keys" in str(e).lower():
            raise bad("不是加密给本节点的（给了别的节点，或本节点的密钥已更换）",
                       "not encrypted to this node's key (written for another node, or this node's key changed)") from e
        raise _damaged() from e
    except OSError as e:
        if e.errno is None:  # pyrage's "decryption error": a chunk changed or the file cut short
            raise _damaged() from e
        raise


def _damaged() -> BadBundle:
    return bad("无法解密，文件已损坏、不完整或被篡改", "cannot decrypt: the file is damaged, truncated or tampered with")


def _verify(header: dict[str, Any], signature: bytes, signed: bytes, key: bytes | None) -> None:
    if key is None:
        raise bad(f"发送节点 {header['from']} 的公钥未知", f"the sender {header['from']} is not a known node")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, SIGNING_CONTEXT + signed)
    except (InvalidSignature, ValueError) as e:
        raise bad(f"签名无效，可能被篡改或并非来自 {header['from']}",
                   f"bad signature: tampered with or not from {header['from']}") from e




__all__ = ["MAGIC", "PROTOCOL", "BadBundle", "BundleIOError", "Batches", "read_bundle", "write_bundle"]
