"""The supervision reports as tables (`yimen.node.tables`): their columns, and their rows
with the derived texts, for `yimen report ...` and the supervision board page (督办)."""

from __future__ import annotations

from typing import Any, Iterable

from yimen.node import texts
from yimen.node.tables import Column, Sheet
from yimen.node.texts import CARD_ZH
from yimen.schema.case import ACTION_ZH, STATUS_ZH

# one row per late case ("case") and per deferred material past its promised date ("material")
OVERDUE_COLUMNS = (
    Column("kind", "类别", "kind", {"case": "办件", "material": "容缺材料"}),
    Column("card", "督办", "card", CARD_ZH), Column("case_id", "受理编号", "case_id"),
    Column("item_code", "事项编码", "item_code", screen=False), Column("item_name", "事项", "item"),
    Column("applicant_name", "申请人", "applicant"), Column("status", "状态", "status", STATUS_ZH),
    Column("accepted_date", "受理日期", "accepted", screen=False),
    Column("deadline_text", "办结时限", "deadline"), Column("material", "材料", "material"),
    Column("material_due", "承诺补交日期", "material_due"),
    Column("accepted_by", "受理人工号", "clerk_id"), Column("accepted_by_name", "受理人", "clerk_name"),
)
CASE_COLUMNS = tuple(c for c in OVERDUE_COLUMNS if c.key not in ("kind", "material", "material_due"))
LATE_COLUMNS = tuple(c for c in OVERDUE_COLUMNS if c.key not in ("kind", "card", "deadline_text"))
REFUSAL_COLUMNS = (
    Column("at", "时间", "time"), Column("kind", "类别", "kind", ACTION_ZH),
    Column("case_id", "受理编号", "case_id"), Column("item_code", "事项编码", "item_code", screen=False),
    Column("item_name", "事项", "item"), Column("applicant_name", "申请人", "applicant", screen=False),
    Column("actor", "人员工号", "clerk_id"), Column("actor_name", "人员", "clerk_name"),
    Column("node", "节点", "node", screen=False), Column("reason", "理由", "reason"),
)
COUNT_COLUMNS = (
    Column("by", "分类", "by", {"status": "按状态", "card": "按督办牌"}),
    Column("value", "项", "value", {**STATUS_ZH, **CARD_ZH}), Column("count", "件数", "cases"),
)
SHEETS = {"counts": ("件数", "counts"), "overdue": ("督办", "overdue"), "refusals": ("拒件", "refusals")}


def overdue_rows(lang: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`reports.overdue` rows with the deadline as the clerk reads it (`deadline_text`)."""
    return [{**r, "deadline_text": texts.deadline_text(lang, r)} for r in rows]


def by_kind(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`reports.overdue` rows split: the late cases, and the late deferred materials."""
    return [r for r in rows if r["kind"] == "case"], [r for r in rows if r["kind"] == "material"]


def count_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """`reports.counts` as rows: one per status, then one per card colour."""
    return [{"by": by, "value": v, "count": n} for by in ("status", "card") for v, n in counts[by].items()]


def board_sheets(board: dict[str, Any], lang: str) -> list[Sheet]:
    """The tables of the supervision board (what `reports.counts`, `overdue` and
    `refusals` gave, under those keys; those it holds), for a file."""
    made = {"counts": lambda: count_rows(board["counts"]), "overdue": lambda: overdue_rows(lang, board["overdue"]),
            "refusals": lambda: board["refusals"]["rows"]}
    columns = {"counts": COUNT_COLUMNS, "overdue": OVERDUE_COLUMNS, "refusals": REFUSAL_COLUMNS}
    return [Sheet(SHEETS[k], made[k](), columns[k]) for k in SHEETS if k in board]
