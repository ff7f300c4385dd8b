from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from yimen.schema.errors import SchemaError
from yimen.schema.idnumber import (
    IdNumberInfo,
    InvalidIdNumber,
    check_digit,
    mask,
    parse_id_number,
    validate_id_number,
)
from yimen.schema.region import PROVINCE_CODES

# Valid numbers: one ending in X (a common textbook example) and one ending in a digit.
VALID_X = "11010519491231002X"
VALID_DIGIT = "440608199003070116"


def reference_check(first17: str) -> str:
    """Independent check-character formula: (12 - S mod 11) mod 11, 10 written X."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


# --- check_digit ----------------------------------------------------------------------


def test_check_digit_known_values() -> None:
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44060819900307011") == "6"
    assert check_digit("44052418800101001") == "4"  # the example in GB 11643 itself


def test_check_digit_rejects_wrong_input() -> None:
    with pytest.raises(InvalidIdNumber):
        check_digit("1101051949123100")
    with pytest.raises(InvalidIdNumber):
        check_digit("1101051949123100A")


# --- validate_id_number ---------------------------------------------------------------


def test_valid_numbers_pass_unchanged() -> None:
    assert validate_id_number(VALID_X) == VALID_X
    assert validate_id_number(VALID_DIGIT) == VALID_DIGIT


def test_strips_whitespace_and_uppercases_final_x() -> None:
    assert validate_id_number("  11010519491231002x\t") == VALID_X


def test_legacy_15_digit_number_is_converted() -> None:
    assert validate_id_number("110105491231002") == VALID_X


def test_legacy_15_digit_number_with_bad_date_fails() -> None:
    with pytest.raises(InvalidIdNumber, match="not a valid calendar date"):
        validate_id_number("110105490231002")


def test_legacy_number_may_not_contain_x() -> None:
    with pytest.raises(InvalidIdNumber, match="character 15"):
        validate_id_number("11010549123100X")


@pytest.mark.parametrize(
    "value", ["", "1101051949123100", "1101051949123100211", "11010519491231002X1"]
)
def test_bad_length(value: str) -> None:
    with pytest.raises(InvalidIdNumber, match="must have 18 characters"):
        validate_id_number(value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidIdNumber, match="must be a string"):
        validate_id_number(110105194912310020)  # type: ignore[arg-type]


def test_non_digit_names_its_position() -> None:
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number("1101A519491231002X")
    assert "character 5" in info.value.en
    assert "第 5 位" in info.value.zh


def test_x_is_only_allowed_last() -> None:
    with pytest.raises(InvalidIdNumber, match="character 17"):
        validate_id_number("1101051949123100XX")


def test_full_width_digits_are_rejected() -> None:
    with pytest.raises(InvalidIdNumber, match="character 1 "):
        validate_id_number("１10105194912310020")


def test_unknown_province() -> None:
    number = "99010519491231002"
    with pytest.raises(InvalidIdNumber, match="unknown province '99'"):
        validate_id_number(number + reference_check(number))


@pytest.mark.parametrize("birth", ["19490230", "19491301", "19490000", "20230229"])
def test_invalid_birth_date(birth: str) -> None:
    number = "110105" + birth + "002"
    with pytest.raises(InvalidIdNumber, match="not a valid calendar date"):
        validate_id_number(number + reference_check(number))


def test_birth_before_1900_is_rejected() -> None:
    # The example from the standard itself (born 1880) predates Yimen's accepted range.
    with pytest.raises(InvalidIdNumber, match="before 1900-01-01"):
        validate_id_number("440524188001010014")


def test_birth_in_future_relative_to_today() -> None:
    number = "44060820300101001"
    number += reference_check(number)
    with pytest.raises(InvalidIdNumber, match="after today"):
        validate_id_number(number, today=datetime.date(2026, 1, 1))
    assert validate_id_number(number) == number  # no `today`: no future check


def test_birth_tomorrow_is_in_the_future() -> None:
    number = "44060820260316002"
    number += reference_check(number)
    with pytest.raises(InvalidIdNumber, match="after today"):
        validate_id_number(number, today=datetime.date(2026, 3, 15))


def test_birth_on_today_is_accepted() -> None:
    number = "44060820260315002"
    number += reference_check(number)
    assert validate_id_number(number, today=datetime.date(2026, 3, 15)) == number


def test_bad_check_digit_says_which_is_expected() -> None:
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number("110105194912310021")
    assert "expected 'X'" in info.value.en
    assert "应为“X”" in info.value.zh
    assert info.value.code == "invalid_id_number"
    assert isinstance(info.value, SchemaError)


# --- parse_id_number and mask ---------------------------------------------------------


def test_parse_id_number() -> None:
    info = parse_id_number(VALID_X)
    assert info == IdNumberInfo(
        number=VALID_X, region="110105", birth_date=datetime.date(1949, 12, 31), sex="female"
    )
    assert parse_id_number(VALID_DIGIT).sex == "male"


def test_parse_id_number_converts_legacy_numbers() -> None:
    assert parse_id_number("110105491231002").number == VALID_X


def test_id_number_info_is_frozen() -> None:
    info = parse_id_number(VALID_X)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.sex = "male"  # type: ignore[misc]


def test_mask_keeps_first_six_and_last_four() -> None:
    assert mask(VALID_X) == "110105********002X"
    assert mask("110105491231002") == "110105*****1002"


def test_mask_hides_short_strings_entirely() -> None:
    assert mask("1234567890") == "**********"
    assert mask("") == ""


# --- properties -----------------------------------------------------------------------

births = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2025, 12, 31))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """A valid 18-character number built from its parts, check character computed."""
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    rest_of_region = f"{draw(st.integers(0, 9999)):04d}"
    birth = draw(births).strftime("%Y%m%d")
    sequence = f"{draw(st.integers(0, 999)):03d}"
    first17 = province + rest_of_region + birth + sequence
    return first17 + reference_check(first17)


@given(id_numbers())
def test_generated_numbers_are_valid(number: str) -> None:
    assert validate_id_number(number, today=datetime.date(2026, 1, 1)) == number
    assert check_digit(number[:17]) == number[17]


@given(id_numbers())
def test_parse_matches_the_parts(number: str) -> None:
    info = parse_id_number(number)
    assert info.region == number[:6]
    assert info.birth_date.strftime("%Y%m%d") == number[6:14]
    assert info.sex == ("male" if int(number[16]) % 2 else "female")


@given(
    id_numbers(),
    st.integers(0, 17),
    st.one_of(st.sampled_from("0123456789Xx "), st.characters()),
)
def test_any_single_character_change_fails(number: str, position: int, char: str) -> None:
    changed = number[:position] + char + number[position + 1 :]
    assume(changed.strip().upper() != number)
    with pytest.raises(InvalidIdNumber):
        validate_id_number(changed)


@given(id_numbers())
def test_legacy_form_converts_back(number: str) -> None:
    assume(number[6:8] == "19")
    legacy = number[:6] + number[8:17]
    assert validate_id_number(legacy) == number


@given(id_numbers())
def test_mask_hides_birth_date(number: str) -> None:
    masked = mask(number)
    assert len(masked) == 18
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:]
    assert set(masked[6:14]) == {"*"}
