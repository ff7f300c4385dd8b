"""Citizen ID numbers (公民身份号码), GB 11643-1999.

An 18-character number is: 6 digits address code (region of first registration),
8 digits birth date YYYYMMDD, 3 digits sequence (odd for men, even for women) and one check
character computed with ISO 7064 MOD 11-2 (``0-9`` or ``X``).

Decisions:

- Input is stripped of surrounding whitespace and a final lowercase ``x`` is upper-cased. Nothing
  else is rewritten (full-width digits are rejected, not converted), so every accepted input
  maps to exactly one stored number.
- Legacy 15-digit numbers (issued before 1999: 6 digits region, YYMMDD, 3 digits sequence, no
  check digit) are accepted and CONVERTED to the 18-character form by inserting the century
  ``19`` and appending the computed check digit, the same rule the public-security offices
  use when re-issuing cards. The 18-character form is the only one Yimen stores, so a person
  is keyed the same way whichever card they bring.
- Only the province part of the address code is checked (against the known province codes):
  county codes change over time and an old number keeps its original code forever.
- Birth dates must be real calendar dates between 1900-01-01 and ``today`` (when given).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from yimen.schema.errors import SchemaError
from yimen.schema.region import PROVINCE_CODES

_DIGITS = frozenset("0123456789")
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)


class InvalidIdNumber(SchemaError):
    """A citizen ID number (公民身份号码) fails GB 11643 validation."""

    code = "invalid_id_number"


@dataclass(frozen=True)
class IdNumberInfo:
    """What an ID number itself tells: region code, birth date and sex."""

    number: str
    region: str
    birth_date: datetime.date
    sex: str


def check_digit(first17: str) -> str:
    """Return the GB 11643 check character (``0-9`` or ``X``) for the first 17 digits."""
    if not isinstance(first17, str) or len(first17) != 17 or not _DIGITS.issuperset(first17):
        raise InvalidIdNumber(
            "计算校验码需要 17 位数字",
            f"the check digit needs exactly 17 digits, got {first17!r}",
        )
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def validate_id_number(value: str, today: datetime.date | None = None) -> str:
    """Validate an ID number and return its normalized 18-character form.

    Raises InvalidIdNumber naming the exact reason: length, a non-digit character (with its
    position), unknown province, invalid or future birth date, wrong check character.
    """
    if not isinstance(value, str):
        raise InvalidIdNumber(
            f"身份证号码必须是文字（字符串），收到的是 {type(value).__name__}",
            f"ID number must be a string, got {type(value).__name__}",
        )
    text = value.strip()
    if text.endswith("x"):
        text = text[:-1] + "X"
    if len(text) not in (15, 18):
        raise InvalidIdNumber(
            f"身份证号码应为 18 位（或旧版 15 位），输入有 {len(text)} 位",
            f"ID number must have 18 characters (or 15 for the old format), got {len(text)}",
        )
    _check_characters(text)
    legacy = len(text) == 15
    body = text[:6] + "19" + text[6:] if legacy else text[:17]
    _check_region(body)
    _check_birth_date(body[6:14], today)
    expected = check_digit(body)
    if legacy:
        return body + expected
    if text[17] != expected:
        raise InvalidIdNumber(
            f"身份证号码校验码错误：第 18 位应为“{expected}”，实际为“{text[17]}”",
            f"ID number check character is wrong: expected {expected!r}, got {text[17]!r}",
        )
    return text


def _check_characters(text: str) -> None:
    """Digits everywhere except an optional X in position 18."""
    for i, c in enumerate(text):
        if c in _DIGITS or (c == "X" and i == 17):
            continue
        allowed_zh = "数字或 X" if i == 17 else "数字"
        allowed_en = "a digit or X" if i == 17 else "a digit"
        raise InvalidIdNumber(
            f"身份证号码第 {i + 1} 位“{c}”无效，应为{allowed_zh}",
            f"ID number character {i + 1} ({c!r}) is invalid; expected {allowed_en}",
        )


def _check_region(body: str) -> None:
    if body[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber(
            f"身份证号码的地区码“{body[:6]}”无效：省级代码“{body[:2]}”不存在",
            f"ID number region {body[:6]!r} is invalid: unknown province {body[:2]!r}",
        )


def _check_birth_date(digits: str, today: datetime.date | None) -> datetime.date:
    """Parse YYYYMMDD and check it is a real date in [1900-01-01, today]."""
    try:
        birth = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        birth = None
    if birth is None:
        raise InvalidIdNumber(
            f"身份证号码中的出生日期“{digits}”不是有效日期",
            f"ID number birth date {digits!r} is not a valid calendar date",
        )
    if birth < _EARLIEST_BIRTH:
        raise InvalidIdNumber(
            f"身份证号码中的出生日期 {birth.isoformat()} 早于 1900-01-01",
            f"ID number birth date {birth.isoformat()} is before 1900-01-01",
        )
    if today is not None and birth > today:
        raise InvalidIdNumber(
            f"身份证号码中的出生日期 {birth.isoformat()} 晚于今天 {today.isoformat()}",
            f"ID number birth date {birth.isoformat()} is after today ({today.isoformat()})",
        )
    return birth


def parse_id_number(value: str, today: datetime.date | None = None) -> IdNumberInfo:
    """Validate an ID number and return what it encodes."""
    number = validate_id_number(value, today)
    birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return IdNumberInfo(number=number, region=number[:6], birth_date=birth, sex=sex)


def mask(number: str) -> str:
    """Mask an ID number for printed lists: keep the first 6 and last 4 characters.

    The input is not validated (lists may hold legacy or foreign numbers). A string of 10
    characters or fewer is masked entirely so that nothing short is ever printed in clear.
    """
    text = number.strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def parse_id_tail(value: str) -> str:
    """The last characters of an ID number, as a clerk types them to find a case: 4 to 18
    digits, the last one may be X (any case). Returns it normalized (upper-case X)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.endswith("x"):
        text = text[:-1] + "X"
    if not 4 <= len(text) <= 18 or not _DIGITS.issuperset(text.removesuffix("X")):
        raise InvalidIdNumber(
            f"身份证号码尾号应为 4 至 18 位数字（最后一位可为 X），输入为“{value}”",
            f"an ID number tail is 4 to 18 digits (the last may be X), got {value!r}",
        )
    return text


def mask_name(name: str) -> str:
    """A name for a paper or a page anyone may read: the first and last characters kept,
    those between masked (陈美玲 → 陈*玲); a name of two characters keeps the first (王*),
    of one character none."""
    text = name.strip()
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]
