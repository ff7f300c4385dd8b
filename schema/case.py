"""The case lifecycle (办件): transitions, and the status derived from a case's history.

A case never stores its status. Its history is an append-only list of events (who, where,
when, what, why); the status is a replay of that list through `apply`. Once offline nodes
merge their copies, the CRDT joins their histories into one list in a deterministic order
that respects causality (an event appended after seeing another comes after it). Replaying
that list is the one conflict rule: **the first event in merged order that is legal wins;
a later event that is no longer legal is kept, not applied, and flagged as a conflict for
review.** Every replica replays the same list, so every replica derives the same status and
the same conflicts; nothing is silently dropped.

Transitions (status before → action → status after):

    (new)                 accept                    accepted
    (new), supplement     not_accepted (reason)     not_accepted        refusal, terminal
    accepted, supplement,
      in_review           returned (reason)         returned            refusal, terminal
    accepted, in_review   supplement (reason)       supplement          refusal, case waits
    supplement            supply                    status before the supplement
    accepted              submit                    in_review (step 0), or approved if the
                                                    item has no approval steps
    in_review             approve (step, dept)      in_review / next step / approved
    in_review             reject (step, dept, reason)  rejected         terminal
    any open status       deliver (material)        unchanged; a deferred material arrives
    approved              issue_result              result_issued (blocked while a deferred
                                                    material is outstanding)
    result_issued         complete                  completed           terminal
    accepted (immediate)  complete                  completed           terminal
    any open but result_issued  withdraw            withdrawn           terminal
    any                   review (target, reason)   unchanged; a flagged event is resolved

A review (核查) records how a clerk resolved a flagged event: it names the event by its
stable reference (`target`, the history entry's id, which a merge never changes, unlike its
position) and carries the resolution as its reason. It applies nothing and deletes nothing:
the flagged event stays flagged, shown as resolved. A review is legal once per flagged
event, after it; a review of an event that is not (or no longer) flagged is itself flagged.

In a parallel step (several reviewers in one step) every reviewer decides before the case
moves on; one rejection ends the case. A decision is legal only from a node at the
reviewer's level, for the reviewer's department, in the current step, once.

The supervision clock (`clock`) is derived from the history too: the promised working days
run from the day after acceptance and stand still from a supplement's day until the
materials are complete (`supply`; that day counts like an acceptance day: not at all), as
the Administrative Licensing Law has it, unless the item keeps its clock running.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from yimen.schema import region
from yimen.schema.calendar import WorkCalendar
from yimen.schema.catalog import CatalogItem
from yimen.schema.errors import SchemaError

ACTIONS = (
    "accept", "not_accepted", "returned", "supplement", "supply", "submit", "approve",
    "reject", "deliver", "issue_result", "complete", "withdraw", "review",
)
REFUSALS = ("not_accepted", "returned", "supplement")
NEEDS_REASON = frozenset(REFUSALS + ("reject",))
MAX_REASON = 500  # characters of a reason a clerk writes (checked where one is written, `reason_of`)
TERMINAL = frozenset({"not_accepted", "returned", "rejected", "completed", "withdrawn"})
STATUSES = ("new", "accepted", "supplement", "in_review", "approved", "result_issued") + tuple(
    sorted(TERMINAL)
)

STATUS_ZH = {
    "new": "新建", "accepted": "已受理", "supplement": "待补正", "in_review": "审批中",
    "approved": "已批准", "result_issued": "已出件", "completed": "已办结",
    "not_accepted": "不予受理", "returned": "已退件", "rejected": "不予批准", "withdrawn": "已撤回",
}
ACTION_ZH = {
    "accept": "受理", "not_accepted": "不予受理", "returned": "退件", "supplement": "补正",
    "supply": "补正完成", "submit": "提交后台", "approve": "批准", "reject": "不予批准",
    "deliver": "补交容缺材料", "issue_result": "出件", "complete": "办结", "withdraw": "撤回",
    "review": "核查冲突",
}


class IllegalTransition(SchemaError):
    """The action is not allowed in the case's current status."""

    code = "illegal_transition"


