"""The node's SQLite file: the connection, transactions, and the documents table.

The file is opened through `driver` (SQLCipher): with a key, every page on disk is
encrypted; nothing else in the code names the driver.

Every write happens inside `transaction()`: one `BEGIN IMMEDIATE` ... `COMMIT`, rolled back
whole on any exception. The connection runs in autocommit mode so that nothing but
`transaction()` opens or closes transactions. The other sync tables are reached through
small repositories (`store.feed`, `store.changes`, `store.peers`, `store.keys`,
`store.quarantine`): no SQL on a sync table lives outside this package.

A database error that leaves `transaction()` is wrapped once, as `StoreError` with one
sentence for the clerk (`wrap`); boundaries (CLI, HTTP) wrap reads the same way.
"""

from __future__ import annotations

import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Collection, Iterable, Iterator

import sqlite_utils

from yimen.sync import seal as seals
from yimen.sync.docs import Change, Doc, new_peer_id
from yimen.sync.errors import StoreError
from yimen.sync.store import driver, schema
from yimen.sync.store.chunks import Chunks
from yimen.sync.store.keys import KeyRing
from yimen.sync.store.on_demand import OnDemand, purge
from yimen.sync.store.repos import Changes, Feed, Peers, Quarantine

BUSY_S = 5.0  # how long a write waits for another process's transaction
CACHE_KB = 64 * 1024  # the page cache of a connection, at most (filled only as pages are read)


class NodeBusy(StoreError):
    """Another process holds the node's database for longer than a write waits."""

    code = "node_busy"


def database_failure(e: driver.Error) -> bool:
    """Is `e` the database failing (disk full, I/O, busy, corrupt, closed), rather than
    SQLite refusing a value it was given (a type it cannot bind, a constraint)?"""
    if isinstance(e, (driver.InterfaceError, driver.IntegrityError, driver.DataError)):
        return False
    return not isinstance(e, driver.ProgrammingError) or "closed" in str(e)


def wrap(e: driver.Error) -> StoreError:
    """One sentence for a database error (the details go to the log, by the boundary)."""
    if isinstance(e, driver.OperationalError) and ("locked" in str(e) or "busy" in str(e)):
        return NodeBusy("节点正忙（另一个程序正在写入数据库），请稍后再试",
                        "the node is busy (another program is writing to its database); try again shortly")
    return StoreError(f"数据库读写失败：{e}", f"the node's database could not be read or written: {e}")


def _compress(oplog: bytes) -> bytes:
    """zlib with a 4 KB window: a document's history is a few KB, and setting up the
    default 256 KB of compressor state took longer than compressing (3x in a micro-benchmark
    here)."""
    c = zlib.compressobj(1, zlib.DEFLATED, 12, 5)
    return c.compress(oplog) + c.flush()


def numbered_name(owner: str, doc_id: str, kind: str) -> tuple[str, int] | None:
    """(`<kind>:<series>`, number) of a document named `<owner>-<series>-<number>`."""
    if not doc_id.startswith(owner + "-"):
        return None
    series, _, number = doc_id[len(owner) + 1:].rpartition("-")
    if not series or "-" in series or not (number.isdigit() and number.isascii()):
        return None
    return f"{kind}:{series}", int(number)


