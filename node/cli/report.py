"""`yimen report ...`: the supervision reports, on the screen, as CSV or as .xlsx."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node.cli import tables
from yimen.node.cli.case import CARD_ZH, deadline_text
from yimen.node.cli.tables import Column, export_options, one_output
from yimen.node.cli.util import YimenGroup, any_clerk, h, json_option, open_node, print_json
from yimen.node.services import audit, reports
from yimen.node.cli.audit import reader
from yimen.schema.case import ACTION_ZH, REFUSALS, STATUS_ZH
from yimen.schema.dates import parse_date

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


def _format(as_json: bool, as_csv: bool, xlsx: Path | None) -> str:
    return "json" if as_json else "csv" if as_csv else "xlsx" if xlsx else "screen"


@click.group("report", cls=YimenGroup)
def report_group() -> None:
    """Supervision reports (electronic supervision and the Friday refusal report)."""


@report_group.command("overdue")
@export_options
@json_option
@click.pass_context
@any_clerk
def report_overdue(ctx: click.Context, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """Open cases with a red card (past the limit) or yellow card (close to it), and
    deferred materials (容缺) past the date promised for them.

    \b
    Example:
        yimen report overdue --csv > overdue.csv
        yimen report overdue --xlsx 督办.xlsx
    """
    one_output(as_json, as_csv, xlsx)
    node = open_node(ctx)
    rows = reports.overdue(node)
    audit.viewed(node, "report_overdue", reader(ctx), [r["case_id"] for r in rows], format=_format(as_json, as_csv, xlsx))
    if as_json:
        return print_json(rows)
    rows = [{**r, "deadline_text": deadline_text(ctx, r)} for r in rows]
    if tables.show(ctx, rows, OVERDUE_COLUMNS, as_csv=as_csv, xlsx=xlsx, sheet=("督办", "overdue")):
        return
    late = [r for r in rows if r["kind"] == "material"]
    rows = [r for r in rows if r["kind"] == "case"]
    red = sum(1 for r in rows if r["card"] == "red")
    click.echo(h(ctx, f"红牌 {red} 件，黄牌 {len(rows) - red} 件，容缺材料逾期 {len(late)} 项",
                 f"{red} red, {len(rows) - red} yellow, {len(late)} deferred material(s) overdue"))
    if rows:
        click.echo(tables.text(ctx, rows, CASE_COLUMNS))
    if late:
        click.echo(h(ctx, "容缺材料逾期：", "deferred materials overdue:"))
        click.echo(tables.text(ctx, late, LATE_COLUMNS))


@report_group.command("refusals")
@click.option("--week", default="", is_flag=False, flag_value="", metavar="[YYYY-MM-DD]",
              help="The week holding this date (default: this week).")
@export_options
@json_option
@click.pass_context
@any_clerk
def report_refusals(ctx: click.Context, week: str, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """The weekly refusal report for the supervision office (监审办): counts and rows by
    kind (supplement, not_accepted, returned), with reasons.

    \b
    Example:
        yimen report refusals --week 2026-11-20 --csv > refusals.csv
        yimen report refusals --week --xlsx 拒件周报.xlsx
    """
    one_output(as_json, as_csv, xlsx)
    day = parse_date(week, "--week 日期", "--week") if week.strip() else None
    node = open_node(ctx)
    rep = reports.refusals(node, day)
    audit.viewed(node, "report_refusals", reader(ctx), [r["case_id"] for r in rep["rows"]],
                 format=_format(as_json, as_csv, xlsx))
    if as_json:
        return print_json(rep)
    if tables.show(ctx, rep["rows"], REFUSAL_COLUMNS, as_csv=as_csv, xlsx=xlsx, sheet=("拒件", "refusals")):
        return
    click.echo(h(ctx, f"{rep['node']} 拒件周报 {rep['week_start']} 至 {rep['week_end']}：共 {rep['total']} 件",
                 f"refusals at {rep['node']}, {rep['week_start']} to {rep['week_end']}: {rep['total']}"))
    for k in REFUSALS:
        click.echo(f"  {h(ctx, ACTION_ZH[k], k)}: {rep['counts'][k]}")
    if rep["rows"]:
        click.echo(tables.text(ctx, rep["rows"], REFUSAL_COLUMNS))
