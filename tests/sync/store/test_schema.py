"""The one schema definition and its migrations: a fresh file gets every table, an old
(version 1) node file is upgraded in one transaction with its rows kept, a failed upgrade
leaves the file as it was, and a file from a newer Yimen is refused before anything is
written."""

from __future__ import annotations


import pytest

from yimen.sync.store import driver
from yimen.node.storage import NODE_SCHEMA
from yimen.sync.store import SYNC_SCHEMA, NewerSchema, Store
from yimen.sync.store import schema as schema_mod
from yimen.sync.store.repos import Quarantine, seal_digest

# The sync tables as the first release wrote them (before migrations were recorded).
V1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE docs (doc_id TEXT PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL,"
    " oplog BLOB NOT NULL, vv BLOB NOT NULL)",
    "CREATE TABLE changes (doc_id TEXT, peer INTEGER, counter_start INTEGER, counter_end INTEGER,"
    " kind TEXT, scope TEXT, author TEXT, seal_seq INTEGER, PRIMARY KEY (doc_id, peer, counter_start)) WITHOUT ROWID",
    "CREATE TABLE feed (local_seq INTEGER PRIMARY KEY, author TEXT NOT NULL, seq INTEGER NOT NULL,"
    " scope TEXT NOT NULL, down INTEGER, body BLOB NOT NULL, signature BLOB NOT NULL, received_from TEXT,"
    " received_at TEXT)",
    "CREATE TABLE peers (node_id TEXT PRIMARY KEY, recv_upto INTEGER DEFAULT 0, sent_upto INTEGER DEFAULT 0,"
    " last_contact TEXT, seals_in INTEGER DEFAULT 0, seals_out INTEGER DEFAULT 0, bytes_in INTEGER DEFAULT 0,"
    " bytes_out INTEGER DEFAULT 0)",
    "CREATE INDEX changes_unsealed ON changes(seal_seq)",
    "CREATE TABLE clerks (clerk_id TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '1'), ('seq:seal', '7')",
    "INSERT INTO peers(node_id, recv_upto, sent_upto) VALUES ('440608100', 3, 5)",
    "INSERT INTO clerks VALUES ('c01', '李敏', '[\"民政\"]', '2026-11-16T09:00:00+08:00')",
    "CREATE TABLE node_keys (node_id TEXT PRIMARY KEY, public_key BLOB, source TEXT)",
    f"INSERT INTO node_keys VALUES ('440608100000', x'{'ab' * 32}', 'trusted')",
]


@pytest.fixture
def v1_file(tmp_path):
    path = tmp_path / "yimen.db"
    conn = driver.connect(path)
    for sql in V1:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return path


def dump(path) -> list[str]:
    conn = driver.connect(path)
    try:
        return list(driver.iterdump(conn))
    finally:
        conn.close()


def indexes(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_fresh_file_gets_every_table_and_records_its_versions(tmp_path):
    store = Store(tmp_path / "new.db", schemas=[NODE_SCHEMA])
    try:
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"docs", "changes", "feed", "pending", "unapplied", "quarantine", "peers", "peer_owners",
                "node_certs", "key_cuts", "meta", "cases", "case_events", "catalog_items", "clerks", "invitations"} <= tables
        assert store.meta(SYNC_SCHEMA.version_key) == str(SYNC_SCHEMA.version)
        assert store.meta(NODE_SCHEMA.version_key) == str(NODE_SCHEMA.version)
        assert [m.name for m in SYNC_SCHEMA.applied(store.db)] == SYNC_SCHEMA.names
    finally:
        store.close()


def test_an_old_node_file_is_upgraded_with_its_rows_kept(v1_file):
    store = Store(v1_file, schemas=[NODE_SCHEMA])
    try:
        assert "changes_unsealed" not in indexes(store) and "changes_unsealed_flow" in indexes(store)
        assert store.peers.positions("440608100") == (3, 5)
        assert store.meta("seq:seal") == "7"
        assert store.conn.execute("SELECT name FROM clerks").fetchall() == [("李敏",)]
        assert store.keys.public_key("440608100000") == bytes.fromhex("ab" * 32)  # kept, as a bare pinned key
        assert store.quarantine.count() == 0 and store.feed.backlog() == 0  # tables v1 lacked exist now
        assert store.meta(SYNC_SCHEMA.version_key) == str(SYNC_SCHEMA.version)
    finally:
        store.close()
    after = dump(v1_file)
    Store(v1_file, schemas=[NODE_SCHEMA]).close()  # opening an up-to-date file writes nothing
    assert dump(v1_file) == after


