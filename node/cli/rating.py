"""`yimen rating ...`: one case, one rating (一事一评): the citizen's rating, the admin's
follow-up, the ratings still to follow up, satisfaction by item or by clerk."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node.cli import tables
from yimen.node.cli.audit import reader
from yimen.node.cli.output import fields
from yimen.node.cli.tables import export_options, one_output
from yimen.node.tables import Column
from yimen.node.cli.util import YimenGroup, acting_clerk, admin_clerk, admin_only, any_clerk, h, json_option, lang
from yimen.node.cli.util import open_node, print_json
from yimen.node.services import audit, ratings
from yimen.schema.rating import SCORE_ZH, score_text

FOLLOW_UP_ZH = {"open": "待回访", "done": "已回访", "none": "无需回访"}
OPEN_COLUMNS = (
    Column("rated_at", "评价时间", "rated_at", fmt=lambda v: (v or "")[:16].replace("T", " ")),
    Column("case_id", "受理编号", "case_id"), Column("item_name", "事项", "item"),
    Column("score", "评价", "score", SCORE_ZH), Column("reason", "理由", "reason"),
    Column("clerk", "经办人工号", "clerk_id"), Column("clerk_name", "经办人", "clerk_name"),
    Column("node", "节点", "node", screen=False),
)
SHARE = Column("share", "满意率", "satisfied_share", fmt=lambda v: f"{v:.0%}")
COUNTS = (Column("total", "评价数", "total"), Column("satisfied", "满意", "satisfied"),
          Column("basic", "基本满意", "basic"), Column("unsatisfied", "不满意", "unsatisfied"), SHARE)
BY_COLUMNS = {
    "item": (Column("item_code", "事项编码", "item_code"), Column("item_name", "事项", "item"), *COUNTS),
    "clerk": (Column("clerk", "经办人工号", "clerk_id"), Column("clerk_name", "经办人", "clerk_name"),
              Column("clerk_node", "节点", "node"), *COUNTS),
}


@click.group("rating", cls=YimenGroup)
def rating_group() -> None:
    """One case, one rating (一事一评): ratings, follow-ups and satisfaction."""


@rating_group.command("add")
@click.argument("case_id")
@click.option("--score", required=True, help="满意, 基本满意 or 不满意 (or satisfied, basic, unsatisfied).")
@click.option("--reason", default="", help="The citizen's reason (required for 不满意, at most 500 characters).")
@json_option
@click.pass_context
@acting_clerk
def rating_add(ctx: click.Context, case_id: str, score: str, reason: str, clerk: str, as_json: bool) -> None:
    """Record the citizen's rating of a case, once, at the window that accepted it, when
    its result is issued or it is closed (refusals too).

    \b
    Example:
        yimen rating add 440608100201-2026-000001 --score 满意
        yimen rating add 440608100201-2026-000002 --score 不满意 --reason 排队太久
    """
    row = ratings.rate(open_node(ctx), case_id, score, reason, clerk)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已记录评价：{case_id} {score_text('zh', row['score'])}",
                 f"rating recorded: {case_id} {score_text('en', row['score'])}"))


@rating_group.command("show")
@click.argument("case_id")
@json_option
@click.pass_context
@any_clerk
def rating_show(ctx: click.Context, case_id: str, as_json: bool) -> None:
    """Show a case's rating and its follow-up.

    \b
    Example:
        yimen rating show 440608100201-2026-000001
    """
    node = open_node(ctx)
    row = ratings.get(node, case_id)
    audit.viewed(node, "rating_show", reader(ctx), [case_id])
    if as_json:
        return print_json(row)
    language = lang(ctx)
    status = FOLLOW_UP_ZH[row["follow_up_status"]] if language == "zh" else row["follow_up_status"]
    click.echo(fields([
        (h(ctx, "受理编号", "case"), row["case_id"]), (h(ctx, "事项", "item"), row["item_name"]),
        (h(ctx, "评价", "score"), score_text(language, row["score"])), (h(ctx, "理由", "reason"), row["reason"]),
        (h(ctx, "评价时间", "rated at"), row["rated_at"]),
        (h(ctx, "经办人", "clerk"), f"{row['clerk_name'] or ''}（{row['clerk']}）" if language == "zh"
         else f"{row['clerk']} ({row['clerk_name'] or ''})"),
        (h(ctx, "回访整改", "follow-up"), status), (h(ctx, "回访人", "followed up by"), row["follow_up_by"]),
        (h(ctx, "回访时间", "followed up at"), row["follow_up_at"]),
        (h(ctx, "回访整改情况", "what was done"), row["follow_up_text"]),
    ]))


@rating_group.command("follow-up")
@click.argument("case_id")
@click.option("--text", "text", required=True, help="What was done (回访/整改), at most 2,000 characters.")
@json_option
@click.pass_context
@admin_clerk
def rating_follow_up(ctx: click.Context, case_id: str, text: str, clerk: str, as_json: bool) -> None:
    """Record the follow-up of a rating (回访/整改): what an admin of this node did about it.

    \b
    Example:
        yimen rating follow-up 440608100201-2026-000002 --text 已电话回访，增设取号机
    """
    row = ratings.follow_up(open_node(ctx), case_id, clerk, text)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已记录回访整改：{case_id}", f"follow-up recorded: {case_id}"))


@rating_group.command("open")
@export_options
@json_option
@click.pass_context
@admin_only
def rating_open(ctx: click.Context, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """Ratings that wait for a follow-up (不满意 with none recorded yet), oldest first.

    \b
    Example:
        yimen rating open
        yimen rating open --xlsx 待回访.xlsx
    """
    one_output(as_json, as_csv, xlsx)
    node = open_node(ctx)
    rows = ratings.open_follow_ups(node)
    audit.viewed(node, "rating_board", reader(ctx), [r["case_id"] for r in rows])
    if as_json:
        return print_json(rows)
    if tables.show(ctx, rows, OPEN_COLUMNS, as_csv=as_csv, xlsx=xlsx, sheet=("待回访", "follow-ups")):
        return
    if not rows:
        return click.echo(h(ctx, "没有待回访的评价", "no rating waits for a follow-up"))
    click.echo(tables.text(ctx, rows, OPEN_COLUMNS))


@rating_group.command("satisfaction")
@click.option("--by", type=click.Choice(ratings.GROUPS), default="item", show_default=True,
              help="Count by item or by the clerk of the cases' final action.")
@export_options
@json_option
@click.pass_context
@admin_only
def rating_satisfaction(ctx: click.Context, by: str, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """Satisfaction (满意率: 满意 and 基本满意 among all ratings) by item or by clerk, over
    the ratings this node holds (its own and those of the nodes below it).

    \b
    Example:
        yimen rating satisfaction --by clerk
    """
    one_output(as_json, as_csv, xlsx)
    rows = ratings.satisfaction(open_node(ctx), by)
    if as_json:
        return print_json(rows)
    if tables.show(ctx, rows, BY_COLUMNS[by], as_csv=as_csv, xlsx=xlsx, sheet=("满意度", "satisfaction")):
        return
    if not rows:
        return click.echo(h(ctx, "尚无评价", "no ratings yet"))
    click.echo(tables.text(ctx, rows, BY_COLUMNS[by]))