@dataclass(frozen=True)
class Event:
    """One entry of a case's history. `at` is an ISO 8601 timestamp with offset."""

    action: str
    actor: str
    role: str
    node: str
    at: str
    reason: str = ""
    step: int | None = None
    department: str | None = None
    material: str | None = None
    target: str | None = None  # review: the reference of the flagged event it resolves

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class CaseState(NamedTuple):
    """The status and bookkeeping reached by replaying a history. (A NamedTuple: replay
    builds one per event, and `_replace` is several times cheaper than dataclasses.replace.)"""

    status: str = "new"
    step: int = 0
    resume: str = ""  # the status a supplement returns to
    approvals: frozenset[tuple[int, str]] = frozenset()
    deferred_open: frozenset[str] = frozenset()
    accepted_at: str | None = None
    closed_at: str | None = None
    refusal: Event | None = None
    conflicts: tuple[int, ...] = ()  # indexes of history events not applied
    pauses: tuple[tuple[str, str], ...] = ()  # (supplement day, supply day or "") per supplement
    resolved: tuple[tuple[int, int], ...] = ()  # (flagged event, the review resolving it)

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL and self.status != "new"

    @property
    def open_conflicts(self) -> tuple[int, ...]:
        """Flagged events no review has resolved yet."""
        done = {flagged for flagged, _ in self.resolved}
        return tuple(i for i in self.conflicts if i not in done)


def _reviewers(item: CatalogItem, step: int) -> dict[str, str]:
    """department -> level of the reviewers in `step`."""
    return {r.department: r.level for r in item.steps[step]}


def check(state: CaseState, event: Event, item: CatalogItem) -> None:
    """Raise IllegalTransition unless `event` may happen in `state`, saying the one thing
    that is wrong (a missing reason is not blamed on the status, nor the reverse)."""
    refusal = _refusal(state, event, item)
    if refusal:
        raise IllegalTransition(*refusal)


# action -> may it happen in (state, status, item)? (only the action's own rule is evaluated)
_ALLOWED: dict[str, Callable[[CaseState, str, CatalogItem], bool]] = {
    "accept": lambda st, s, item: s == "new",
    "not_accepted": lambda st, s, item: s in ("new", "supplement"),
    "returned": lambda st, s, item: s in ("accepted", "supplement", "in_review"),
    "supplement": lambda st, s, item: s in ("accepted", "in_review"),
    "supply": lambda st, s, item: s == "supplement",
    "submit": lambda st, s, item: s == "accepted" and not item.immediate,
    "approve": lambda st, s, item: s == "in_review",
    "reject": lambda st, s, item: s == "in_review",
    "deliver": lambda st, s, item: st.is_open,
    "issue_result": lambda st, s, item: s == "approved",
    "complete": lambda st, s, item: s == "result_issued" or (s == "accepted" and item.immediate),
    "withdraw": lambda st, s, item: st.is_open and s != "result_issued",
    "review": lambda st, s, item: bool(st.open_conflicts),
}


def _refusal(state: CaseState, ev: Event, item: CatalogItem) -> tuple[str, str] | None:
    """Why `ev` may not happen in `state`, as a sentence (zh, en); None if it may."""
    s, a = state.status, ev.action
    if a not in ACTIONS:
        return f"未知操作“{a}”", f"unknown action {a!r}"
    if not _ALLOWED[a](state, s, item):
        return f"{STATUS_ZH.get(s, s)}状态下不能{ACTION_ZH[a]}", f"cannot {a} a case in status {s}"
    if a in NEEDS_REASON and not ev.reason.strip():
        return f"{ACTION_ZH[a]}须填写理由", f"{a} needs a reason"
    if a in ("approve", "reject"):
        why = _decision_refusal(state, ev, item)
    elif a == "review":
        why = "须指明所核查的事件", "a review must name the flagged event"  # see review_refusal
    elif a in ("deliver", "issue_result"):
        why = _material_refusal(state, ev)
    else:
        return None
    return why and (f"不能{ACTION_ZH[a]}：{why[0]}", f"cannot {a}: {why[1]}")