OLD_QUARANTINE = ("CREATE TABLE quarantine (id INTEGER PRIMARY KEY, received_from TEXT, received_at TEXT,"
                  " author TEXT, seq INTEGER, reason TEXT, body BLOB, signature BLOB)")


def test_an_old_quarantine_is_deduplicated_bounded_and_counted(v1_file, monkeypatch):
    """Rows an older Yimen kept without bound: duplicates go, the newest KEEP_PER_PEER per
    peer stay, and every refusal is counted per peer and reason class."""
    monkeypatch.setattr(Quarantine, "KEEP_PER_PEER", 3)
    v, w = "440608100201", "440608100202"
    rows = [(v, "t0", v, 5, f"bad signature on seal {v}#5", b"b5", b"s")] * 3 + \
        [(v, f"t{i}", v, i, f"bad signature on seal {v}#{i}", f"b{i}".encode(), b"s") for i in range(10, 16)] + \
        [(w, "t9", None, None, "malformed seal: Error -3 while decompressing", b"junk", b"")]
    conn = driver.connect(v1_file)
    conn.execute(OLD_QUARANTINE)
    conn.executemany("INSERT INTO quarantine(received_from, received_at, author, seq, reason, body, signature)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    store = Store(v1_file)
    try:
        assert [(r["author"], r["seq"], r["bytes"]) for r in store.quarantine.rows()] == \
            [(v, 13, 3), (v, 14, 3), (v, 15, 3), (None, None, 4)]
        assert (store.quarantine.count(v), store.quarantine.count(w)) == (7, 1)
        assert [(q["peer"], q["reason"], q["count"], q["last_at"]) for q in store.quarantine.summary()] == [
            (v, "bad signature on seal …", 7, "t15"), (w, "malformed seal", 1, "t9")]
        # the bytes are known: delivered again, they are not quarantined again
        with store.transaction():
            assert not store.quarantine.add(v, "t99", v, 15, "bad signature", b"b15", b"s", seal_digest(b"b15", b"s"))
    finally:
        store.close()


def test_a_failed_upgrade_leaves_the_old_file_as_it_was(v1_file, monkeypatch):
    before = dump(v1_file)

    def broken(db):
        raise RuntimeError("disk pulled out mid-upgrade")
    monkeypatch.setattr(NODE_SCHEMA._migrations[-1], "fn", broken)
    with pytest.raises(RuntimeError):
        Store(v1_file, schemas=[NODE_SCHEMA])
    assert dump(v1_file) == before


@pytest.mark.parametrize("newer", [
    "INSERT INTO _sqlite_migrations(migration_set, name, applied_at) VALUES ('yimen.sync', '9999_future', 'x')",
    f"UPDATE meta SET value = '{SYNC_SCHEMA.version + 1}' WHERE key = '{SYNC_SCHEMA.version_key}'",
])
def test_a_file_from_a_newer_yimen_is_refused_and_left_alone(tmp_path, newer):
    path = tmp_path / "newer.db"
    Store(path).close()
    conn = driver.connect(path)
    conn.execute(newer)
    conn.commit()
    conn.close()
    before = dump(path)
    with pytest.raises(NewerSchema) as e:
        Store(path)
    assert "newer Yimen" in e.value.en and "更新版本" in e.value.zh
    assert dump(path) == before


def test_statements_run_one_by_one_inside_the_callers_transaction(tmp_path):
    """`executescript` would commit the upgrade's transaction half way."""
    store = Store(tmp_path / "x.db")
    try:
        with pytest.raises(RuntimeError):
            with store.transaction():
                schema_mod.run(store.db, "CREATE TABLE t1 (a)", "CREATE TABLE t2 (b)")
                raise RuntimeError("undo")
        assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('t1', 't2')").fetchone()[0] == 0
    finally:
        store.close()
