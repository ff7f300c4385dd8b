"""The node's SQLite file: documents, the change index and the feed.

Tables (their shape is final; sealing and the engine arrive with replication):

- `docs`: one row per document: id, kind, scope, the full oplog (zlib-compressed: the
  history of a small document compresses to about 60%), its version vector.
- `changes`: one row per change span `(doc_id, peer, counter_start)`, its author node and,
  once signed, the seal that carries it (`seal_seq`). Own changes start unsealed
  (`seal_seq IS NULL`); their bytes are not stored twice but exported from the document
  when a seal is made. The key includes `doc_id` because Loro counters are per
  document: one process peer writing two documents starts both at counter 0 (the
  architecture's `(peer, counter_start)` is unique only within a document).
- `feed`: append-only, local sequence number, own and received seals alike, exact bytes.
- `pending`: received changes whose dependencies have not arrived; survives restarts.
- `unapplied`: feed positions of received seals that are stored and acknowledged but not
  yet applied to documents and projections (a hub stores and forwards first; see
  `Engine.catch_up`).
- `quarantine`: refused seals with the reason, for the admin.
- `peers`: per peer node, the stream positions in both directions (`recv_upto`: the peer's
  feed position we hold everything visible to us up to; `sent_upto`: ours that the peer
  acknowledged) and traffic counters. Updated in the same transaction as the import.
- `peer_owners`: which author node each Loro peer id belongs to (bound by signed seals).
- `node_keys`: public keys of known nodes (`trusted` from enrollment, `record` from node
  documents).
- `meta`: small key/value facts (schema version, per-node sequences).

Every write happens inside `transaction()`: one `BEGIN IMMEDIATE` ... `COMMIT`, rolled back
whole on any exception. The connection runs in autocommit mode so that nothing but
`transaction()` opens or closes transactions.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Collection, Iterator

import sqlite_utils

from yimen.sync.docs import Change, Doc, new_peer_id
from yimen.sync.visibility import DOWN_SQL
from yimen.sync.errors import StoreError

SCHEMA_VERSION = 1
BUSY_S = 5.0  # how long a write waits for another process's transaction


def _compress(oplog: bytes) -> bytes:
    """zlib with a 4 KB window: a document's history is a few KB, and setting up the
    default 256 KB of compressor state took longer than compressing (3x in a micro-benchmark
    here)."""
    c = zlib.compressobj(1, zlib.DEFLATED, 12, 5)
    return c.compress(oplog) + c.flush()


class Store:
    """Documents and their changes in one SQLite file (WAL)."""

    def __init__(self, path: Path | str, peer: int | None = None):
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(self.conn)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            # checkpoint every ~16 MB of WAL, not every 4 MB: fewer fsyncs at the window
            self.conn.execute("PRAGMA wal_autocheckpoint=4000")
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_S * 1000)}")
        except sqlite3.Error as e:
            raise StoreError(f"无法打开数据库 {path}：{e}", f"cannot open database {path}: {e}") from e
        self.peer = peer if peer is not None else new_peer_id()
        self._depth = 0
        self._create()

    def close(self) -> None:
        self.conn.close()

    def _create(self) -> None:
        t = self.db
        t["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        t["docs"].create(
            {"doc_id": str, "kind": str, "scope": str, "oplog": bytes, "vv": bytes},
            pk="doc_id", not_null={"kind", "scope", "oplog", "vv"}, if_not_exists=True,
        )
        # WITHOUT ROWID: the key is the identity, and one B-tree less to write per commit
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS changes (doc_id TEXT, peer INTEGER, counter_start INTEGER,"
            " counter_end INTEGER, kind TEXT, scope TEXT, author TEXT, seal_seq INTEGER,"
            " PRIMARY KEY (doc_id, peer, counter_start)) WITHOUT ROWID")
        t["feed"].create(
            {"local_seq": int, "author": str, "seq": int, "scope": str, "down": int, "body": bytes,
             "signature": bytes, "received_from": str, "received_at": str},
            pk="local_seq", not_null={"author", "seq", "scope", "body", "signature"},
            if_not_exists=True,
        )
        t["pending"].create(
            {"doc_id": str, "peer": int, "counter_start": int, "counter_end": int,
             "author": str, "seal_seq": int, "blob": bytes},
            pk=("doc_id", "peer", "counter_start"), if_not_exists=True,
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS unapplied (local_seq INTEGER PRIMARY KEY)")
        t["quarantine"].create(
            {"id": int, "received_from": str, "received_at": str, "author": str, "seq": int,
             "reason": str, "body": bytes, "signature": bytes},
            pk="id", if_not_exists=True,
        )
        t["peers"].create(
            {"node_id": str, "recv_upto": int, "sent_upto": int, "last_contact": str,
             "seals_in": int, "seals_out": int, "bytes_in": int, "bytes_out": int},
            pk="node_id", defaults={"recv_upto": 0, "sent_upto": 0, "seals_in": 0, "seals_out": 0,
                                    "bytes_in": 0, "bytes_out": 0}, if_not_exists=True,
        )
        t["peer_owners"].create({"peer": int, "author": str}, pk="peer", if_not_exists=True)
        t["node_keys"].create({"node_id": str, "public_key": bytes, "source": str},
                              pk="node_id", if_not_exists=True)
        self.conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS feed_author_seq ON feed(author, seq)")
        # unsealed own changes in the order seals take them (see Engine.seal_pending)
        self.conn.execute("DROP INDEX IF EXISTS changes_unsealed")
        self.conn.execute("CREATE INDEX IF NOT EXISTS changes_unsealed_order ON changes("
                          f"{DOWN_SQL} DESC, scope, doc_id, peer, counter_start) WHERE seal_seq IS NULL")
        self.conn.execute("CREATE INDEX IF NOT EXISTS docs_kind ON docs(kind)")
        if self.meta("schema_version") is None:
            with self.transaction():
                self.set_meta("schema_version", str(SCHEMA_VERSION))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction; nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the current transaction that is undone alone if it raises."""
        self._require_tx()
        self.conn.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, retrying every few milliseconds for up to BUSY_S. (SQLite's own
        busy handler backs off to 100 ms sleeps, and a process writing in a loop, like a
        server applying a backlog, would starve a clerk's command that waits that way.)"""
        deadline = time.monotonic() + BUSY_S
        self.conn.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_S * 1000)}")

    def _require_tx(self) -> None:
        if not self._depth:
            raise RuntimeError("write outside a transaction")

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits to this file."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- small facts ---------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._require_tx()
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def next_sequence(self, name: str) -> int:
        """The next number of a per-node counter (inside the caller's transaction)."""
        self._require_tx()
        n = int(self.meta(f"seq:{name}") or 0) + 1
        self.set_meta(f"seq:{name}", str(n))
        return n

    # -- documents -----------------------------------------------------------------------
    def new_doc(self, doc_id: str, kind: str, scope: str) -> Doc:
        return Doc.new(doc_id, kind, scope, self.peer)

    def get(self, doc_id: str) -> Doc | None:
        row = self.conn.execute(
            "SELECT kind, scope, oplog FROM docs WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        return Doc.from_bytes(doc_id, row[0], row[1], zlib.decompress(row[2]), self.peer)

    def get_many(self, doc_ids: Collection[str]) -> dict[str, Doc]:
        """The documents among `doc_ids` held here."""
        return {doc_id: Doc.from_bytes(doc_id, kind, scope, zlib.decompress(oplog), self.peer)
                for doc_id, kind, scope, oplog in self._rows("SELECT doc_id, kind, scope, oplog FROM docs", doc_ids)}

    def kinds(self, doc_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        """doc_id -> (kind, scope) of the documents among `doc_ids` held here."""
        return {d: (k, s) for d, k, s in self._rows("SELECT doc_id, kind, scope FROM docs", doc_ids)}

    def known_changes(self, doc_ids: Collection[str]) -> tuple[set[tuple[str, int, int]], dict[str, list[tuple]]]:
        """The `(doc_id, peer, counter_start)` of every change of `doc_ids` held here,
        applied or pending, and the pending ones in full by document."""
        known = set(self._rows("SELECT doc_id, peer, counter_start FROM changes", doc_ids))
        waiting: dict[str, list[tuple]] = {}
        for doc_id, *row in self._rows(
                "SELECT doc_id, peer, counter_start, counter_end, author, seal_seq, blob FROM pending", doc_ids):
            known.add((doc_id, row[0], row[1]))
            waiting.setdefault(doc_id, []).append(tuple(row))
        return known, waiting

    def _rows(self, select: str, doc_ids: Collection[str]) -> list[tuple]:
        ids = list(doc_ids)
        out: list[tuple] = []
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            out += self.conn.execute(f"{select} WHERE doc_id IN ({', '.join('?' * len(part))})", part).fetchall()
        return out

    def put_doc(self, doc: Doc, oplog: bytes | None = None) -> None:
        """Write a document's history and version (in place, inside a transaction). `oplog`:
        bytes already known to hold the document's whole history, to skip exporting it."""
        self.put_docs([(doc, oplog)])

    def put_docs(self, docs: list[tuple[Doc, bytes | None]]) -> None:
        """`put_doc` for many documents at once."""
        self._require_tx()
        self.conn.executemany(
            "INSERT INTO docs(doc_id, kind, scope, oplog, vv) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(doc_id) DO UPDATE SET oplog = excluded.oplog, vv = excluded.vv",
            [(doc.doc_id, doc.kind, doc.scope, _compress(oplog or doc.oplog()), doc.version())
             for doc, oplog in docs])

    def exists(self, doc_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM docs WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def docs(self, kind: str | None = None) -> Iterator[Doc]:
        sql = "SELECT doc_id, kind, scope, oplog FROM docs"
        rows = self.conn.execute(sql + " WHERE kind = ? ORDER BY doc_id", (kind,)) if kind else \
            self.conn.execute(sql + " ORDER BY doc_id")
        for doc_id, k, scope, oplog in rows:
            yield Doc.from_bytes(doc_id, k, scope, zlib.decompress(oplog), self.peer)

    def count(self, kind: str) -> int:
        return self.conn.execute("SELECT count(*) FROM docs WHERE kind = ?", (kind,)).fetchone()[0]

    def save(self, doc: Doc, author: str) -> Change | None:
        """Commit `doc`'s pending edits as one change by node `author` and store it."""
        self._require_tx()
        change = doc.commit()
        if change is None:
            return None
        self.put_doc(doc)
        self.conn.execute(
            "INSERT INTO changes(doc_id, peer, counter_start, counter_end, kind, scope, author)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (change.doc_id, change.peer, change.counter_start, change.counter_end,
             change.kind, change.scope, author),
        )
        return change

    def unsealed(self) -> list[Change]:
        rows = self.conn.execute(
            "SELECT doc_id, kind, scope, peer, counter_start, counter_end FROM changes"
            " WHERE seal_seq IS NULL ORDER BY doc_id, peer, counter_start"
        )
        return [Change(*r) for r in rows]
