"""Jinja filters and globals: how values read on a page, in the page's language (the
same words as the CLI, `yimen.node.texts`). A filter that depends on the language takes
it as its first argument: `{{ row.status | status(lang) }}`."""

from __future__ import annotations


import jinja2

from yimen.node import texts
from yimen.schema.case import ACTION_ZH, STATUS_ZH
from yimen.schema.idnumber import mask
from yimen.schema.rating import score_text
from yimen.schema.region import LEVEL_ZH


def _status(value: str, lang: str) -> str:
    return STATUS_ZH.get(value, value) if lang == "zh" else value.replace("_", " ")


def _action(value: str, lang: str) -> str:
    return ACTION_ZH.get(value, value) if lang == "zh" else value.replace("_", " ")


def _level(value: str, lang: str) -> str:
    return LEVEL_ZH.get(value, value) if lang == "zh" else value


def _material(value: str, lang: str) -> str:
    return texts.MATERIAL_ZH.get(value, value) if lang == "zh" else value


def install(env: jinja2.Environment) -> None:
    env.filters.update(
        status=_status, action=_action, level=_level, material=_material, mask=mask,
        card=lambda v, lang: texts.card_text(lang, v or ""),
        deadline=lambda row, lang: texts.deadline_text(lang, row),
        waiting=lambda waits, lang: texts.waiting_text(lang, waits),
        flags=lambda row, lang: texts.flags_text(lang, row),
        minute=lambda at: (at or "")[:16].replace("T", " "),
        audit_action=lambda action, lang: texts.audit_action(lang, action),
    )
    # ratings (一事一评)
    env.filters.update(score=lambda v, lang: score_text(lang, v), percent=lambda share: f"{share:.0%}")
    # the chain dashboard (pages/chain.py)
    env.filters.update(duration=lambda s, lang: texts.duration_text(lang, s),
                       kind=lambda k, lang: texts.kind_text(lang, k))
    env.globals["pick"] = texts.pick