class Store:
    """Documents, their changes and the feed in one SQLite file (WAL), opened with the
    schema sets the caller needs (the sync tables always)."""

    def __init__(self, path: Path | str, peer: int | None = None,
                 schemas: Iterable[schema.Schema] = (), key: bytes | None = None):
        """`key`: the database's 32-byte key (see `driver`); None for a plain file."""
        try:
            if key is not None:
                driver.create_private(path)
            self.conn = driver.connect(path, key, isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(self.conn)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            # checkpoint every ~16 MB of WAL, not every 4 MB: fewer fsyncs at the window
            self.conn.execute("PRAGMA wal_autocheckpoint=4000")
            # SQLite's page cache is the only cache of decrypted pages (the OS caches them
            # encrypted, and each read from it is decrypted again): 64 MB holds a village's
            # whole file, so an accept's index pages are not decrypted anew each time
            self.conn.execute(f"PRAGMA cache_size={-CACHE_KB}")
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_S * 1000)}")
        except driver.Error as e:
            raise StoreError(f"无法打开数据库 {path}：{e}", f"cannot open database {path}: {e}") from e
        self.peer = peer if peer is not None else new_peer_id()
        self._bound: set[tuple[int, str]] = set()  # own peers bound on save by this process
        self._depth = 0
        self.feed, self.changes, self.peers = Feed(self), Changes(self), Peers(self)
        self.keys, self.quarantine, self.chunks = KeyRing(self), Quarantine(self), Chunks(self)
        self.on_demand = OnDemand(self)  # space seals held under a consent, outside the feed
        try:
            self._migrate([schema.SYNC_SCHEMA, *schemas])
        except BaseException:
            self.conn.close()
            raise

    def _migrate(self, sets: list[schema.Schema]) -> None:
        try:
            missing = schema.check(self.db, sets)
        except driver.Error as e:
            raise wrap(e) from e
        if missing:
            with self.transaction():
                schema.check(self.db, sets)  # again under the write lock: another process may have upgraded
                schema.apply(self.db, sets)

    def close(self) -> None:
        self.conn.close()

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
        try:
            self._begin()
        except driver.Error as e:
            raise wrap(e) from e
        self._depth = 1
        try:
            yield
        except driver.Error as e:
            self._rollback()
            raise wrap(e) from e
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except driver.Error as e:
                self._rollback()
                raise wrap(e) from e
        finally:
            self._depth = 0

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the current transaction that is undone alone if it raises."""
        self.require_tx()
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
                except driver.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_S * 1000)}")

    def require_tx(self) -> None:
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
        self.require_tx()
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.require_tx()
        self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def next_sequence(self, name: str, at_least: int = 0) -> int:
        """The next number of a per-node counter, and at least `at_least` (inside the
        caller's transaction)."""
        self.require_tx()
        n = max(self.sequence(name) + 1, at_least)
        self.set_meta(f"seq:{name}", str(n))
        return n

    def sequence(self, name: str) -> int:
        """The last number a per-node counter gave (0: none)."""
        return int(self.meta(f"seq:{name}") or 0)

    def raise_sequence(self, name: str, to: int) -> bool:
        """Make sure a counter's next number is above `to` (a restored node learning the
        numbers the chain already holds); returns whether it moved."""
        if to <= self.sequence(name):
            return False
        self.set_meta(f"seq:{name}", str(to))
        return True

    # -- documents -----------------------------------------------------------------------
    def new_doc(self, doc_id: str, kind: str, scope: str) -> Doc:
        return Doc.new(doc_id, kind, scope, self.peer)

    def get(self, doc_id: str) -> Doc | None:
        row = self.conn.execute("SELECT kind, scope, oplog FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        return Doc.from_bytes(doc_id, row[0], row[1], zlib.decompress(row[2]), self.peer)

    def get_many(self, doc_ids: Collection[str]) -> dict[str, Doc]:
        """The documents among `doc_ids` held here."""
        return {doc_id: Doc.from_bytes(doc_id, kind, scope, zlib.decompress(oplog), self.peer)
                for doc_id, kind, scope, oplog in self.rows("SELECT doc_id, kind, scope, oplog FROM docs", doc_ids)}

    def oplog(self, doc_id: str) -> tuple[bytes, bytes]:
        """A held document's stored history and version bytes, without loading it."""
        oplog, vv = self.conn.execute("SELECT oplog, vv FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return zlib.decompress(oplog), vv

    def kinds(self, doc_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        """doc_id -> (kind, scope) of the documents among `doc_ids` held here."""
        return {d: (k, s) for d, k, s in self.rows("SELECT doc_id, kind, scope FROM docs", doc_ids)}

    def versions(self) -> Iterator[tuple[str, str, str, bytes]]:
        """(doc_id, kind, scope, version bytes) of every document held here."""
        return iter(self.conn.execute("SELECT doc_id, kind, scope, vv FROM docs"))

    def rows(self, select: str, doc_ids: Collection[str]) -> list[tuple]:
        """`select ... WHERE doc_id IN (doc_ids)`, in parts of 500 ids."""
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
        self.require_tx()
        self.conn.executemany(
            "INSERT INTO docs(doc_id, kind, scope, oplog, vv) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(doc_id) DO UPDATE SET oplog = excluded.oplog, vv = excluded.vv",
            [(doc.doc_id, doc.kind, doc.scope, _compress(oplog or doc.oplog()), doc.version())
             for doc, oplog in docs])

    def numbered(self, owner: str, limit: int = 8) -> dict[str, int]:
        """Of the documents named `<owner>-<series>-<number>` (a case's receipt number is
        `<region code>-<year>-<number>`), the highest number held per `<kind>:<series>`
        (the name of the owner's counter for it, see `next_sequence`), for the latest
        `limit` series. Numbers are zero-padded, so the highest sorts last: one index
        step per series, whatever the number of documents."""
        out: dict[str, int] = {}
        below = owner + "."  # "." sorts right after "-": every id of `owner-` is below it
        for _ in range(4 * limit):
            row = self.conn.execute("SELECT doc_id, kind FROM docs WHERE doc_id >= ? AND doc_id < ?"
                                    " ORDER BY doc_id DESC LIMIT 1", (owner + "-", below)).fetchone()
            if row is None or len(out) == limit:
                break
            below = row[0]
            named = numbered_name(owner, *row)
            if named:
                out.setdefault(*named)
                below = f"{owner}-{row[0][len(owner) + 1:].rpartition('-')[0]}-"  # the rest of this series is lower
        return out

    def purge(self, doc_ids: Collection[str]) -> int:
        """Drop documents held here (a space document whose consent ended): see `on_demand.purge`."""
        return purge(self, doc_ids)

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
        """Commit `doc`'s pending edits as one change by node `author` and store it. A
        change no seal could carry is refused (`Unsealable`, the caller's transaction
        rolls back): every seal this node makes must be one its receivers take. The Loro
        peer is bound to `author` before its first op is stored, as a received peer is
        before its ops are applied: who wrote each part of a document never changes."""
        self.require_tx()
        change = doc.commit()
        if change is None:
            return None
        oplog = doc.oplog()
        # a change is no larger than the whole history: export it alone only when that is large
        size = len(doc.export_change(change)) if len(oplog) > seals.MAX_CHANGE_BYTES else 0
        seals.check_sealable(doc.doc_id, size)
        self.put_doc(doc, oplog)
        self.changes.add_own(change, author)
        if (change.peer, author) not in self._bound:  # once per process, not once per save
            self.keys.bind_peers([change.peer], author)
            self._bound.add((change.peer, author))
        return change

    def unsealed(self) -> list[Change]:
        return self.changes.unsealed()
