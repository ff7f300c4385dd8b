"""The audit log's entries: append-only rows of `audit_log` (triggers refuse UPDATE and
DELETE), chained by hash and read as the leaves of an RFC 6962 Merkle tree (`AuditTree`,
a `pymerkle.BaseMerkleTree` over the same table: no second file to keep in step).

An entry's hash is its RFC 6962 leaf hash, SHA-256(0x00 || canonical bytes), and its
canonical bytes include the previous entry's hash: one hash is both the chain link and the
tree's leaf (the link is not stored twice: it is the hash of the row before). The canonical
bytes are every column, length-prefixed (`canonical`), so any changed byte of a stored
entry changes its hash. The person an entry concerns is a keyed hash of the ID number
(HMAC-SHA256 with the node's secret, `audit_secret`, its first 16 bytes), never the number:
a later purge of the person's data need not rewrite the log.

`append` costs one indexed read of the last entry and one insert: no work over the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator

from pymerkle import BaseMerkleTree

from yimen.sync.store import Store

GENESIS = bytes(32)  # the `prev` of the first entry
MAGIC = b"yimen-audit-v1"
COLUMNS = ("seq", "at", "node", "clerk", "action", "case_id", "person", "detail", "hash")
TEXT_COLUMNS = COLUMNS[1:8]
NULL = ((1 << 32) - 1).to_bytes(4, "big")  # the length prefix of a NULL column
# built once: json.dumps with options builds an encoder per call, a good part of an entry's cost
_detail = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode


def canonical(seq: int, fields: list[bytes | None], prev: bytes) -> bytes:
    """The bytes an entry's hash covers: its number, its text columns as stored (UTF-8
    bytes, NULL distinct from empty) and the previous entry's hash, each length-prefixed."""
    parts = [MAGIC, seq.to_bytes(8, "big", signed=True)]
    for f in (*fields, prev):
        parts += (NULL,) if f is None else (len(f).to_bytes(4, "big"), f)
    return b"".join(parts)


_LEAF = hashlib.sha256(b"\x00")  # copied, not made: making one looks the digest up in OpenSSL again


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962's leaf hash, as pymerkle computes it (`MerkleHasher.hash_buff`)."""
    h = _LEAF.copy()
    h.update(data)
    return h.digest()


def person_key(secret: bytes) -> hmac.HMAC:
    """The keyed hash's state after the key (copied for each person, see `_LEAF`)."""
    return hmac.new(secret, digestmod="sha256")


def person_hash(key: hmac.HMAC, id_number: str) -> bytes:
    """The keyed hash that names a person in the log (HMAC-SHA256 of the normalised
    18-character number, truncated to 128 bits: enough to tell a node's citizens apart)."""
    h = key.copy()
    h.update(id_number.encode())
    return h.digest()[:16]


def secret(store: Store) -> bytes:
    return store.conn.execute("SELECT key FROM audit_secret WHERE id = 1").fetchone()[0]


def head(store: Store) -> tuple[int, bytes]:
    """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
    row = store.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def _leaf(seq: int, *values: str | bytes | None) -> bytes:
    """The hash of entry `seq` of (at, node, clerk, action, case_id, person, detail) after `prev`."""
    *fields, prev = (v.encode() if isinstance(v, str) else v for v in values)
    return leaf_hash(canonical(seq, fields, prev))


_INSERT = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def append(store: Store, node_id: str, at: str, action: str, clerk: str | None, case_id: str | None,
           person: bytes | None, detail: dict[str, Any]) -> int:
    """Add one entry inside the caller's transaction; returns its number. (The hash is
    computed here, not by an SQL function: a Python function called by SQLite needs the
    GIL while SQLite holds the connection's mutex, and the SQLCipher binding waits for that
    mutex holding the GIL when another thread uses the connection: a deadlock.)"""
    store.require_tx()
    seq, prev = head(store)
    values = (at, node_id, clerk, action, case_id, person, _detail(detail))
    store.conn.execute(_INSERT, (seq + 1, *values, _leaf(seq + 1, *values, prev)))
    return seq + 1


@dataclass(frozen=True)
class Broken:
    """The first entry of the log that is not what was written."""

    seq: int
    at: str
    action: str
    why: str  # English key: "hash" (its content or its link to the one before), "sequence"


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", "replace")


def scan(store: Store) -> Iterator[tuple[int, Broken | None]]:
    """Check every entry in order (its number follows the last, its hash is that of its
    content and the hash of the entry before): yields (entries checked, None) as it goes,
    and ends after the first broken entry with it. Columns are read as stored bytes, so
    text edited into invalid UTF-8 is found like any other edit."""
    cols = ", ".join(["seq", "typeof(seq)"] + [f"CAST({c} AS BLOB)" for c in TEXT_COLUMNS] + ["hash"])
    expected, prev = 1, GENESIS
    for row in store.conn.execute(f"SELECT {cols} FROM audit_log ORDER BY seq"):
        seq, kind, fields, digest = row[0], row[1], list(row[2:9]), row[9]
        why = ("sequence" if kind != "integer" or seq != expected
               else "hash" if digest != leaf_hash(canonical(seq, fields, prev)) else "")
        if why:
            # a missing number is broken where it is missing (the row read there is shown)
            yield expected - 1, Broken(expected, _text(fields[0]), _text(fields[3]), why)
            return
        prev, expected = digest, expected + 1
        yield seq, None


class AuditTree(BaseMerkleTree):
    """The RFC 6962 tree whose leaves are the log's entry hashes, in order. Entries are
    written by `append` (in the action's transaction), never through `append_entry`."""

    def __init__(self, conn: sqlite3.Connection, **opts: Any):
        self.conn = conn
        super().__init__("sha256", **opts)

    def _encode_entry(self, data: bytes) -> bytes:
        return data

    def _store_leaf(self, data: Any, digest: bytes) -> int:
        raise NotImplementedError("audit entries are written by yimen.node.audit.log.append")

    def _get_leaf(self, index: int) -> bytes:
        return self.conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (index,)).fetchone()[0]

    def _get_leaves(self, offset: int, width: int) -> list[bytes]:
        return [r[0] for r in self.conn.execute("SELECT hash FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                                (offset + 1, offset + width))]

    def _get_size(self) -> int:
        # numbers are contiguous from 1 (append-only, checked by `scan`): the last is the count
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]


def tree(store: Store) -> AuditTree:
    """The store's tree, cached on it: subtree roots of whole power-of-two ranges never
    change in an append-only log, so a long-lived process computes each once."""
    cached = vars(store).get("_audit_tree")
    if cached is None:
        cached = AuditTree(store.conn)
        store._audit_tree = cached  # type: ignore[attr-defined]
    return cached