def _material_refusal(state: CaseState, ev: Event) -> tuple[str, str] | None:
    if ev.action == "deliver":
        if not ev.material:
            return "须写明补交的是哪一项容缺材料", "name the deferred material delivered"
        if ev.material not in state.deferred_open:
            return f"材料“{ev.material}”不是待补交的容缺材料", f"{ev.material!r} is not an outstanding deferred material"
    if ev.action == "issue_result" and state.deferred_open:
        names = "、".join(sorted(state.deferred_open))
        return f"容缺材料未补交：{names}", f"deferred material outstanding: {', '.join(sorted(state.deferred_open))}"
    return None


def _decision_refusal(state: CaseState, ev: Event, item: CatalogItem) -> tuple[str, str] | None:
    if ev.step != state.step:
        return f"当前是第{state.step + 1}步审批", f"the case is at step {state.step + 1}"
    reviewers = _reviewers(item, state.step)
    if ev.department not in reviewers:
        return f"本步审批部门为{'、'.join(reviewers)}", f"this step is reviewed by {', '.join(reviewers)}"
    want = reviewers[ev.department]
    try:
        level = region.level(ev.node)
    except SchemaError:
        return "节点区划代码无效", f"invalid node code {ev.node!r}"
    if level != want:
        return f"本步须由{region.LEVEL_ZH.get(want, want)}审批", f"this step is decided at {want} level"
    if (state.step, ev.department) in state.approvals:
        return "该部门已作出决定", "this department has already decided"
    return None


def apply(state: CaseState, ev: Event, item: CatalogItem, deferred: Iterable[str] = ()) -> CaseState:
    """The state after a legal event (call `check` first). `deferred` names the materials
    accepted with a commitment; they become outstanding at acceptance."""
    a = ev.action
    if a == "accept":
        return state._replace(status="accepted", accepted_at=ev.at, deferred_open=frozenset(deferred))
    if a in ("not_accepted", "returned"):
        return state._replace(status=a, closed_at=ev.at, refusal=ev)
    if a == "supplement":
        return state._replace(status="supplement", resume=state.status, refusal=ev,
                              pauses=state.pauses + ((ev.at[:10], ""),))
    if a == "supply":  # the supplement's pause ends (a state built by hand may have none)
        closed = ((state.pauses[-1][0], ev.at[:10]),) if state.pauses else ()
        return state._replace(status=state.resume, resume="", pauses=state.pauses[:-1] + closed)
    if a == "submit":
        return _advance(state._replace(status="in_review", step=0), item)
    if a == "approve":
        return _advance(state._replace(approvals=state.approvals | {(state.step, ev.department)}), item)
    if a == "deliver":
        return state._replace(deferred_open=state.deferred_open - {ev.material})
    if a == "reject":
        return state._replace(status="rejected", closed_at=ev.at)
    if a == "issue_result":
        return state._replace(status="result_issued")
    return state._replace(status={"complete": "completed", "withdraw": "withdrawn"}[a], closed_at=ev.at)


def _advance(state: CaseState, item: CatalogItem) -> CaseState:
    """Move past every step whose reviewers have all approved."""
    step = state.step
    while step < len(item.steps) and all((step, d) in state.approvals for d in _reviewers(item, step)):
        step += 1
    if step == len(item.steps):
        return state._replace(status="approved", step=step)
    return state._replace(step=step)


def review_refusal(state: CaseState, ev: Event, target: int | None, at: int) -> tuple[str, str] | None:
    """Why a review (the event at index `at`) of the event at index `target` (None: its
    reference names no earlier event) is not legal in `state`, or None if it is."""
    if not ev.reason.strip():
        return "必须填写核查结论", "a resolution is required"
    if target is None or target >= at or target not in state.conflicts:
        return "所指事件不是冲突事件", "the event named is not a flagged event"
    if target not in state.open_conflicts:
        return "该冲突已核查", "this conflict has already been reviewed"
    return None


