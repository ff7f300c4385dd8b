"""The one definition of the sync tables, as migrations (sqlite-utils `Migrations`).

A node file records which migrations it has had (`_sqlite_migrations`) and its version in
`meta.schema_version`. Opening a file applies the missing migrations of every set it is
opened with, all in one transaction (a crash mid-upgrade leaves the old file as it was);
a file that has had a migration this code does not know, or a higher version, was written
by a newer Yimen and is refused before anything is written.

Statements run one by one: `executescript` would commit the upgrade's transaction.

Tables (the sync side; the node adds its own set, see `yimen.node.storage`):

- `docs`: one row per document: id, kind, scope, the full oplog (zlib), its version vector.
- `changes`: one row per change span `(doc_id, peer, counter_start)`, its author node and,
  once signed, the seal that carries it (`seal_seq`). Own changes start unsealed; their
  bytes are exported from the document when a seal is made. The key includes `doc_id`
  because Loro counters are per document.
- `feed`: append-only, local sequence number, own and received seals alike, exact bytes.
- `pending`: received changes whose dependencies have not arrived; survives restarts.
- `unapplied`: feed positions of received seals stored and acknowledged but not yet
  applied to documents and projections (see `Engine.catch_up`).
- `quarantine`: refused seals with the reason, for the admin, bounded per peer (see
  `repos.Quarantine`); `quarantine_counts`: how many seals each peer had refused, per
  reason class.
- `peers`: per peer node, the stream positions both ways (`recv_upto`: the peer's feed
  position we hold everything visible to us up to; `sent_upto`: ours it acknowledged) and
  traffic counters.
- `peer_owners`: which author node each Loro peer id belongs to (bound by signed seals).
- `node_certs`: every known key of every known node by key id, with the certificate that
  vouches for it (`pinned` at enrollment, `record` from the trust list; a bare pinned key
  has none); `key_cuts`: "refuse this key's seals after seq N" from revocations and key
  rotations; `node_transit`: each node's bundle encryption key and TLS pin (from its
  current certificate).
- `meta`: small key/value facts (schema version, per-node sequences, sync health).
"""

from __future__ import annotations

from typing import Iterable

import sqlite_utils
from sqlite_utils import Migrations

from yimen.sync.errors import StoreError
from yimen.sync.store import repos
from yimen.sync import certs
from yimen.sync.visibility import FLOW_SQL


class NewerSchema(StoreError):
    """The node file was written by a newer version of Yimen."""

    code = "newer_schema"


