"""Two offline copies of one case diverge, then merge: every copy derives the same status,
and the transition that lost is kept in the history and flagged for review."""

from __future__ import annotations

from support import id_number
from yimen.node.services import cases, catalog
from yimen.node.projections import case_rows
from yimen.schema import case as lifecycle
from yimen.sync.docs import Doc


def _diverge(node, actions):
    cid = cases.accept(node, "c01", cases.Application(
        "T-LOCAL", id_number(), "陈美玲", {"居民身份证": None, "户口簿": None}, {}))["case_id"]
    for a, dept in (("submit", None), ("approve", "村委会"), ("approve", "民政"), ("issue_result", None)):
        cases.act(node, cid, a, "c01", department=dept)
    base = node.store.get(cid)
    copies = []
    for peer, (action, reason) in zip((101, 202), actions):
        copy = Doc.from_bytes(cid, "case", base.scope, base.oplog(), peer)
        ev = lifecycle.Event(action, "c01", "村委会", node.node_id, "2026-11-16T10:00:00+08:00", reason=reason)
        copy.append("history", ev.to_dict())
        copy.commit()
        copies.append(copy)
    a, b = copies
    a_before = Doc.from_bytes(cid, "case", base.scope, a.oplog(), 303)
    a.merge(b)
    b.merge(a_before)
    return a, b, catalog.of_case(node, base.value()["case"])


def test_merged_copies_derive_the_same_status_and_flag_the_loser(node):
    a, b, item = _diverge(node, [("complete", ""), ("withdraw", "申请人不再需要")])
    assert a.value() == b.value()
    row_a, events_a = case_rows(a, a.value(), item, node.calendar)
    row_b, events_b = case_rows(b, b.value(), item, node.calendar)
    assert (row_a, events_a) == (row_b, events_b)
    assert row_a["conflicts"] == 1
    flagged = [e for e in events_a if e["conflict"]]
    applied_last = [e for e in events_a if not e["conflict"]][-1]
    assert {flagged[0]["action"], applied_last["action"]} == {"complete", "withdraw"}
    # withdraw is illegal once a result is issued: complete must win whatever the order
    assert row_a["status"] == "completed" and flagged[0]["action"] == "withdraw"


def test_merge_keeps_every_event(node):
    a, b, item = _diverge(node, [("complete", ""), ("complete", "")])
    history = a.value()["history"]
    assert [e["action"] for e in history][-2:] == ["complete", "complete"]
    row, events = case_rows(a, a.value(), item, node.calendar)
    assert row["status"] == "completed" and row["conflicts"] == 1 and events[-1]["conflict"] == 1
