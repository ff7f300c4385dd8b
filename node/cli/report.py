"""`yimen report ...`: the supervision reports."""

from __future__ import annotations

from datetime import date

import click

from yimen.node.cli.case import card_text, deadline_text
from yimen.node.cli.output import table
from yimen.node.cli.util import YimenGroup, h, json_option, open_node, print_json, status_text
from yimen.node.services import reports
from yimen.schema.case import ACTION_ZH, REFUSALS
from yimen.schema.errors import SchemaError


@click.group("report", cls=YimenGroup)
def report_group() -> None:
    """Supervision reports (electronic supervision and the Friday refusal report)."""


@report_group.command("overdue")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@json_option
@click.pass_context
def report_overdue(ctx: click.Context, as_csv: bool, as_json: bool) -> None:
    """Open cases with a red card (past the limit) or yellow card (close to it), and
    deferred materials (容缺) past the date promised for them.

    \b
    Example:
        yimen report overdue --csv > overdue.csv
    """
    rows = reports.overdue(open_node(ctx))
    if as_json:
        return print_json(rows)
    if as_csv:
        return click.echo(reports.to_csv(rows), nl=False)
    late = [r for r in rows if r["kind"] == "material"]
    rows = [r for r in rows if r["kind"] == "case"]
    red = sum(1 for r in rows if r["card"] == "red")
    click.echo(h(ctx, f"红牌 {red} 件，黄牌 {len(rows) - red} 件，容缺材料逾期 {len(late)} 项",
                 f"{red} red, {len(rows) - red} yellow, {len(late)} deferred material(s) overdue"))
    if rows:
        click.echo(table([{**r, "card": card_text(ctx, r["card"]), "status": status_text(ctx, r["status"]),
                           "deadline": deadline_text(ctx, r)} for r in rows], [
            ("card", h(ctx, "督办", "card")), ("case_id", h(ctx, "受理编号", "case")),
            ("item_name", h(ctx, "事项", "item")), ("applicant_name", h(ctx, "申请人", "applicant")),
            ("status", h(ctx, "状态", "status")), ("deadline", h(ctx, "办结时限", "deadline")),
            ("accepted_by", h(ctx, "受理人", "clerk"))]))
    if late:
        click.echo(h(ctx, "容缺材料逾期：", "deferred materials overdue:"))
        click.echo(table(late, [
            ("case_id", h(ctx, "受理编号", "case")), ("item_name", h(ctx, "事项", "item")),
            ("applicant_name", h(ctx, "申请人", "applicant")), ("material", h(ctx, "材料", "material")),
            ("material_due", h(ctx, "承诺补交日期", "due")), ("accepted_by", h(ctx, "受理人", "clerk"))]))


@report_group.command("refusals")
@click.option("--week", default="", is_flag=False, flag_value="", metavar="[YYYY-MM-DD]",
              help="The week holding this date (default: this week).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV rows.")
@json_option
@click.pass_context
def report_refusals(ctx: click.Context, week: str, as_csv: bool, as_json: bool) -> None:
    """The weekly refusal report for the supervision office (监审办): counts and rows by
    kind (supplement, not_accepted, returned), with reasons.

    \b
    Example:
        yimen report refusals --week 2026-11-20 --csv > refusals.csv
    """
    try:
        day = date.fromisoformat(week) if week else None
    except ValueError:
        raise SchemaError(f"日期格式应为 YYYY-MM-DD：{week}", f"dates are YYYY-MM-DD: {week}")
    rep = reports.refusals(open_node(ctx), day)
    if as_json:
        return print_json(rep)
    if as_csv:
        return click.echo(reports.to_csv(rep["rows"]), nl=False)
    click.echo(h(ctx, f"{rep['node']} 拒件周报 {rep['week_start']} 至 {rep['week_end']}：共 {rep['total']} 件",
                 f"refusals at {rep['node']}, {rep['week_start']} to {rep['week_end']}: {rep['total']}"))
    for k in REFUSALS:
        click.echo(f"  {h(ctx, ACTION_ZH[k], k)}: {rep['counts'][k]}")
    if rep["rows"]:
        click.echo(table([{**r, "kind": h(ctx, ACTION_ZH[r["kind"]], r["kind"])} for r in rep["rows"]], [
            ("at", h(ctx, "时间", "time")), ("kind", h(ctx, "类别", "kind")),
            ("case_id", h(ctx, "受理编号", "case")), ("item_name", h(ctx, "事项", "item")),
            ("actor", h(ctx, "人员", "clerk")), ("reason", h(ctx, "理由", "reason"))]))
