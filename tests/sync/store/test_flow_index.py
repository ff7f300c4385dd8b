"""The unsealed-order index is built on the flow expression of today's kinds, so the
sealing query uses it (an index on an expression serves only a query spelling it the same)."""

from __future__ import annotations

from yimen.sync.store import Store
from yimen.sync.visibility import FLOW_SQL

QUERY = (f"SELECT doc_id, kind, scope, peer, counter_start, counter_end, {FLOW_SQL} FROM changes"
         f" WHERE seal_seq IS NULL ORDER BY {FLOW_SQL} DESC, scope, doc_id, peer, counter_start LIMIT 10")


def plan(store: Store) -> str:
    return " ".join(str(r[-1]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {QUERY}"))


def test_the_sealing_query_uses_the_flow_index(tmp_path):
    store = Store(tmp_path / "new.db")
    try:
        assert "credential_revocation" in FLOW_SQL
        assert "changes_unsealed_flow" in plan(store) and "TEMP B-TREE" not in plan(store)
    finally:
        store.close()


def test_a_file_indexed_on_the_old_kinds_is_reindexed(tmp_path):
    store = Store(tmp_path / "old.db")
    old = FLOW_SQL.replace(", 'credential_revocation'", "").replace("'credential_revocation', ", "")
    assert old != FLOW_SQL
    with store.transaction():
        store.conn.execute("DROP INDEX changes_unsealed_flow")
        store.conn.execute(f"CREATE INDEX changes_unsealed_flow ON changes({old} DESC, scope, doc_id, peer,"
                           " counter_start) WHERE seal_seq IS NULL")
        store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_space_flow'")
    assert "TEMP B-TREE" in plan(store)  # the stale index no longer orders the query
    store.close()
    store = Store(tmp_path / "old.db")
    try:
        assert "changes_unsealed_flow" in plan(store) and "TEMP B-TREE" not in plan(store)
    finally:
        store.close()
