"""`yimen case review` and `yimen case inbox`: resolving a flagged conflict, and the cases
waiting for this node's decisions (registered on the `case` group)."""

from __future__ import annotations

import click

from yimen.node.cli.case import card_text, case_group
from yimen.node.cli.output import table
from yimen.node.cli.util import acting_clerk, any_clerk, h, json_option, open_node, print_json, status_text
from yimen.node.services import audit, casework
from yimen.node.cli.audit import reader
from yimen.schema.idnumber import mask


@case_group.command("review")
@click.argument("case_id")
@click.option("--event", "event_no", type=click.IntRange(min=1), required=True,
              help="The flagged event's number (# in `case show`).")
@click.option("--resolution", required=True, help="How the conflict was resolved (recorded as the reason).")
@json_option
@click.pass_context
@acting_clerk
def case_review(ctx: click.Context, case_id: str, event_no: int, resolution: str, clerk: str,
                as_json: bool) -> None:
    """Record the review of a flagged event (冲突核查): the resolution becomes a new event in
    the history; nothing is deleted, the flagged event is shown as resolved. The clerk holds
    the role the flagged event was taken under.

    \b
    Example:
        yimen case review 440608100201-2026-000001 --event 6 \\
            --resolution 已与镇街核实，以办结为准
    """
    row = casework.review(open_node(ctx), case_id, event_no, resolution, clerk)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已核查：{case_id} 第 {event_no} 条（冲突待核查 {row['conflicts_open']}）",
                 f"reviewed: {case_id} event {event_no} ({row['conflicts_open']} conflict(s) left to review)"))


@case_group.command("inbox")
@click.option("--department", default="", help="Only steps of this department (e.g. 民政).")
@json_option
@click.pass_context
@any_clerk
def case_inbox(ctx: click.Context, department: str, as_json: bool) -> None:
    """Cases waiting for a decision at this node's level: by department, red and yellow
    cards first, oldest first.

    \b
    Example:
        yimen case inbox --department 民政
    """
    node = open_node(ctx)
    rows = casework.inbox(node, department)
    audit.viewed(node, "case_inbox", reader(ctx), [r["case_id"] for r in rows])
    if as_json:
        return print_json(rows)
    if not rows:
        return click.echo(h(ctx, "没有等待本级审批的办件", "no cases wait for this level"))
    for r in rows:
        r["card_text"], r["status_text"] = card_text(ctx, r["card"]), status_text(ctx, r["status"])
        r["applicant"] = f"{r['applicant_name']} {mask(r['applicant_id'])}"
    click.echo(table(rows, [
        ("waiting_department", h(ctx, "部门", "department")), ("card_text", h(ctx, "督办", "card")),
        ("case_id", h(ctx, "受理编号", "case")), ("item_name", h(ctx, "事项", "item")),
        ("applicant", h(ctx, "申请人", "applicant")), ("accepted_at", h(ctx, "受理时间", "accepted")),
        ("deadline", h(ctx, "办结时限", "deadline")),
    ]))
