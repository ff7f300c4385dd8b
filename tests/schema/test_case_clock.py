"""The supervision clock of a case: the deadline counted from acceptance in working days,
standing still while the case waits for the applicant's supplement (补正) when the item says
so, and provisional when it was counted through a year the calendar does not cover."""

from __future__ import annotations

import datetime
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.calendar import WorkCalendar
from yimen.schema.case import CaseState, Clock, Event, apply, check, clock, replay
from yimen.schema.catalog import CatalogItem, Material, Reviewer

D = datetime.date
ONE = datetime.timedelta(days=1)
VILLAGE = "440608100201"
ITEM = CatalogItem(
    code="T", name="测试事项", department="民政", legal_basis="《测试条例》", accept_level="village",
    steps=[[Reviewer("village", "民政")]], materials=[Material("居民身份证", "mandatory")],
    time_limit_days=20, fee=0)
NO_PAUSE = replace(ITEM, clock_pauses_on_supplement=False)
# 2026 as the State Council arranged it around National Day, covering 2026 only
CAL = WorkCalendar.from_dict({"years": [2026], "holidays": {f"2026-10-0{d}": "国庆节" for d in range(1, 8)},
                              "workdays": {"2026-09-20": "国庆节调休上班", "2026-10-10": "国庆节调休上班"}})


def ev(action: str, day: str, reason: str = "") -> Event:
    return Event(action, "c01", "民政", VILLAGE, f"{day}T10:00:00+08:00", reason=reason,
                 step=0 if action == "approve" else None, department="民政" if action == "approve" else None)


def state_of(*events: Event, item: CatalogItem = ITEM) -> CaseState:
    state = CaseState()
    for e in events:
        check(state, e, item)
        state = apply(state, e, item)
    return state


def test_pauses_follow_the_supplements_in_the_history() -> None:
    state = state_of(ev("accept", "2026-11-16"), ev("submit", "2026-11-16"),
                     ev("supplement", "2026-11-18", "收入证明不清"), ev("supply", "2026-11-23"),
                     ev("supplement", "2026-11-25", "缺签字"))
    assert state.pauses == (("2026-11-18", "2026-11-23"), ("2026-11-25", ""))
    assert replay([ev("accept", "2026-11-16"), ev("supplement", "2026-11-18", "x")], ITEM).pauses == (
        ("2026-11-18", ""),)


def test_no_pause_counts_the_limit_from_acceptance() -> None:
    got = clock(state_of(ev("accept", "2026-11-16")), ITEM, CAL)
    assert got == Clock(D(2026, 12, 14), 0, None, False)


def test_a_supplement_stops_the_clock_and_supply_starts_it_again() -> None:
    history = [ev("accept", "2026-11-16"), ev("submit", "2026-11-16"), ev("supplement", "2026-11-18", "缺")]
    waiting = clock(state_of(*history), ITEM, CAL)
    # while it waits: 18 working days are left, shown as if the clock ran again today
    assert waiting == Clock(D(2026, 12, 14), 0, D(2026, 11, 18), False)
    resumed = clock(state_of(*history, ev("supply", "2026-11-23")), ITEM, CAL)
    # 19th, 20th and 23rd (the day the materials came, like an acceptance day) stood still
    assert resumed == Clock(D(2026, 12, 17), 3, None, False)


def test_an_item_may_keep_its_clock_running() -> None:
    history = [ev("accept", "2026-11-16"), ev("submit", "2026-11-16"), ev("supplement", "2026-11-18", "缺"),
               ev("supply", "2026-11-23")]
    assert clock(state_of(*history, item=NO_PAUSE), NO_PAUSE, CAL) == Clock(D(2026, 12, 14), 0, None, False)
    waiting = clock(state_of(*history[:3], item=NO_PAUSE), NO_PAUSE, CAL)
    assert waiting.paused_since is None and waiting.deadline == D(2026, 12, 14)


def test_a_supplement_after_the_deadline_does_not_buy_time() -> None:
    late = [ev("accept", "2026-11-16"), ev("submit", "2026-11-16"), ev("supplement", "2026-12-15", "缺")]
    assert clock(state_of(*late), ITEM, CAL) == Clock(D(2026, 12, 14), 0, None, False)
    done = clock(state_of(*late, ev("supply", "2026-12-20")), ITEM, CAL)
    assert done == Clock(D(2026, 12, 14), 0, None, False)


def test_a_deadline_counted_through_an_uncovered_year_is_provisional() -> None:
    got = clock(state_of(ev("accept", "2026-12-02")), ITEM, CAL)
    assert got.deadline == D(2026, 12, 30) and not got.provisional
    got = clock(state_of(ev("accept", "2026-12-22")), ITEM, CAL)
    assert got.deadline.year == 2027 and got.provisional


def test_immediate_and_unaccepted_cases_have_no_deadline() -> None:
    immediate = replace(ITEM, time_limit_days=0, steps=())
    assert clock(state_of(ev("accept", "2026-11-16"), item=immediate), immediate, CAL) == Clock()
    assert clock(CaseState(), ITEM, CAL) == Clock()


# --- the rule against a day-by-day count ---------------------------------------------------

days = st.dates(D(2026, 9, 1), D(2026, 12, 31))


@st.composite
def pauses(draw: st.DrawFn, start: D) -> tuple[tuple[str, str], ...]:
    """Up to three supplements after `start`, each supplied (the last one maybe not yet)."""
    out, day = [], start
    for _ in range(draw(st.integers(0, 3))):
        begin = day + ONE * draw(st.integers(0, 12))
        end = begin + ONE * draw(st.integers(0, 12))
        out.append((begin.isoformat(), end.isoformat()))
        day = end
    if out and draw(st.booleans()):
        out[-1] = (out[-1][0], "")
    return tuple(out)


def reference(start: D, n: int, held: tuple[tuple[str, str], ...]) -> tuple[D, int]:
    """Walk day by day: a working day counts unless a pause holds it (after the supplement's
    day, up to and including the supply day); a pause still open holds no later day here,
    since the clock is shown as if it ran again from the supplement's day."""
    spans = [(D.fromisoformat(s), D.fromisoformat(e or s)) for s, e in held]
    day, left, paused = start, n, 0
    while left:
        day += ONE
        if CAL.is_working_day(day):
            if any(s < day <= e for s, e in spans):
                paused += 1
            else:
                left -= 1
    return day, paused


@given(days, st.integers(1, 40), st.data())
def test_the_clock_matches_a_day_by_day_count(start: D, n: int, data: st.DataObject) -> None:
    held = data.draw(pauses(start))
    item = replace(ITEM, time_limit_days=n)
    state = CaseState(status="accepted", accepted_at=f"{start}T09:00:00+08:00", pauses=held)
    got = clock(state, item, CAL)
    assert (got.deadline, got.paused_days) == reference(start, n, held)
    assert got.provisional is (got.deadline.year > 2026)
    running = clock(state, replace(item, clock_pauses_on_supplement=False), CAL)
    assert running.deadline == CAL.add_working_days(start, n) and running.paused_days == 0
