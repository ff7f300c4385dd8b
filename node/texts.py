"""The words of a case for people, in the clerk's language (`lang` is "zh" or "en"): one
spelling for the command line and the web pages."""

from __future__ import annotations

from typing import Any

from yimen.schema.region import LEVEL_ZH

MATERIAL_ZH = {"provided": "已提交", "deferred": "容缺待补交", "delivered": "已补交", "missing": "未提交",
               "reused": "取自我的空间"}
CARD_ZH = {"red": "红牌", "yellow": "黄牌", "green": "绿", "paused": "暂停计时", "": ""}


def pick(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def card_text(lang: str, card: str) -> str:
    return CARD_ZH[card] if lang == "zh" else card


def deadline_text(lang: str, row: dict[str, Any]) -> str:
    """A deadline, marked when it was counted through a year no calendar covers (never a
    silent Monday-to-Friday guess)."""
    if not row.get("deadline"):
        return ""
    return row["deadline"] + (pick(lang, "（暂定）", " (provisional)") if row.get("deadline_provisional") else "")


def waiting_text(lang: str, waits: list[dict[str, Any]]) -> str:
    """What a case in review waits for: 待镇街·民政审批 / waiting for town · 民政 approval."""
    if not waits:
        return ""
    if lang == "zh":
        return "待" + "、".join(f"{LEVEL_ZH[w['level']].removesuffix('级')}·{w['department']}" for w in waits) + "审批"
    return "waiting for " + ", ".join(f"{w['level']} · {w['department']}" for w in waits) + " approval"


def flags_text(lang: str, row: dict[str, Any]) -> str:
    """A case row's warnings: a deferred material past its due date, conflicts to review."""
    out = [pick(lang, f"容缺材料逾期（{row['deferred_due']}）", f"deferred material overdue ({row['deferred_due']})")
           ] if row.get("deferred_overdue") else []
    if row.get("conflicts_open"):
        out.append(pick(lang, f"冲突待核查 {row['conflicts_open']}", f"{row['conflicts_open']} conflict(s) to review"))
    return pick(lang, "；", "; ").join(out)


# -- the chain dashboard (web/pages/chain.py) --
def duration_text(lang: str, seconds: float) -> str:
    """A lag for people, in the largest unit that keeps it at least 1: 45 秒, 1.5 小时 /
    45 s, 1.5 h."""
    for size, zh, en in ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min")):
        if seconds >= size:
            return f"{seconds / size:.3g} {pick(lang, zh, en)}"
    return f"{seconds:.3g} {pick(lang, '秒', 's')}"


KIND_ZH = {"catalog_item": "事项", "case": "办件", "space_doc": "我的空间文档", "consent": "同意书",
           "node": "节点记录", "revocation": "吊销记录", "audit": "审计记录"}


def kind_text(lang: str, kind: str) -> str:
    """A document kind: 办件 / case."""
    return KIND_ZH.get(kind, kind) if lang == "zh" else kind.replace("_", " ")
