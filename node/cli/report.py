"""`yimen report ...`: the supervision reports, on the screen, as CSV or as .xlsx."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node.cli import tables
from yimen.node.cli.tables import export_options, one_output
from yimen.node.cli.util import YimenGroup, any_clerk, h, json_option, lang, open_node, print_json
from yimen.node.report_tables import (CASE_COLUMNS, COUNT_COLUMNS, LATE_COLUMNS, OVERDUE_COLUMNS, REFUSAL_COLUMNS,
                                      SHEETS, by_kind, count_rows, overdue_rows)
from yimen.node.services import audit, reports
from yimen.node.cli.audit import reader
from yimen.schema.case import ACTION_ZH, REFUSALS
from yimen.schema.dates import parse_date


def _format(as_json: bool, as_csv: bool, xlsx: Path | None) -> str:
    return "json" if as_json else "csv" if as_csv else "xlsx" if xlsx else "screen"


@click.group("report", cls=YimenGroup)
def report_group() -> None:
    """Supervision reports (electronic supervision and the Friday refusal report)."""


@report_group.command("counts")
@export_options
@json_option
@click.pass_context
@any_clerk
def report_counts(ctx: click.Context, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """How many cases this node lists in each status, and how many open ones hold each
    card (red, yellow, green, paused): the counts of the supervision board (督办).

    \b
    Example:
        yimen report counts
        yimen report counts --xlsx 件数.xlsx
    """
    one_output(as_json, as_csv, xlsx)
    counts = reports.counts(open_node(ctx))
    if as_json:
        return print_json(counts)
    if not tables.show(ctx, count_rows(counts), COUNT_COLUMNS, as_csv=as_csv, xlsx=xlsx, sheet=SHEETS["counts"]):
        click.echo(tables.text(ctx, count_rows(counts), COUNT_COLUMNS))


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
    rows = overdue_rows(lang(ctx), rows)
    if tables.show(ctx, rows, OVERDUE_COLUMNS, as_csv=as_csv, xlsx=xlsx, sheet=("督办", "overdue")):
        return
    rows, late = by_kind(rows)
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
