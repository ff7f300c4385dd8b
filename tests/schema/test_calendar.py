from __future__ import annotations

import datetime
import pickle
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chinese_calendar import constants as library

from yimen.schema.calendar import InvalidCalendar, WorkCalendar
from yimen.schema.errors import SchemaError

D = datetime.date


@lru_cache(maxsize=1)
def shipped() -> WorkCalendar:
    """The calendar of the chinese-calendar package's tables, every year it holds."""
    years = range(min(library.holidays).year, max(library.holidays).year + 1)
    return WorkCalendar.from_tables(library.holidays, library.workdays, years)


def data(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "years": [2026],
        "holidays": {"2026-01-01": "元旦", "2026-01-02": "元旦", "2026-01-03": "元旦"},
        "workdays": {"2026-01-04": "元旦调休上班"},
    }
    base.update(overrides)
    return base


# --- reference implementation (day-by-day loops) -------------------------------------------


def ref_is_working(cal: WorkCalendar, d: D) -> bool:
    return d in cal.workdays or (d not in cal.holidays and d.weekday() < 5)


def ref_between(cal: WorkCalendar, start: D, end: D) -> int:
    lo, hi, sign = (start, end, 1) if start <= end else (end, start, -1)
    days = (lo + datetime.timedelta(days=k) for k in range(1, (hi - lo).days + 1))
    return sign * sum(1 for d in days if ref_is_working(cal, d))


def ref_add(cal: WorkCalendar, start: D, n: int) -> D:
    d = start
    while n > 0:
        d += datetime.timedelta(days=1)
        n -= ref_is_working(cal, d)
    return d


# --- the library's calendar (2026 checked against the State Council's notice) -----------


def test_library_tables_hold_2026_holidays_and_make_up_days() -> None:
    cal = shipped()
    assert len([d for d in cal.holidays if d.year == 2026]) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(d for d in cal.workdays if d.year == 2026) == [
        D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28),
        D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10),
    ]
    assert cal.covers(2004) and cal.covers(2026) and not cal.covers(2003)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 1, 1), False),
        (D(2026, 1, 4), True),  # Sunday make-up day
        (D(2026, 1, 5), True),
        (D(2026, 2, 14), True),  # Saturday make-up day
        (D(2026, 2, 16), False),
        (D(2026, 2, 23), False),  # Monday, last day of the Spring Festival
        (D(2026, 2, 24), True),
        (D(2026, 4, 6), False),
        (D(2026, 5, 5), False),
        (D(2026, 5, 9), True),
        (D(2026, 6, 19), False),
        (D(2026, 9, 20), True),
        (D(2026, 9, 25), False),
        (D(2026, 10, 7), False),
        (D(2026, 10, 8), True),
        (D(2026, 10, 10), True),
        (D(2026, 10, 11), False),  # ordinary Sunday
    ],
)
def test_shipped_working_days(day: D, working: bool) -> None:
    assert shipped().is_working_day(day) is working


def test_from_tables_keeps_the_names_given() -> None:
    cal = WorkCalendar.from_tables({D(2026, 2, 16): "春节"}, {D(2026, 2, 14): "春节调休上班"}, [2026])
    assert cal.names == {D(2026, 2, 16): "春节", D(2026, 2, 14): "春节调休上班"}
    assert cal.years == {2026}


def test_uncovered_year_falls_back_to_monday_to_friday() -> None:
    cal = WorkCalendar.from_dict(data())
    assert cal.is_working_day(D(2027, 1, 1))  # a Friday; 2027 is not loaded
    assert not cal.is_working_day(D(2025, 10, 4))  # a Saturday
    assert cal.covers_span(D(2026, 1, 1), D(2026, 12, 31))
    assert not cal.covers_span(D(2026, 12, 2), D(2027, 1, 13))
    assert not cal.covers_span(D(2025, 12, 31), D(2026, 1, 2))


def test_add_working_days_skips_national_day() -> None:
    assert shipped().add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert shipped().add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)


def test_add_working_days_lands_on_make_up_day() -> None:
    assert shipped().add_working_days(D(2026, 9, 18), 1) == D(2026, 9, 20)


def test_add_zero_returns_start_even_on_a_holiday() -> None:
    assert shipped().add_working_days(D(2026, 2, 16), 0) == D(2026, 2, 16)


