from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.phone import InvalidPhone, _parsed, normalize_phone

MOBILE_PREFIXES = ["130", "135", "138", "139", "150", "158", "186", "188", "199"]


@given(st.sampled_from(MOBILE_PREFIXES), st.text("0123456789", min_size=8, max_size=8),
       st.sampled_from(["{}", "+86 {}", "86-{}", " {} "]))
def test_mobile_numbers_are_kept_as_eleven_digits(prefix, rest, form):
    number = prefix + rest
    assert normalize_phone(form.format(number)) == number


@given(st.text("2345678", min_size=1, max_size=1), st.text("0123456789", min_size=7, max_size=7),
       st.sampled_from(["0757-{}", "0757{}", "0757 {}", "+86 757 {}"]))
def test_landlines_carry_their_area_code(first, rest, form):
    assert normalize_phone(form.format(first + rest)) == f"0757-{first}{rest}"


@given(st.text(max_size=20))
def test_any_text_is_a_number_written_one_way_or_one_clear_error(text):
    try:
        out = normalize_phone(text)
    except InvalidPhone as e:
        assert "0757-88881234" in e.zh
    else:
        assert normalize_phone(out) == out


@pytest.mark.parametrize("text", ["abc", "1380013800", "88881234", "12345", "138001380001"])
def test_not_phone_numbers(text):
    with pytest.raises(InvalidPhone):
        normalize_phone(text)


def test_known_forms():
    assert normalize_phone("010-62345678") == "010-62345678"
    assert normalize_phone("+852 9123 4567") == "+85291234567"
    assert normalize_phone("") == ""


@given(st.text("0123456789", min_size=10, max_size=10))
def test_the_quick_path_for_eleven_digits_agrees_with_the_full_parse(rest):
    number = "1" + rest
    try:
        full = _parsed(number, number)
    except InvalidPhone:
        full = None
    try:
        assert normalize_phone(number) == full
    except InvalidPhone:
        assert full is None
