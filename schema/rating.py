"""One case, one rating (一事一评): what a citizen may say about a case, checked at the edge.

A citizen rates a case once its window work is over (`RATABLE`: a result issued or the
case closed, refusals included, since a refusal is service too) with one of three scores
and, optionally, a reason in their words. A 不满意 needs a reason: it opens a follow-up
(回访/整改) that an admin answers, and a follow-up with nothing to act on can only be
closed unread; the clerk types what the citizen says. A follow-up record is the admin's
account of what was done. Every text is stripped and bounded, with no control character
(a reason is shown on pages and in tables)."""

from __future__ import annotations

from typing import Any, Mapping

from yimen.schema.errors import SchemaError

SCORES = ("satisfied", "basic", "unsatisfied")
SCORE_ZH = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
SCORE_EN = {"satisfied": "satisfied", "basic": "fairly satisfied", "unsatisfied": "unsatisfied"}
SCORE_VALUE = {"satisfied": 3, "basic": 2, "unsatisfied": 1}  # for averages
NEEDS_FOLLOW_UP = frozenset({"unsatisfied"})
RATABLE = frozenset({"result_issued", "completed", "not_accepted", "returned", "rejected", "withdrawn"})
MAX_REASON = 500
MAX_FOLLOW_UP = 2000


class RatingInvalid(SchemaError):
    """A rating or follow-up is not one of the allowed values or is too long."""

    code = "rating_invalid"


def score_of(text: str) -> str:
    """The score `text` names: its code (`satisfied`, `basic`, `unsatisfied`) or its
    Chinese word (满意, 基本满意, 不满意)."""
    value = str(text).strip()
    for code in SCORES:
        if value in (code, SCORE_ZH[code]):
            return code
    raise RatingInvalid("评价须为“满意”“基本满意”或“不满意”",
                        "a rating is one of satisfied, basic (fairly satisfied) or unsatisfied")


def _text(value: Any, longest: int, zh: str, en: str) -> str:
    if not isinstance(value, str):
        raise RatingInvalid(f"{zh}须为文字", f"the {en} must be text")
    text = value.strip()
    if len(text) > longest:
        raise RatingInvalid(f"{zh}不能超过 {longest} 个字（现为 {len(text)} 个）",
                            f"the {en} may hold at most {longest} characters ({len(text)} given)")
    if not text.isprintable():
        raise RatingInvalid(f"{zh}含有不可显示的字符", f"the {en} holds a character that cannot be shown")
    return text


def reason_of(score: str, reason: Any) -> str:
    """The reason for `score` as stored: stripped, at most MAX_REASON characters, required
    for a score that needs a follow-up (see the module docstring)."""
    text = _text(reason, MAX_REASON, "评价理由", "reason")
    if score in NEEDS_FOLLOW_UP and not text:
        raise RatingInvalid("选择“不满意”时请说明原因，以便回访整改",
                            "an unsatisfied rating needs a reason, so that it can be followed up")
    return text


def follow_up_text(text: Any) -> str:
    """What an admin records was done (回访/整改): stripped, 1 to MAX_FOLLOW_UP characters."""
    done = _text(text, MAX_FOLLOW_UP, "回访整改情况", "follow-up record")
    if not done:
        raise RatingInvalid("请填写回访或整改情况", "write down what was done (the follow-up record)")
    return done


def refusal(body: Mapping[str, Any]) -> str | None:
    """Why a rating's body (its `rating` map, from any writer) is not one a node makes,
    or None: the score is a known code, the reason one `reason_of` accepts."""
    score = body.get("score")
    if score not in SCORES:
        return f"score is not one of {', '.join(SCORES)}: {str(score)[:40]!r}"
    try:
        if reason_of(score, body.get("reason", "")) != body.get("reason", ""):
            return "reason is not stripped"
    except RatingInvalid as e:
        return e.en
    return None


def score_text(lang: str, score: str) -> str:
    """A score in words of `lang`."""
    return (SCORE_ZH if lang == "zh" else SCORE_EN).get(score, score)