def test_add_negative_is_an_error() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        shipped().add_working_days(D(2026, 3, 2), -1)


def test_working_days_between_spring_festival() -> None:
    # Feb 13 (Fri) .. Feb 27 (Fri): make-up 14th; 15th-23rd off; 24th-27th working.
    assert shipped().working_days_between(D(2026, 2, 13), D(2026, 2, 27)) == 5
    assert shipped().working_days_between(D(2026, 2, 27), D(2026, 2, 13)) == -5
    assert shipped().working_days_between(D(2026, 2, 16), D(2026, 2, 16)) == 0


def test_datetimes_are_refused() -> None:
    with pytest.raises(TypeError, match="datetime.date"):
        shipped().is_working_day(datetime.datetime(2026, 3, 2, 9, 0))
    with pytest.raises(TypeError):
        shipped().add_working_days("2026-03-02", 1)  # type: ignore[arg-type]


# --- cards ----------------------------------------------------------------------------


def test_card_colours() -> None:
    cal = shipped()
    deadline = D(2026, 3, 6)  # Friday
    assert cal.card(deadline, D(2026, 3, 9)) == "red"
    assert cal.card(deadline, D(2026, 3, 6)) == "yellow"
    assert cal.card(deadline, D(2026, 3, 5)) == "yellow"
    assert cal.card(deadline, D(2026, 3, 4)) == "green"
    assert cal.card(deadline, D(2026, 3, 4), yellow_days=2) == "yellow"


def test_card_counts_working_days_across_holidays() -> None:
    # Only one working day (Oct 8) lies between Sep 30 and Oct 8.
    assert shipped().card(D(2026, 10, 8), D(2026, 9, 30)) == "yellow"


def test_yellow_until_includes_the_weekend_after_the_last_yellow_working_day() -> None:
    cal = shipped()
    monday = D(2026, 3, 2)
    assert cal.yellow_until(monday, 4) == D(2026, 3, 8)  # through Sunday
    assert cal.card(D(2026, 3, 7), monday, 4) == "yellow"  # a Saturday deadline
    assert cal.card(D(2026, 3, 9), monday, 4) == "green"


def test_yellow_days_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        shipped().card(D(2026, 3, 6), D(2026, 3, 2), yellow_days=-1)
    with pytest.raises(ValueError):
        shipped().yellow_until(D(2026, 3, 2), -1)


# --- from_dict validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"holidays": {"2026-02-30": "春节"}}, "not a valid"),
        ({"holidays": {"2026/01/01": "元旦"}}, "not a valid"),
        ({"holidays": {"20260101": "元旦"}}, "not a valid"),
        ({"holidays": {"2026-01-01": ""}}, "non-empty"),
        ({"holidays": {"2026-01-01": 1}}, "non-empty"),
        ({"holidays": ["2026-01-01"]}, "must map"),
        ({"workdays": {"2026-01-05": "周一"}}, "weekend"),
        ({"years": "2026"}, "list of integer"),
        ({"years": [True]}, "list of integer"),
        ({"holiday": {}}, "unknown keys"),
    ],
)
def test_from_dict_rejects_bad_data(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCalendar, match=message):
        WorkCalendar.from_dict(data(**overrides))


def test_from_dict_rejects_a_date_that_is_both_holiday_and_workday() -> None:
    bad = data(workdays={"2026-01-03": "调休"})
    with pytest.raises(InvalidCalendar, match="both a holiday") as info:
        WorkCalendar.from_dict(bad)
    assert "2026-01-03" in info.value.zh
    assert info.value.code == "invalid_calendar"
    assert isinstance(info.value, SchemaError)


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(InvalidCalendar):
        WorkCalendar.from_dict([])  # type: ignore[arg-type]


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidCalendar):
        WorkCalendar(holidays=frozenset({D(2026, 1, 3)}), workdays=frozenset({D(2026, 1, 3)}))


def test_empty_calendar_is_monday_to_friday() -> None:
    cal = WorkCalendar()
    assert cal.add_working_days(D(2026, 1, 1), 2) == D(2026, 1, 5)