class Schema(Migrations):
    """A named set of migrations that knows its own names (its version is their count)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.names: list[str] = []

    def __call__(self, *, name: str | None = None, transactional: bool = True):
        register = super().__call__(name=name, transactional=transactional)

        def inner(fn):
            self.names.append(name or fn.__name__)
            return register(fn)
        return inner

    @property
    def version(self) -> int:
        return len(self.names)

    @property
    def version_key(self) -> str:
        return f"schema_version:{self.name}"


SYNC_SCHEMA = Schema("yimen.sync")


def run(db: sqlite_utils.Database, *statements: str) -> None:
    for sql in statements:
        db.execute(sql)


@SYNC_SCHEMA(name="0001_tables")
def _tables(db: sqlite_utils.Database) -> None:
    run(db,
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
        "CREATE TABLE IF NOT EXISTS docs (doc_id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " scope TEXT NOT NULL, oplog BLOB NOT NULL, vv BLOB NOT NULL)",
        # WITHOUT ROWID: the key is the identity, and one B-tree less to write per commit
        "CREATE TABLE IF NOT EXISTS changes (doc_id TEXT, peer INTEGER, counter_start INTEGER,"
        " counter_end INTEGER, kind TEXT, scope TEXT, author TEXT, seal_seq INTEGER,"
        " PRIMARY KEY (doc_id, peer, counter_start)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS feed (local_seq INTEGER PRIMARY KEY, author TEXT NOT NULL,"
        " seq INTEGER NOT NULL, scope TEXT NOT NULL, down INTEGER, body BLOB NOT NULL,"
        " signature BLOB NOT NULL, received_from TEXT, received_at TEXT)",
        "CREATE TABLE IF NOT EXISTS pending (doc_id TEXT, peer INTEGER, counter_start INTEGER,"
        " counter_end INTEGER, author TEXT, seal_seq INTEGER, blob BLOB,"
        " PRIMARY KEY (doc_id, peer, counter_start))",
        "CREATE TABLE IF NOT EXISTS unapplied (local_seq INTEGER PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY, received_from TEXT,"
        " received_at TEXT, author TEXT, seq INTEGER, reason TEXT, body BLOB, signature BLOB)",
        "CREATE TABLE IF NOT EXISTS peers (node_id TEXT PRIMARY KEY, recv_upto INTEGER DEFAULT 0,"
        " sent_upto INTEGER DEFAULT 0, last_contact TEXT, seals_in INTEGER DEFAULT 0,"
        " seals_out INTEGER DEFAULT 0, bytes_in INTEGER DEFAULT 0, bytes_out INTEGER DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS peer_owners (peer INTEGER PRIMARY KEY, author TEXT)",
        "CREATE TABLE IF NOT EXISTS node_keys (node_id TEXT PRIMARY KEY, public_key BLOB, source TEXT)",
        "CREATE UNIQUE INDEX IF NOT EXISTS feed_author_seq ON feed(author, seq)",
        "CREATE INDEX IF NOT EXISTS docs_kind ON docs(kind)")


@SYNC_SCHEMA(name="0002_unsealed_order")
def _unsealed_order(db: sqlite_utils.Database) -> None:
    """Unsealed own changes in the order seals take them (see `Changes.unsealed_page`);
    replaces the first, unordered index."""
    run(db,
        "DROP INDEX IF EXISTS changes_unsealed",
        "CREATE INDEX IF NOT EXISTS changes_unsealed_order ON changes("
        "(kind IN ('catalog_item', 'node', 'revocation')) DESC, scope, doc_id, peer, counter_start)"
        " WHERE seal_seq IS NULL")


@SYNC_SCHEMA(name="0003_quarantine_bounds")
def _quarantine_bounds(db: sqlite_utils.Database) -> None:
    """Quarantine bounded (see `repos.Quarantine`): a digest identifies a seal's bytes (kept
    once), the body's size (the body itself is kept only while it may yet go in), counts per
    peer and reason class. The rows an older
    version kept are given their digest, their duplicates dropped and counted, and only the
    newest rows per peer kept."""
    run(db,
        "ALTER TABLE quarantine ADD COLUMN digest BLOB",
        "ALTER TABLE quarantine ADD COLUMN bytes INTEGER",
        "CREATE TABLE IF NOT EXISTS quarantine_counts (received_from TEXT, reason TEXT,"
        " count INTEGER NOT NULL, last_at TEXT, PRIMARY KEY (received_from, reason)) WITHOUT ROWID")
    seen: set[bytes] = set()
    counts: dict[tuple[str, str], list] = {}
    for qid, peer, at, reason, body, sig in db.execute(
            "SELECT id, received_from, received_at, reason, body, signature FROM quarantine ORDER BY id").fetchall():
        body, sig = body or b"", sig or b""
        digest = repos.seal_digest(body, sig)
        if digest in seen:
            db.execute("DELETE FROM quarantine WHERE id = ?", [qid])
            continue
        seen.add(digest)
        db.execute("UPDATE quarantine SET digest = ?, bytes = ? WHERE id = ?", [digest, len(body), qid])
        n = counts.setdefault((peer or "", repos.reason_class(reason or "")), [0, at])
        n[0], n[1] = n[0] + 1, at
    db.conn.executemany("INSERT INTO quarantine_counts VALUES (?, ?, ?, ?)",
                        [(peer, cls, n, at) for (peer, cls), (n, at) in counts.items()])
    run(db,
        "CREATE UNIQUE INDEX IF NOT EXISTS quarantine_digest ON quarantine(digest)",
        "CREATE INDEX IF NOT EXISTS quarantine_by_peer ON quarantine(received_from, id)",
        "CREATE INDEX IF NOT EXISTS quarantine_by_author ON quarantine(author, seq)",
        "DELETE FROM quarantine WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER"
        f" (PARTITION BY received_from ORDER BY id DESC) AS n FROM quarantine) WHERE n > {repos.Quarantine.KEEP_PER_PEER})")



@SYNC_SCHEMA(name="0004_quarantine_zh")
def _quarantine_zh(db: sqlite_utils.Database) -> None:
    """A refusal's reason in Chinese beside the English one (the admin reads the language
    the node speaks to them). Rows an older version kept have only the English text, which
    stays what they show."""
    run(db,
        "ALTER TABLE quarantine ADD COLUMN reason_zh TEXT",
        "ALTER TABLE quarantine_counts ADD COLUMN reason_zh TEXT")


@SYNC_SCHEMA(name="0005_node_transit")
def _node_transit(db: sqlite_utils.Database) -> None:
    """Per known node, the age recipient its bundles are encrypted to and the SHA-256 pin of
    its TLS certificate (learnt with its key: enrollment, node records)."""
    run(db, "CREATE TABLE IF NOT EXISTS node_transit (node_id TEXT PRIMARY KEY, encryption_key TEXT,"
            " tls_fingerprint TEXT)")


@SYNC_SCHEMA(name="0006_certificates")
def _certificates(db: sqlite_utils.Database) -> None:
    """Keys by key id with their certificates, several per node (rotation), and the cuts
    set on them; the unsealed-order index by flow (city-wide, down, up). Keys an older
    file knew are kept as bare pinned keys."""
    run(db,
        "CREATE TABLE IF NOT EXISTS node_certs (key_id BLOB PRIMARY KEY, node_id TEXT NOT NULL,"
        " public_key BLOB NOT NULL, cert BLOB, not_before INTEGER NOT NULL, source TEXT)",
        "CREATE INDEX IF NOT EXISTS node_certs_by_node ON node_certs(node_id, not_before)",
        "CREATE TABLE IF NOT EXISTS key_cuts (key_id BLOB, node_id TEXT, cut INTEGER NOT NULL, kind TEXT,"
        " reason TEXT, reason_zh TEXT, PRIMARY KEY (key_id, node_id)) WITHOUT ROWID")
    db.conn.executemany("INSERT OR IGNORE INTO node_certs VALUES (?, ?, ?, NULL, 0, 'pinned')",
                        [(certs.key_id(key), node, key)
                         for node, key in db.execute("SELECT node_id, public_key FROM node_keys").fetchall()])
    run(db,
        "DROP TABLE node_keys",
        "DROP INDEX IF EXISTS changes_unsealed_order",
        f"CREATE INDEX IF NOT EXISTS changes_unsealed_flow ON changes({FLOW_SQL} DESC, scope, doc_id, peer,"
        " counter_start) WHERE seal_seq IS NULL")


@SYNC_SCHEMA(name="0007_space_flow")
def _space_flow(db: sqlite_utils.Database) -> None:
    """The unsealed-order index again, its flow expression now knowing space documents
    and credential revocations (the query must spell the index's expression exactly)."""
    run(db,
        "DROP INDEX IF EXISTS changes_unsealed_flow",
        f"CREATE INDEX IF NOT EXISTS changes_unsealed_flow ON changes({FLOW_SQL} DESC, scope, doc_id, peer,"
        " counter_start) WHERE seal_seq IS NULL")


@SYNC_SCHEMA(name="0008_chunks")
def _chunks(db: sqlite_utils.Database) -> None:
    """File chunks by the SHA-256 of their bytes (see `chunks`). A rowid table: rows of up to
    1 MiB belong in overflow pages, not in the key's B-tree."""
    run(db, "CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, data BLOB NOT NULL)")


@SYNC_SCHEMA(name="0009_on_demand")
def _on_demand(db: sqlite_utils.Database) -> None:
    """Space seals held on demand (under a consent) by a node that is neither their home nor
    an ancestor: outside the feed, which is append-only, so that a purge can drop them (see
    `on_demand`). One seal holds one document."""
    run(db,
        "CREATE TABLE IF NOT EXISTS on_demand (author TEXT NOT NULL, seq INTEGER NOT NULL, doc_id TEXT NOT NULL,"
        " body BLOB NOT NULL, signature BLOB NOT NULL, received_from TEXT, received_at TEXT NOT NULL,"
        " PRIMARY KEY (author, seq)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS on_demand_by_doc ON on_demand(doc_id)")


def check(db: sqlite_utils.Database, sets: Iterable[Schema]) -> bool:
    """Refuse a file from a newer Yimen; return whether migrations are missing."""
    missing = False
    for s in sets:
        stored = _stored_version(db, s)
        unknown = [a.name for a in s.applied(db) if a.name not in s.names]
        if unknown or stored > s.version:
            raise NewerSchema(
                f"数据库由更新版本的一门写入（{s.name} 结构版本 {stored}），请安装该版本后再打开",
                f"this node file was written by a newer Yimen ({s.name} schema version {stored});"
                " install that version to open it")
        missing = missing or bool(s.pending(db))
    return missing


def apply(db: sqlite_utils.Database, sets: Iterable[Schema]) -> None:
    """Apply what is missing, inside the caller's transaction (sqlite-utils nests each
    migration in a savepoint), and record each set's version."""
    for s in sets:
        if s.pending(db):
            s.apply(db)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [s.version_key, str(s.version)])


def _stored_version(db: sqlite_utils.Database, s: Schema) -> int:
    if not db["meta"].exists():
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = ?", [s.version_key]).fetchone()
    try:
        return int(row[0]) if row else 0
    except ValueError:
        return 1 << 30  # not a number this code wrote: treat as unknown, newer
