from __future__ import annotations

from support import id_number
from yimen.node.services import cases
from yimen.node import projections


def _busy_day(node, clock):
    ids = []
    for i in range(12):
        item, provided, deferred = [
            ("T-IMM", {"居民身份证": None}, {}),
            ("T-LOCAL", {"居民身份证": "ab" * 32}, {"户口簿": "2026-11-18"}),
            ("T-DIBAO", {"居民身份证": None}, {"收入证明": None}),
        ][i % 3]
        ids.append(cases.accept(node, "c01", cases.Application(item, id_number(i), f"申请人{i}",
                                                                provided, deferred))["case_id"])
        clock.advance(hours=5)
    for cid in ids[1::3] + ids[2::3]:
        cases.act(node, cid, "submit", "c01")
    cases.act(node, ids[1], "supplement", "c01", reason="户口簿复印件不清晰")
    cases.act(node, ids[2], "returned", "c01", reason="不符合申请条件")
    cases.act(node, ids[4], "approve", "c01", department="村委会")
    cases.act(node, ids[5], "withdraw", "c01")
    cases.not_accept(node, "c01", "T-DIBAO", id_number(99), "赵六", "非本村户籍")


def test_rebuild_reproduces_projections_exactly(node, clock):
    _busy_day(node, clock)
    live = projections.dump(node.store)
    assert len(live["cases"]) == 13 and len(live["case_events"]) > 13
    n = projections.rebuild(node.store, node.calendar)
    assert n == 3 + 13
    assert projections.dump(node.store) == live


def test_rebuild_repairs_a_tampered_projection(node, clock):
    _busy_day(node, clock)
    live = projections.dump(node.store)
    with node.store.transaction():
        node.store.conn.execute("UPDATE cases SET status = 'completed'")
        node.store.conn.execute("DELETE FROM case_events WHERE idx = 0")
    projections.rebuild(node.store, node.calendar)
    assert projections.dump(node.store) == live
