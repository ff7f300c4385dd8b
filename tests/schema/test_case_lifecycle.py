"""The case lifecycle as pure functions: which transition is legal in which status, what a
decision needs, and that replaying any history is total, deterministic and incremental."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.case import (
    ACTION_ZH, ACTIONS, NEEDS_REASON, STATUS_ZH, STATUSES, TERMINAL, CaseState, Event, IllegalTransition,
    MAX_REASON, apply, check, reason_of, replay,
)
from yimen.schema.catalog import CatalogItem, Material, Reviewer

VILLAGE = "440608100201"
OTHER_VILLAGE = "440608100202"
TOWN = "440608100000"
AT = "2026-11-16T09:00:00+08:00"


def item(code, steps=(), time_limit=5, materials=None):
    return CatalogItem(
        code=code, name=f"测试事项{code}", department="民政", legal_basis="《测试条例》",
        accept_level="village", time_limit_days=time_limit, fee=0,
        steps=[[Reviewer(level, dept) for level, dept in step] for step in steps],
        materials=materials or [Material("居民身份证", "mandatory", "id_card"),
                                Material("户口簿", "deferrable", "household_register"),
                                Material("收入证明", "deferrable", "income_proof")],
    )


IMMEDIATE = item("IMM", time_limit=0, materials=[Material("居民身份证", "mandatory")])
PARALLEL = item("PAR", steps=[[("village", "村委会"), ("village", "民政")]])
TWO_LEVELS = item("TWO", steps=[[("village", "民政")], [("town", "民政")]])
NO_STEPS = item("NOSTEP", steps=[])
ITEMS = (IMMEDIATE, PARALLEL, TWO_LEVELS, NO_STEPS)


def ev(action, node=VILLAGE, reason="", step=None, department=None, material=None):
    return Event(action, "c01", "民政", node, AT, reason=reason, step=step,
                 department=department, material=material)


def run(it, *events, deferred=()):
    """Apply events one by one, each of which must be legal."""
    state = CaseState()
    for e in events:
        check(state, e, it)
        state = apply(state, e, it, deferred)
    return state


def refused(state, e, it, match):
    with pytest.raises(IllegalTransition, match=match) as info:
        check(state, e, it)
    return info.value


# ---------------------------------------------------------------- the transition table

LEGAL = {
    "new": {"accept", "not_accepted"},
    "accepted": {"returned", "supplement", "submit", "deliver", "withdraw"},
    "supplement": {"not_accepted", "returned", "supply", "deliver", "withdraw"},
    "in_review": {"returned", "supplement", "approve", "reject", "deliver", "withdraw"},
    "approved": {"issue_result", "deliver", "withdraw"},
    "result_issued": {"complete", "deliver"},
    **{s: set() for s in TERMINAL},
}


def test_table_covers_every_status():
    assert set(LEGAL) == set(STATUSES)


def _probe(status, action, it=PARALLEL):
    """A state in `status` and an event for `action` that is right in every other respect
    (reason given, current step, a reviewing department at its level, an outstanding
    deferred material for a delivery)."""
    state = CaseState(status=status, step=0, resume="accepted" if status == "supplement" else "")
    material = None
    if action == "deliver":
        state = state._replace(deferred_open=frozenset({"户口簿"}))
        material = "户口簿"
    step, dept = (0, "村委会") if action in ("approve", "reject") else (None, None)
    return state, ev(action, reason="理由", step=step, department=dept, material=material)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_table(status, action):
    state, e = _probe(status, action)
    if action in LEGAL[status]:
        check(state, e, PARALLEL)
        after = apply(state, e, PARALLEL)
        assert after.status in STATUSES
    else:
        err = refused(state, e, PARALLEL, f"cannot {action} a case in status {status}$")
        assert err.en == str(err)
        assert err.zh.startswith(f"{STATUS_ZH[status]}状态下不能")


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_table_immediate_item(status, action):
    """An immediate item is never submitted; it completes straight from accepted."""
    if action in ("approve", "reject"):
        return  # an immediate item has no steps; covered by the table above
    legal = set(LEGAL[status])
    if status == "accepted":
        legal = (legal - {"submit"}) | {"complete"}
    state, e = _probe(status, action, IMMEDIATE)
    if action in legal:
        check(state, e, IMMEDIATE)
    else:
        refused(state, e, IMMEDIATE, f"cannot {action} a case in status {status}")


def test_terminal_statuses_accept_nothing():
    for status in TERMINAL:
        for action in ACTIONS:
            state, e = _probe(status, action)
            refused(state, e, PARALLEL, f"in status {status}$")


def test_unknown_action_is_refused():
    refused(CaseState(), ev("teleport"), PARALLEL, "unknown action 'teleport'")


def test_accept_records_time_and_deferred_materials():
    state = run(PARALLEL, ev("accept"), deferred=("户口簿",))
    assert state.status == "accepted" and state.accepted_at == AT
    assert state.deferred_open == {"户口簿"} and state.closed_at is None


# ---------------------------------------------------------------- reasons

REASON_STATES = {"not_accepted": CaseState(), "returned": CaseState(status="accepted"),
                 "supplement": CaseState(status="accepted"),
                 "reject": CaseState(status="in_review")}


@pytest.mark.parametrize("action", sorted(NEEDS_REASON))
@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_refusals_need_a_reason(action, reason):
    assert set(REASON_STATES) == NEEDS_REASON
    dept = ("村委会", 0) if action == "reject" else (None, None)
    e = ev(action, reason=reason, department=dept[0], step=dept[1])
    err = refused(REASON_STATES[action], e, PARALLEL, f"^{action} needs a reason$")
    assert err.zh == f"{ACTION_ZH[action]}须填写理由"  # and not blamed on the status
    check(REASON_STATES[action], replace(e, reason="材料不全"), PARALLEL)


@pytest.mark.parametrize("action", ["accept", "submit", "supply", "withdraw", "complete"])
def test_other_actions_need_no_reason(action):
    state = {"accept": CaseState(), "submit": CaseState(status="accepted"),
             "supply": CaseState(status="supplement", resume="accepted"),
             "withdraw": CaseState(status="accepted"),
             "complete": CaseState(status="result_issued")}[action]
    check(state, ev(action), PARALLEL)


def test_refusals_end_or_pause_the_case_and_keep_the_event():
    e = ev("not_accepted", reason="不属于本中心受理范围")
    state = run(PARALLEL, e)
    assert state.status == "not_accepted" and state.refusal == e and state.closed_at == AT
    state = run(PARALLEL, ev("accept"), ev("submit"), ev("returned", reason="申请人不符合条件"))
    assert state.status == "returned" and state.refusal.reason == "申请人不符合条件"


# ---------------------------------------------------------------- supplement

def test_supply_resumes_the_status_before_the_supplement():
    state = run(PARALLEL, ev("accept"), ev("supplement", reason="缺相片"), ev("supply"))
    assert state.status == "accepted" and state.resume == ""
    state = run(TWO_LEVELS, ev("accept"), ev("submit"),
                ev("approve", step=0, department="民政"),
                ev("supplement", reason="收入证明不清晰"))
    assert state.status == "supplement" and state.resume == "in_review" and state.step == 1
    state = apply(state, ev("supply"), TWO_LEVELS)
    assert state.status == "in_review" and state.step == 1
    assert state.approvals == {(0, "民政")}


def test_supplement_cannot_be_supplemented_again():
    state = run(PARALLEL, ev("accept"), ev("supplement", reason="缺相片"))
    refused(state, ev("supplement", reason="还缺"), PARALLEL, "a case in status")


# ---------------------------------------------------------------- approval steps

def _in_review(it, deferred=()):
    return run(it, ev("accept"), ev("submit"), deferred=deferred)


def test_parallel_step_needs_every_reviewer():
    state = _in_review(PARALLEL)
    assert state.status == "in_review" and state.step == 0
    one = apply(state, ev("approve", step=0, department="村委会"), PARALLEL)
    assert one.status == "in_review" and one.step == 0
    refused(one, ev("approve", step=0, department="村委会"), PARALLEL, "already decided")
    both = apply(one, ev("approve", step=0, department="民政"), PARALLEL)
    assert both.status == "approved"
    # the other order gives the same result
    other = run(PARALLEL, ev("accept"), ev("submit"), ev("approve", step=0, department="民政"),
                ev("approve", step=0, department="村委会"))
    assert other.status == "approved" and other.approvals == both.approvals


def test_one_rejection_ends_a_parallel_step():
    state = run(PARALLEL, ev("accept"), ev("submit"), ev("approve", step=0, department="村委会"),
                ev("reject", step=0, department="民政", reason="不符合条件"))
    assert state.status == "rejected" and state.closed_at == AT
    for action in ACTIONS:
        refused(state, _probe("rejected", action)[1], PARALLEL, "a case in status")


def test_a_department_that_approved_cannot_then_reject():
    state = apply(_in_review(PARALLEL), ev("approve", step=0, department="村委会"), PARALLEL)
    refused(state, ev("reject", step=0, department="村委会", reason="反悔"), PARALLEL,
            "already decided")


def test_steps_move_up_level_by_level():
    state = _in_review(TWO_LEVELS)
    state = apply(state, ev("approve", step=0, department="民政"), TWO_LEVELS)
    assert state.status == "in_review" and state.step == 1
    state = apply(state, ev("approve", TOWN, step=1, department="民政"), TWO_LEVELS)
    assert state.status == "approved" and state.step == 2


@pytest.mark.parametrize("node,step,department,message", [
    (TOWN, 0, "民政", "this step is decided at village level"),
    (VILLAGE, 0, "社保", "this step is reviewed by 民政"),
    (VILLAGE, 0, None, "this step is reviewed by 民政"),
    (VILLAGE, 1, "民政", "the case is at step 1"),
    (VILLAGE, None, "民政", "the case is at step 1"),
])
def test_decision_from_wrong_level_department_or_step(node, step, department, message):
    state = _in_review(TWO_LEVELS)
    for action, reason in (("approve", ""), ("reject", "不符合条件")):
        refused(state, ev(action, node, reason=reason, step=step, department=department),
                TWO_LEVELS, message)


@pytest.mark.parametrize("node,step,message", [
    (VILLAGE, 1, "this step is decided at town level"),
    (OTHER_VILLAGE, 1, "this step is decided at town level"),
    (TOWN, 0, "the case is at step 2"),
    (TOWN, 2, "the case is at step 2"),
])
def test_second_step_needs_the_town(node, step, message):
    state = run(TWO_LEVELS, ev("accept"), ev("submit"), ev("approve", step=0, department="民政"))
    refused(state, ev("approve", node, step=step, department="民政"), TWO_LEVELS, message)


def test_item_without_steps_is_approved_on_submit():
    state = run(NO_STEPS, ev("accept"), ev("submit"))
    assert state.status == "approved"
    refused(state, ev("approve", step=0, department="民政"), NO_STEPS, "a case in status")


# ---------------------------------------------------------------- deferred materials

def test_issue_result_waits_for_deferred_materials():
    state = run(PARALLEL, ev("accept"), ev("submit"), ev("approve", step=0, department="村委会"),
                ev("approve", step=0, department="民政"), deferred=("户口簿", "收入证明"))
    assert state.status == "approved"
    err = refused(state, ev("issue_result"), PARALLEL,
                  "deferred material outstanding: 户口簿, 收入证明")
    assert "容缺材料未补交" in err.zh
    state = apply(state, ev("deliver", material="户口簿"), PARALLEL)
    refused(state, ev("issue_result"), PARALLEL, "deferred material outstanding: 收入证明$")
    refused(state, ev("deliver", material="户口簿"), PARALLEL,
            "'户口簿' is not an outstanding deferred material")
    state = apply(state, ev("deliver", material="收入证明"), PARALLEL)
    assert state.deferred_open == frozenset() and state.status == "approved"
    state = apply(state, ev("issue_result"), PARALLEL)
    assert state.status == "result_issued"
    assert apply(state, ev("complete"), PARALLEL).status == "completed"


@pytest.mark.parametrize("material", ["居民身份证", "相片"])
def test_only_outstanding_deferred_materials_can_be_delivered(material):
    state = run(PARALLEL, ev("accept"), deferred=("户口簿",))
    refused(state, ev("deliver", material=material), PARALLEL,
            "is not an outstanding deferred material")


def test_deliver_in_any_open_status_but_not_before_acceptance_or_after_the_end():
    state = run(PARALLEL, ev("accept"), ev("supplement", reason="缺相片"), deferred=("户口簿",))
    assert apply(state, ev("deliver", material="户口簿"), PARALLEL).status == "supplement"
    refused(CaseState(deferred_open=frozenset({"户口簿"})), ev("deliver", material="户口簿"),
            PARALLEL, "a case in status")
    state = run(PARALLEL, ev("accept"), ev("withdraw"), deferred=("户口簿",))
    refused(state, ev("deliver", material="户口簿"), PARALLEL, "a case in status")


# ---------------------------------------------------------------- immediate items

def test_immediate_item_completes_from_accepted():
    state = run(IMMEDIATE, ev("accept"), ev("complete"))
    assert state.status == "completed" and state.closed_at == AT
    refused(run(IMMEDIATE, ev("accept")), ev("submit"), IMMEDIATE, "cannot submit")


def test_non_immediate_item_cannot_complete_from_accepted():
    for it in (PARALLEL, NO_STEPS):
        refused(run(it, ev("accept")), ev("complete"), it,
                "cannot complete a case in status accepted")


# ---------------------------------------------------------------- withdraw

@pytest.mark.parametrize("events,ok", [
    ((), False),
    ((ev("accept"),), True),
    ((ev("accept"), ev("supplement", reason="缺")), True),
    ((ev("accept"), ev("submit")), True),
    ((ev("accept"), ev("submit"), ev("approve", step=0, department="民政"),
      ev("approve", TOWN, step=1, department="民政")), True),
    ((ev("accept"), ev("submit"), ev("approve", step=0, department="民政"),
      ev("approve", TOWN, step=1, department="民政"), ev("issue_result")), False),
    ((ev("accept"), ev("withdraw")), False),
    ((ev("not_accepted", reason="不符"),), False),
])
def test_withdraw(events, ok):
    state = run(TWO_LEVELS, *events)
    if ok:
        after = apply(state, ev("withdraw"), TWO_LEVELS)
        assert after.status == "withdrawn" and after.closed_at == AT
    else:
        refused(state, ev("withdraw"), TWO_LEVELS, "cannot withdraw")


# ---------------------------------------------------------------- replay

def test_replay_flags_the_loser_and_keeps_going():
    history = [ev("accept"), ev("complete"), ev("submit"), ev("withdraw"), ev("withdraw")]
    state = replay(history, PARALLEL)
    assert state.status == "withdrawn" and state.conflicts == (1, 4)


events = st.builds(
    Event,
    action=st.sampled_from(ACTIONS + ("teleport",)),
    actor=st.sampled_from(["c01", "c02"]),
    role=st.sampled_from(["民政", "村委会"]),
    node=st.sampled_from([VILLAGE, OTHER_VILLAGE, TOWN]),
    at=st.sampled_from([AT, "2026-11-17T15:30:00+08:00"]),
    reason=st.sampled_from(["", " ", "材料不全"]),
    step=st.one_of(st.none(), st.integers(0, 2)),
    department=st.sampled_from([None, "民政", "村委会", "社保"]),
    material=st.sampled_from([None, "居民身份证", "户口簿", "收入证明"]),
)
# decisions with fields that fit the test items' steps, so histories often get far
decisions = st.builds(
    lambda action, fit, reason: Event(action, "c01", fit[1], fit[2], AT, reason=reason,
                                      step=fit[0], department=fit[1]),
    st.sampled_from(["approve", "approve", "reject"]),
    st.sampled_from([(0, "民政", VILLAGE), (0, "村委会", VILLAGE), (1, "民政", TOWN)]),
    st.sampled_from(["", "不符合条件"]),
)
some_events = st.one_of(events, decisions)
# most random histories never get past "new": often start them with an acceptance
starts = st.sampled_from([[], [ev("accept")], [ev("accept"), ev("submit")]])
histories = st.builds(lambda head, tail: head + tail, starts, st.lists(some_events, max_size=40))
deferreds = st.lists(st.sampled_from(["户口簿", "收入证明"]), unique=True)


def _step_by_step(state, history, it, deferred, offset=0):
    conflicts = list(state.conflicts)
    for i, e in enumerate(history, start=offset):
        try:
            check(state, e, it)
        except IllegalTransition:
            conflicts.append(i)
            continue
        state = apply(state, e, it, deferred)
    return state._replace(conflicts=tuple(conflicts))


@given(st.sampled_from(ITEMS), histories, deferreds, st.data())
def test_replay_is_total_and_incremental(it, history, deferred, data):
    state = replay(history, it, deferred)
    assert state.status in STATUSES
    assert all(0 <= i < len(history) for i in state.conflicts)
    assert _step_by_step(CaseState(), history, it, deferred) == state
    cut = data.draw(st.integers(0, len(history)), label="cut")
    head = replay(history[:cut], it, deferred)
    assert _step_by_step(head, history[cut:], it, deferred, offset=cut) == state
    # the round trip through the stored form changes nothing
    stored = [Event.from_dict(e.to_dict()) for e in history]
    assert replay(stored, it, deferred) == state
    if state.status in TERMINAL:
        assert state.closed_at is not None


@given(st.sampled_from(ITEMS), histories, deferreds)
def test_terminal_status_is_final_in_replay(it, history, deferred):
    state = CaseState()
    for e in history:
        try:
            check(state, e, it)
        except IllegalTransition:
            continue
        before, state = state.status, apply(state, e, it, deferred)
        if before in TERMINAL:
            raise AssertionError(f"left terminal status {before} by {e.action}")


def test_messages_say_the_one_thing_wrong_in_chinese_words():
    """Seen: `本步须由town级审批`, `材料“None”不是待补交的容缺材料`, and a missing reason
    blamed on the status (`审批中状态下不能补正：必须填写理由`)."""
    in_review = CaseState(status="in_review", step=1)
    err = refused(in_review, ev("approve", VILLAGE, step=1, department="民政"), TWO_LEVELS, "town level")
    assert err.zh == "不能批准：本步须由镇街级审批"
    err = refused(CaseState(status="accepted"), ev("deliver"), PARALLEL, "name the deferred material")
    assert "None" not in err.zh and err.zh == "不能补交容缺材料：须写明补交的是哪一项容缺材料"
    err = refused(CaseState(status="in_review"), ev("supplement"), PARALLEL, "^supplement needs a reason$")
    assert err.zh == "补正须填写理由"
    err = refused(CaseState(status="completed"), ev("supplement"), PARALLEL, "in status completed$")
    assert err.zh == "已办结状态下不能补正"  # a reason would not help: say only the status
    assert not re.search(r"[A-Za-z]", err.zh)


@given(st.text(max_size=2 * MAX_REASON))
def test_a_reason_is_kept_whole_or_refused(text):
    try:
        kept = reason_of(text)
    except IllegalTransition:
        assert len(text.strip()) > MAX_REASON
    else:
        assert kept == text.strip() and len(kept) <= MAX_REASON
