from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.dates import InvalidDate, iso_date, parse_date


@given(st.dates(min_value=date(1000, 1, 1)))
def test_every_iso_date_reads_back(d):
    assert parse_date(d.isoformat()) == d


@given(st.dates(min_value=date(1000, 1, 1)), st.sampled_from(["{y}/{m}/{d}", "{y}.{m:02}.{d:02}",
                                                              "{y}年{m}月{d}日", "{y}-{m}-{d}"]))
def test_a_clerks_other_forms_normalise(d, form):
    assert iso_date(form.format(y=d.year, m=d.month, d=d.day)) == d.isoformat()


@given(st.text(max_size=20))
def test_any_text_is_a_date_or_one_clear_error(text):
    try:
        d = parse_date(text)
    except InvalidDate as e:
        assert "YYYY-MM-DD" in e.zh and "YYYY-MM-DD" in e.en
    else:
        assert parse_date(d.isoformat()) == d


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "2026/12-20", "20261220", "明天", "2026-1", ""])
def test_not_dates(text):
    with pytest.raises(InvalidDate):
        parse_date(text)


def test_full_width_digits_and_empty_option():
    assert iso_date("２０２６－１２－２０") == "2026-12-20"
    assert iso_date(" ") == ""
