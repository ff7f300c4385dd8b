"""The node's own tables as an older Yimen left them are upgraded when a newer one opens them."""

from __future__ import annotations

import sqlite3

from support import id_number
from yimen.node import home
from yimen.node.services import cases

CLOCK_COLUMNS = ("paused_days", "paused_since", "deadline_provisional")  # added by migration 0005


def test_a_file_from_before_the_clock_columns_gets_them_counted(node, clock) -> None:
    app = cases.Application("T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(node, "c01", app)["case_id"]
    cases.act(node, cid, "submit", "c01")
    clock.advance(days=2)
    cases.act(node, cid, "supplement", "c01", reason="缺")
    clock.advance(days=5)
    cases.act(node, cid, "supply", "c01")
    node.close()
    # make the file what Yimen wrote before migration 0005: no clock columns, no calendar digest
    conn = sqlite3.connect(node.home / home.DB_FILE)
    for c in CLOCK_COLUMNS:
        conn.execute(f"ALTER TABLE cases DROP COLUMN {c}")
    conn.execute("UPDATE cases SET deadline = '2026-12-14'")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0005_clock_waits_reviews'")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version:yimen.node'")
    conn.execute("DELETE FROM meta WHERE key = 'projections_calendar'")
    conn.commit()
    conn.close()
    with home.open_node(node.home, clock=clock) as again:
        row = cases.get_row(again, cid)
        assert (row["deadline"], row["paused_days"], row["deadline_provisional"]) == ("2026-12-17", 3, 0)
