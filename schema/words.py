"""Status and action words as a clerk types them: the English code (`in_review`,
`approve`) or the Chinese word the clerk reads on screen (审批中, 批准).

An unknown word is refused with the list of the words that are known, never passed on:
a filter on an unknown status used to print "no matching cases" as if none existed.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from yimen.schema.case import ACTION_ZH, STATUSES, STATUS_ZH
from yimen.schema.errors import SchemaError


# a case is listed once accepted or refused: `new` is only the state before its first event
LISTED_STATUSES = tuple(s for s in STATUSES if s != "new")


class UnknownWord(SchemaError):
    """The word is neither a known code nor its Chinese name."""

    code = "unknown_word"


def code_of(text: str, codes: Iterable[str], zh: Mapping[str, str], what_zh: str, what_en: str) -> str:
    """The code among `codes` that `text` names, as a code or as its word in `zh`."""
    codes = list(codes)
    word = text.strip()
    by_word = {**{zh[c]: c for c in codes if c in zh}, **{c: c for c in codes}}
    if word in by_word:
        return by_word[word]
    if word.lower() in by_word:
        return by_word[word.lower()]
    # the clerk's own words only: the codes are accepted too, but a zh sentence shows no English
    raise UnknownWord(f"未知{what_zh}“{text}”；可用：{'、'.join(zh.get(c, c) for c in codes)}",
                      f"unknown {what_en} '{text}'; known: {', '.join(codes)}")


def status_code(text: str) -> str:
    """The status code `text` names (`审批中` or `in_review` → `in_review`)."""
    return code_of(text, LISTED_STATUSES, STATUS_ZH, "状态", "status")


def action_code(text: str, allowed: Iterable[str]) -> str:
    """The action code among `allowed` that `text` names (`批准` or `approve` → `approve`)."""
    return code_of(text, allowed, ACTION_ZH, "操作", "action")