def test_overlay_adds_years_and_its_days_win() -> None:
    other = WorkCalendar.from_dict(
        {"years": [2027], "holidays": {"2027-01-01": "元旦", "2026-01-04": "本省假日"},
         "workdays": {"2026-01-03": "本省调休上班"}}
    )
    cal = shipped().overlay(other)
    assert cal.covers(2026) and cal.covers(2027)
    assert not cal.is_working_day(D(2027, 1, 1))
    assert not cal.is_working_day(D(2026, 1, 4))  # the library's make-up day is a holiday here
    assert cal.is_working_day(D(2026, 1, 3))
    assert cal.names[D(2026, 1, 4)] == "本省假日"
    assert shipped().overlay(WorkCalendar()) == shipped()


def test_digest_tells_calendars_apart() -> None:
    assert shipped().digest() == WorkCalendar.from_tables(library.holidays, library.workdays,
                                                          shipped().years).digest()
    assert shipped().digest() != shipped().overlay(WorkCalendar(years=frozenset({2027}))).digest()
    assert WorkCalendar().digest() != WorkCalendar(holidays=frozenset({D(2026, 1, 1)})).digest()


def test_calendars_are_hashable_and_comparable() -> None:
    assert shipped() == WorkCalendar.from_tables(library.holidays, library.workdays, shipped().years)
    cal = shipped()
    assert hash(cal) == hash(WorkCalendar(cal.holidays, cal.workdays, years=cal.years))


def test_calendars_survive_pickling() -> None:
    cal = shipped()
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal
    assert copy.names == cal.names
    assert copy.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)


# --- properties -----------------------------------------------------------------------

window = st.dates(min_value=D(2025, 11, 1), max_value=D(2027, 2, 28))
weekend_days = window.filter(lambda d: d.weekday() >= 5)
day_counts = st.integers(0, 80)


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    """Random arrangements, dense enough that holidays and make-up days matter."""
    holidays = draw(st.frozensets(window, max_size=40))
    workdays = draw(st.frozensets(weekend_days, max_size=10)) - holidays
    return WorkCalendar(holidays=holidays, workdays=workdays)


any_calendar = st.one_of(st.just(WorkCalendar()), st.builds(shipped), calendars())


@given(any_calendar, window, day_counts)
def test_add_then_count_returns_n(cal: WorkCalendar, start: D, n: int) -> None:
    assert cal.working_days_between(start, cal.add_working_days(start, n)) == n


@given(any_calendar, window, st.integers(1, 80))
def test_add_lands_on_a_working_day(cal: WorkCalendar, start: D, n: int) -> None:
    result = cal.add_working_days(start, n)
    assert result > start
    assert result not in cal.holidays
    assert result.weekday() < 5 or result in cal.workdays


@given(any_calendar, window, day_counts)
def test_add_matches_day_by_day_reference(cal: WorkCalendar, start: D, n: int) -> None:
    assert cal.add_working_days(start, n) == ref_add(cal, start, n)


@given(any_calendar, window, window)
def test_between_matches_reference_and_is_antisymmetric(cal: WorkCalendar, a: D, b: D) -> None:
    assert cal.working_days_between(a, b) == ref_between(cal, a, b)
    assert cal.working_days_between(b, a) == -cal.working_days_between(a, b)


@given(any_calendar, window)
def test_is_working_day_matches_reference(cal: WorkCalendar, d: D) -> None:
    assert cal.is_working_day(d) is ref_is_working(cal, d)


@given(any_calendar, window, st.integers(-5, 40), st.integers(0, 5))
def test_card_agrees_with_yellow_until(cal: WorkCalendar, today: D, offset: int, y: int) -> None:
    deadline = today + datetime.timedelta(days=offset)
    in_window = today <= deadline <= cal.yellow_until(today, y)
    assert (cal.card(deadline, today, y) == "yellow") is in_window
    assert (cal.card(deadline, today, y) == "red") is (deadline < today)


@given(any_calendar, window, st.integers(1, 5))
def test_yellow_until_equals_add_for_working_day_deadlines(
    cal: WorkCalendar, today: D, y: int
) -> None:
    # The simpler form add_working_days(today, y) selects the same working-day deadlines.
    last = cal.yellow_until(today, y)
    assert cal.add_working_days(today, y) <= last
    assert cal.working_days_between(cal.add_working_days(today, y), last) == 0
