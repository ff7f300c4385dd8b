"""Dates typed by a clerk: `YYYY-MM-DD`, strictly.

A date that does not exist (`2026-13-01`) or is not a date at all is refused, never passed
on as text: a filter on a bad date used to match nothing, silently, and a promised date
stored as `2026/12/20` sorted wrongly against ISO dates. What a clerk's keyboard commonly
gives besides is accepted and normalised: `2026/12/20`, `2026.12.20`, `2026年12月20日`,
one-digit months and days, full-width digits (an input method's `２０２６－１２－２０`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from yimen.schema.errors import SchemaError

# One separator, used twice: `2026-12/20` is more likely a typo than a date.
_FORMS = (re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})"),
          re.compile(r"([0-9]{4})(年)([0-9]{1,2})月([0-9]{1,2})日?"))


class InvalidDate(SchemaError):
    """The text is not a date of the form YYYY-MM-DD."""

    code = "invalid_date"


def parse_date(text: str, what_zh: str = "日期", what_en: str = "date") -> date:
    """The date `text` names; `InvalidDate` (naming `what`) when it names none."""
    raw = unicodedata.normalize("NFKC", text).strip()
    for form in _FORMS:
        m = form.fullmatch(raw)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            except ValueError:
                break
    raise InvalidDate(f"{what_zh}“{text}”不是有效日期（格式 YYYY-MM-DD，如 2026-12-20）",
                      f"{what_en} '{text}' is not a valid date (YYYY-MM-DD, e.g. 2026-12-20)")


def iso_date(text: str, what_zh: str = "日期", what_en: str = "date") -> str:
    """`parse_date` as ISO text; empty stays empty (an option not given)."""
    return parse_date(text, what_zh, what_en).isoformat() if text.strip() else ""
