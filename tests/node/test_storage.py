"""The node's own tables as an older Yimen left them are upgraded when a newer one opens them."""

from __future__ import annotations


from support import id_number, in_supplement
from yimen.node import home, projections
from yimen.node.services import cases

CLOCK_COLUMNS = ("paused_days", "paused_since", "deadline_provisional")  # added by migration 0005


def test_a_file_from_before_the_clock_columns_gets_them_counted(node, clock) -> None:
    cid = in_supplement(node, clock)
    clock.advance(days=5)
    cases.act(node, cid, "supply", "c01")
    node.close()
    # make the file what Yimen wrote before migration 0005: no clock columns, no calendar digest
    conn = home.connect(node.home)
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
