"""A node file written before a migration of the node's tables is brought up to date on
opening, to exactly the rows a rebuild derives."""

from __future__ import annotations

from support import id_number
from yimen.node import home, projections
from yimen.node.services import cases


def test_an_older_file_gets_its_waits_and_open_conflicts_as_a_rebuild_would(node, clock):
    for seq in (1, 2):
        cid = cases.accept(node, "c01", cases.Application(
            "T-LOCAL", id_number(seq), "陈", {"居民身份证": None, "户口簿": None}, {}))["case_id"]
        cases.act(node, cid, "submit", "c01")
    cases.act(node, cid, "approve", "c01", department="村委会")
    expected = projections.dump(node.store)
    conn = node.store.conn
    with node.store.transaction():  # the file as 0003 left it
        conn.execute("DROP TABLE case_waits")
        for table, col in (("cases", "conflicts_open"), ("cases", "deferred_list"), ("case_events", "resolves"),
                           ("case_events", "resolved_by")):
            conn.execute("DROP INDEX IF EXISTS cases_conflicts_open")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0005_clock_waits_reviews'")
        conn.execute("DELETE FROM meta WHERE key = ?", (projections.CALENDAR_META,))  # 0005 came with it
    path = node.home
    node.close()
    again = home.open_node(path, clock=clock)
    try:
        assert projections.dump(again.store) == expected
        assert len(expected["case_waits"]) == 3
    finally:
        again.close()
