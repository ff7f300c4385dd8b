"""Working days at the node: the chinese-calendar package's arrangements, with a province's
own days from the override file (`calendar_file`) laid over them."""

from __future__ import annotations

import datetime
import json

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.node.errors import InvalidConfig
from yimen.node.workdays import library_calendar, load_calendar

D = datetime.date
FIRST, LAST = min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year


def test_every_day_the_library_covers_is_the_library_s_answer() -> None:
    cal = load_calendar()
    day, end = D(FIRST, 1, 1), D(LAST, 12, 31)
    while day <= end:
        assert cal.is_working_day(day) is chinese_calendar.is_workday(day), day
        day += datetime.timedelta(days=1)
    assert all(cal.covers(y) for y in range(FIRST, LAST + 1))
    assert not cal.covers(FIRST - 1) and not cal.covers(LAST + 1)


def test_names_are_chinese() -> None:
    cal = library_calendar()
    assert cal.names[D(2026, 2, 16)] == "春节"
    assert cal.names[D(2026, 10, 1)] == "国庆节"
    assert cal.names[D(2026, 10, 10)] == "国庆节调休上班"


@given(st.dates(D(FIRST, 1, 1), D(LAST, 12, 31)), st.integers(0, 60))
def test_counting_agrees_with_the_library_day_by_day(start: D, n: int) -> None:
    end = library_calendar().add_working_days(start, n)
    if end.year <= LAST:
        days = [start + datetime.timedelta(days=k) for k in range(1, (end - start).days + 1)]
        assert sum(chinese_calendar.is_workday(d) for d in days) == n
        assert n == 0 or chinese_calendar.is_workday(end)


def test_override_file_adds_a_province_s_days_and_years(tmp_path) -> None:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({"source": "省政府通知", "years": [LAST + 1],
                                "holidays": {f"{LAST + 1}-01-01": "元旦", "2026-06-22": "本省假日"}},
                               ensure_ascii=False), "utf-8")
    cal = load_calendar(str(path))
    assert not cal.is_working_day(D(LAST + 1, 1, 1)) and cal.covers(LAST + 1)
    assert not cal.is_working_day(D(2026, 6, 22))  # a Monday the province gives off
    assert cal.is_working_day(D(2026, 10, 10))  # the library's days stay


@pytest.mark.parametrize("text", ["{", '{"holiday": {}}', '{"workdays": {"2026-06-22": "周一"}}'])
def test_a_bad_override_file_is_one_clear_error(tmp_path, text: str) -> None:
    path = tmp_path / "extra.json"
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidConfig) as info:
        load_calendar(str(path))
    assert str(path) in info.value.zh and str(path) in info.value.en
    with pytest.raises(InvalidConfig):
        load_calendar(str(tmp_path / "missing.json"))
