"""What a case waits for: delivered and overdue deferred materials, the reviewers of the
current step (and the inbox of a level), conflicts and their review, history in time order
with the events that came in by a merge marked."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from support import Clock, dump, id_number
from support.chain import conflicted_case, make_chain, sync_all
from yimen.node import home, projections
from yimen.node.errors import RoleMissing
from yimen.node.services import caselist, cases, casework, clerks, reports
from yimen.schema import case as lifecycle
from yimen.sync.docs import Doc


def _accept(node, item="T-DIBAO", provided=("居民身份证",), deferred=(), seq=1):
    app = cases.Application(item, id_number(seq), f"申请人{seq}", {m: None for m in provided},
                            dict(deferred))
    return cases.accept(node, "c01", app)["case_id"]


# -- materials -------------------------------------------------------------------------
def test_a_delivered_material_is_shown_delivered_not_deferred(node):
    cid = _accept(node, "T-LOCAL", deferred={"户口簿": None})
    cases.act(node, cid, "deliver", "c01", material="户口簿")
    shown = cases.show(node, cid)
    assert shown["deferred_open"] == 0
    assert shown["materials"]["户口簿"]["status"] == "delivered"
    assert shown["materials"]["户口簿"]["delivered_at"] == node.now()
    assert shown["materials"]["居民身份证"]["status"] == "provided"


def test_a_deferred_material_past_its_date_is_flagged_and_reported(node, clock):
    cid = _accept(node, deferred={"收入证明": "2026-11-17"})
    other = _accept(node, deferred={"收入证明": "2026-11-30"}, seq=2)
    assert not cases.get_row(node, cid)["deferred_overdue"]
    clock.advance(days=2)  # 2026-11-18: the 17th has passed
    assert cases.show(node, cid)["materials"]["收入证明"]["overdue"] is True
    assert not cases.show(node, other)["materials"]["收入证明"]["overdue"]
    flagged = {r["case_id"]: r["deferred_overdue"] for r in caselist.list_cases(node)}
    assert flagged == {cid: True, other: False}
    late = [r for r in reports.overdue(node) if r["kind"] == "material"]
    assert [(r["case_id"], r["material"], r["material_due"]) for r in late] == [(cid, "收入证明", "2026-11-17")]
    cases.act(node, cid, "deliver", "c01", material="收入证明")
    assert [r for r in reports.overdue(node) if r["kind"] == "material"] == []
    assert not cases.get_row(node, cid)["deferred_overdue"]


def test_a_limited_report_holds_the_most_urgent_of_each_kind(node, clock):
    dues = ["2026-11-19", "2026-11-17", "2026-11-18", "2026-11-17", "2026-11-19", "2026-11-21"]
    for seq, due in enumerate(dues, 1):
        _accept(node, "T-LOCAL" if seq % 2 else "T-DIBAO", deferred={"户口簿" if seq % 2 else "收入证明": due}, seq=seq)
    clock.advance(days=10)  # every T-LOCAL case past its 3 working days, every promise broken
    whole = reports.overdue(node)
    assert sum(r["kind"] == "case" for r in whole) == 3 and sum(r["kind"] == "material" for r in whole) == 6
    for limit in range(len(dues) + 2):
        kinds = [[r for r in whole if r["kind"] == k][:limit] for k in ("case", "material")]
        assert reports.overdue(node, limit=limit) == kinds[0] + kinds[1], limit


def test_a_withdrawn_case_has_no_overdue_material(node, clock):
    cid = _accept(node, deferred={"收入证明": "2026-11-17"})
    cases.act(node, cid, "withdraw", "c01")
    clock.advance(days=5)
    assert not cases.show(node, cid)["materials"]["收入证明"]["overdue"]
    assert reports.overdue(node) == []


# -- waiting for -----------------------------------------------------------------------
def test_a_case_in_review_says_which_level_and_department_it_waits_for(node):
    cid = _accept(node, provided=("居民身份证", "收入证明"))
    assert cases.get_row(node, cid)["waiting_for"] == []
    cases.act(node, cid, "submit", "c01")
    assert cases.get_row(node, cid)["waiting_for"] == [{"level": "village", "department": "民政"}]
    cases.act(node, cid, "approve", "c01")
    want = [{"level": "town", "department": "民政"}]
    assert cases.show(node, cid)["waiting_for"] == want
    assert caselist.list_cases(node)[0]["waiting_for"] == want
    assert casework.inbox(node) == []  # the village decides nothing more


def test_a_parallel_step_waits_for_each_reviewer_yet_to_decide(node):
    cid = _accept(node, "T-LOCAL", provided=("居民身份证", "户口簿"))
    cases.act(node, cid, "submit", "c01")
    assert [w["department"] for w in cases.get_row(node, cid)["waiting_for"]] == ["村委会", "民政"]
    cases.act(node, cid, "approve", "c01", department="村委会")
    assert cases.get_row(node, cid)["waiting_for"] == [{"level": "village", "department": "民政"}]
    assert [r["waiting_department"] for r in casework.inbox(node)] == ["民政"]


def test_the_inbox_puts_red_and_yellow_first_then_the_oldest(node, clock):
    green = _accept(node, provided=("居民身份证", "收入证明"))  # 20 working days
    clock.advance(days=1)
    red = _accept(node, "T-LOCAL", provided=("居民身份证", "户口簿"), seq=2)  # 3 working days
    for cid in (green, red):
        cases.act(node, cid, "submit", "c01")
    clock.advance(days=7)
    rows = casework.inbox(node)
    assert [(r["waiting_department"], r["case_id"], r["card"]) for r in rows] == [
        ("村委会", red, "red"), ("民政", red, "red"), ("民政", green, "green")]
    assert [r["case_id"] for r in casework.inbox(node, department="村委会")] == [red]
    assert casework.inbox(node, department="社保") == []


# -- conflicts, review, merged history ---------------------------------------------------
@pytest.fixture
def conflict(tmp_path):
    """A T-DIBAO case at village A in review at the town: offline, the village returns it
    while the town approves it; after the sync one of the two is flagged."""
    clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))
    nodes = make_chain(tmp_path, clock=clock)
    try:
        cid = conflicted_case(nodes, clock)
        yield nodes, cid
    finally:
        for n in nodes.values():
            n.close()


def test_a_conflict_is_listed_reviewed_and_stays_in_the_history(conflict):
    nodes, cid = conflict
    village, town = nodes["village_a"], nodes["town"]
    shown = cases.show(village, cid)
    assert shown["conflicts"] == shown["conflicts_open"] == 1
    assert [r["case_id"] for r in caselist.list_cases(village, conflicts=True)] == [cid]
    flagged = next(e for e in shown["history"] if e["conflict"])
    # either side may review it: both hold the flagged event's role (民政 for the town's
    # approval, 民政 too for the village's return of a 民政 item)
    row = casework.review(town, cid, flagged["no"], "已与镇街核实", "t01")
    assert row["conflicts_open"] == 0 and row["conflicts"] == 1
    sync_all(nodes)
    for node in (village, town, nodes["city"]):
        shown = cases.show(node, cid)
        assert caselist.list_cases(node, conflicts=True) == []
        still = next(e for e in shown["history"] if e["conflict"])
        review = next(e for e in shown["history"] if e["action"] == "review")
        assert still["no"] == flagged["no"] and still["resolved_by"] == review["idx"]
        assert review["resolves"] == still["idx"] and review["reason"] == "已与镇街核实"
        assert review["conflict"] == 0
        before = projections.dump(node.store)
        projections.rebuild(node.store, node.calendar)
        assert projections.dump(node.store) == before


def test_a_review_is_refused_for_an_unflagged_or_reviewed_event_or_the_wrong_role(conflict):
    nodes, cid = conflict
    village = nodes["village_a"]
    flagged = next(e for e in cases.show(village, cid)["history"] if e["conflict"])
    clerks.add(village, "c09", "张三", ["社保"])
    before = dump(village)
    with pytest.raises(casework.ReviewRefused):
        casework.review(village, cid, 1, "看过了", "c01")  # the acceptance is not flagged
    with pytest.raises(casework.ReviewRefused):
        casework.review(village, cid, 99, "看过了", "c01")
    with pytest.raises(casework.ReviewRefused):
        casework.review(village, cid, flagged["no"], " ", "c01")
    with pytest.raises(RoleMissing):
        casework.review(village, cid, flagged["no"], "看过了", "c09")
    assert dump(village) == before
    casework.review(village, cid, flagged["no"], "看过了", "c01")
    with pytest.raises(casework.ReviewRefused):
        casework.review(village, cid, flagged["no"], "再看一次", "c01")


def test_the_event_that_came_in_by_merge_is_marked(conflict):
    nodes, cid = conflict
    history = cases.show(nodes["village_a"], cid)["history"]
    offline = [e for e in history if e["action"] == "returned" or e["node"] == nodes["town"].node_id]
    merged = [e for e in history if e["merged"]]
    assert len(offline) == 2 and len(merged) == 1 and merged[0] in offline
    other = next(e for e in offline if e is not merged[0])
    assert merged[0]["concurrent_with"] == [other["no"]] and other["no"] < merged[0]["no"]


def _merged_offline(node, times):
    """A case of `node` into which two offline copies (fixed Loro peers, so the merged order
    is the same on every run) each appended one event at the given times."""
    cid = _accept(node, "T-LOCAL", provided=("居民身份证", "户口簿"))
    base = node.store.get(cid)
    copies = []
    for peer, (action, at) in zip((101, 202), times):
        copy = Doc.from_bytes(cid, "case", base.scope, base.oplog(), peer)
        copy.append("history", lifecycle.Event(action, "c01", "村委会", node.node_id, at).to_dict())
        copy.commit()
        copies.append(copy)
    for copy in copies:
        base.merge(copy)
    with node.store.transaction():
        node.store.put_doc(base, base.oplog())
        projections.refresh(node.store, base, node.calendar)
    return cid


def test_history_is_shown_in_time_order_whatever_the_merged_order(node):
    early, late = "2026-11-16T10:00:00+08:00", "2026-11-16T11:00:00+08:00"
    against_the_clock = 0
    for times in ((("submit", late), ("withdraw", early)), (("submit", early), ("withdraw", late))):
        cid = _merged_offline(node, times)
        stored = [e["at"] for e in node.store.get(cid).value()["history"]]
        against_the_clock += stored != sorted(stored)
        history = cases.show(node, cid)["history"]
        assert [e["at"] for e in history] == sorted(stored)
        assert sum(e["merged"] for e in history) == 1  # the second of the two in merged order
    assert against_the_clock == 1  # the times were swapped between the runs
    assert cases.in_time_order([{"at": "2026-11-16T03:00:00+00:00", "idx": 0},
                                {"at": "2026-11-16T10:30:00+08:00", "idx": 1}])[0]["idx"] == 1


def test_time_order_ties_and_unreadable_times_keep_the_merged_order():
    events = [{"at": "x", "idx": 0}, {"at": "2026-11-16T10:00:00", "idx": 1},
              {"at": "2026-11-16T02:00:00+00:00", "idx": 2}, {"at": None, "idx": 3}]
    assert [e["idx"] for e in cases.in_time_order(events)] == [1, 2, 0, 3]


def test_a_projected_row_names_no_column_it_does_not_derive(node):
    cid = _accept(node, provided=("居民身份证", "收入证明"))
    cases.act(node, cid, "submit", "c01")
    before = projections.dump(node.store)
    projections.rebuild(node.store, node.calendar)
    assert projections.dump(node.store) == before
    assert before["case_waits"] == [(cid, "民政", "village")]
    assert date.fromisoformat(cases.get_row(node, cid)["deadline"])


def test_a_reason_longer_than_the_limit_is_refused_not_cut(node):
    from yimen.schema.case import MAX_REASON, IllegalTransition
    cid = _accept(node, provided=("居民身份证", "收入证明"))
    before = dump(node)
    for act in (lambda r: cases.act(node, cid, "returned", "c01", r),
                lambda r: cases.not_accept(node, "c01", "T-DIBAO", id_number(9), "陈美玲", r)):
        with pytest.raises(IllegalTransition) as refused:
            act("理" * (MAX_REASON + 1))
        assert refused.value.zh == f"理由最多 {MAX_REASON} 字，现有 {MAX_REASON + 1} 字"
    assert dump(node) == before
    cases.act(node, cid, "returned", "c01", "理" * MAX_REASON)