def replay(history: Iterable[Event], item: CatalogItem, deferred: Iterable[str] = (),
           forged: frozenset[int] = frozenset(), refs: Sequence[str] = ()) -> CaseState:
    """Derive a case's state from its merged history (see the module docstring). Events at
    the indexes `forged` (not written by the node they name) are flagged and not applied;
    `refs` are the history entries' stable references, which reviews name."""
    state = CaseState()
    conflicts: list[int] = []
    deferred = tuple(deferred)
    for i, ev in enumerate(history):
        if i in forged:
            conflicts.append(i)
            continue
        if ev.action == "review":
            target = refs.index(ev.target) if ev.target in refs[:i] else None
            state = state._replace(conflicts=tuple(conflicts))
            if review_refusal(state, ev, target, i):
                conflicts.append(i)
            else:
                state = state._replace(resolved=state.resolved + ((target, i),))
            continue
        if _refusal(state, ev, item):
            conflicts.append(i)
            continue
        state = apply(state, ev, item, deferred)
    return state._replace(conflicts=tuple(conflicts))


def waiting_for(state: CaseState, item: CatalogItem) -> list[tuple[str, str]]:
    """(level, department) of each reviewer the case waits for: those of its current step
    who have not decided yet (none unless it is in review)."""
    if state.status != "in_review" or state.step >= len(item.steps):
        return []
    return [(r.level, r.department) for r in item.steps[state.step]
            if (state.step, r.department) not in state.approvals]


def allowed_actions(state: CaseState, item: CatalogItem, node: str) -> list[str]:
    """Actions a clerk at `node` could take now (for help text and pages)."""
    out = []
    for a in ACTIONS:
        probe = Event(a, "", "", node, "", reason="-", step=state.step,
                      material=next(iter(sorted(state.deferred_open)), None))
        if a in ("approve", "reject"):
            depts = _reviewers(item, state.step) if state.status == "in_review" else {}
            if any(_refusal(state, replace(probe, department=d), item) is None for d in depts):
                out.append(a)
        elif _refusal(state, probe, item) is None:
            out.append(a)
    return out



class Clock(NamedTuple):
    """A case's supervision clock: the deadline (None for an immediate or unaccepted case);
    the working days it stood still for supplements already supplied; the day it stopped,
    while it waits for one now (the deadline is then shown as if it ran again that day);
    and whether the count went through a year the calendar does not cover (暂定)."""

    deadline: date | None = None
    paused_days: int = 0
    paused_since: date | None = None
    provisional: bool = False


def clock(state: CaseState, item: CatalogItem, calendar: WorkCalendar) -> Clock:
    """The clock of a case in `state` (see the module docstring). A supplement asked for
    after the limit ran out moves nothing: the case was late already."""
    if state.accepted_at is None or item.immediate:
        return Clock()
    accepted = start = date.fromisoformat(state.accepted_at[:10])
    left, paused, since = item.time_limit_days, 0, None
    for begin, end in state.pauses if item.clock_pauses_on_supplement else ():
        # merged offline copies may carry skewed clocks: a pause never runs backwards
        stop = max(date.fromisoformat(begin), start)
        ran = calendar.working_days_between(start, stop)
        if ran >= left:
            break
        left -= ran
        if not end:
            since = start = stop
            break
        start = max(date.fromisoformat(end), stop)
        paused += calendar.working_days_between(stop, start)
    deadline = calendar.add_working_days(start, left)
    return Clock(deadline, paused, since, not calendar.covers_span(accepted, deadline))


def reason_of(text: str) -> str:
    """A reason as a clerk writes it: stripped, at most `MAX_REASON` characters (a longer
    one is refused, never cut). Events already written are not checked again on replay."""
    reason = (text or "").strip()
    if len(reason) > MAX_REASON:
        raise IllegalTransition(f"理由最多 {MAX_REASON} 字，现有 {len(reason)} 字",
                                f"a reason has at most {MAX_REASON} characters, this one {len(reason)}")
    return reason
