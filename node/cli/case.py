"""`yimen case ...`: accept, act, list, show."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from yimen.node.services import cases, catalog
from yimen.node.cli.util import (YimenGroup, clerk_option, h, json_option, lang, open_node,
                                 print_json, status_text)
from yimen.node.cli.output import fields, table
from yimen.schema.case import ACTION_ZH, ACTIONS
from yimen.schema.dates import iso_date
from yimen.schema.errors import SchemaError, YimenError
from yimen.schema.words import action_code, code_of, status_code
from yimen.schema.idnumber import mask

MATERIAL_ZH = {"provided": "已提交", "deferred": "容缺待补交", "missing": "未提交"}

ACT_ACTIONS = [a for a in ACTIONS if a not in ("accept", "not_accepted")]  # those two are commands

CARD_ZH = {"red": "红牌", "yellow": "黄牌", "green": "绿", "": ""}


def card_text(ctx: click.Context, card: str) -> str:
    return CARD_ZH[card] if lang(ctx) == "zh" else card


def _case_table(ctx: click.Context, rows: list[dict]) -> str:
    for r in rows:
        r["status_text"] = status_text(ctx, r["status"])
        r["card_text"] = card_text(ctx, r.get("card", ""))
        r["applicant"] = f"{r['applicant_name']} {mask(r['applicant_id'])}"
    return table(rows, [
        ("case_id", h(ctx, "受理编号", "case")), ("item_name", h(ctx, "事项", "item")),
        ("applicant", h(ctx, "申请人", "applicant")), ("status_text", h(ctx, "状态", "status")),
        ("card_text", h(ctx, "督办", "card")), ("deadline", h(ctx, "办结时限", "deadline")),
        ("accepted_by", h(ctx, "受理人", "clerk")),
    ])


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str | None]:
    """`NAME` or `NAME=VALUE` options into a dict."""
    out: dict[str, str | None] = {}
    for v in values:
        name, _, val = v.partition("=")
        if not name.strip():
            raise SchemaError(f"{what}名称不能为空", f"empty {what} name")
        out[name.strip()] = val.strip() or None
    return out


@click.group("case", cls=YimenGroup)
def case_group() -> None:
    """Cases (办件): accept, act, list, show."""


@case_group.command("accept")
@clerk_option
@click.option("--item", "item_code", required=True, help="Catalog item code.")
@click.option("--applicant-id", required=True, help="Applicant's 18-digit ID number.")
@click.option("--applicant-name", required=True, help="Applicant's name.")
@click.option("--phone", default="", help="Applicant's phone.")
@click.option("--material", "materials", multiple=True, metavar="NAME[=FILE]",
              help="A material handed in; with =FILE its scan is fingerprinted (SHA-256).")
@click.option("--all-materials", is_flag=True, help="Every material not deferred was handed in.")
@click.option("--defer", "deferred", multiple=True, metavar="NAME[=YYYY-MM-DD]",
              help="A deferrable material promised later (容缺), due by the date (today up to the "
                   "deadline) or the deadline.")
@click.option("--duplicate-ok", is_flag=True,
              help="Accept even though the applicant has an open case of the same item.")
@json_option
@click.pass_context
def case_accept(ctx: click.Context, clerk: str, item_code: str, applicant_id: str,
                applicant_name: str, phone: str, materials: tuple[str, ...], all_materials: bool,
                deferred: tuple[str, ...], duplicate_ok: bool, as_json: bool) -> None:
    """Accept a case at the window (受理). Immediate items are completed at once.

    An applicant's second open case of the same item needs --duplicate-ok (on a terminal,
    a yes to the question asked instead).

    \b
    Example:
        yimen case accept --clerk c01 --item MZ-001 --applicant-id 440608199001011235 \\
            --applicant-name 陈美玲 --all-materials --defer 收入证明
    """
    node = open_node(ctx)
    given = {n: (cases.file_sha256(Path(f), n) if f else None) for n, f in _pairs(materials, "材料").items()}
    defer = _pairs(deferred, "材料")
    if all_materials:
        item = catalog.current(node, item_code)
        given.update({m.name: None for m in item.materials if m.name not in defer and m.name not in given
                      and m.requirement != "optional"})
    app = cases.Application(item_code, applicant_id, applicant_name, given, defer, phone)
    row = _accept(ctx, node, clerk, app, duplicate_ok)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已受理：{row['case_id']}（{row['item_name']}，{status_text(ctx, row['status'])}"
                      f"{'，办结时限 ' + row['deadline'] if row['deadline'] else ''}）",
                 f"accepted: {row['case_id']} ({row['item_name']}, {row['status']}"
                 f"{', deadline ' + row['deadline'] if row['deadline'] else ''})"))


def _interactive() -> bool:
    """A person at a terminal can answer a question (a script must say --duplicate-ok)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _accept(ctx: click.Context, node: Any, clerk: str, app: cases.Application, duplicate_ok: bool) -> dict:
    """`cases.accept`; a duplicate of an open case is asked about at a terminal and refused
    elsewhere (`DuplicateCase`, naming the open cases); one accepted anyway is told."""
    try:
        row = cases.accept(node, clerk, app, duplicate_ok)
    except cases.DuplicateCase as e:
        if not _interactive():
            raise
        ids = e.open_cases
        if not click.confirm(h(ctx, f"该申请人已有同一事项的在办件：{'、'.join(ids)}。仍要重复受理吗？",
                               f"the applicant already has an open case of this item: {', '.join(ids)}. "
                               f"Accept another one?"), default=False, err=True):
            raise DuplicateDeclined("未受理：该申请人已有同一事项的在办件", "not accepted: the applicant has an open case of this item") from e
        row = cases.accept(node, clerk, app, duplicate_ok=True)
    if row["open_duplicates"]:
        click.echo(h(ctx, f"注意：该申请人另有同一事项的在办件：{'、'.join(row['open_duplicates'])}",
                     f"note: the applicant has other open cases of this item: {', '.join(row['open_duplicates'])}"),
                   err=True)
    return row


class DuplicateDeclined(YimenError):
    """The clerk answered no to accepting a duplicate of an open case."""

    code = "duplicate_declined"


@case_group.command("not-accept")
@clerk_option
@click.option("--item", "item_code", required=True, help="Catalog item code.")
@click.option("--applicant-id", required=True, help="Applicant's 18-digit ID number.")
@click.option("--applicant-name", required=True, help="Applicant's name.")
@click.option("--reason", required=True, help="Why the application is not accepted.")
@json_option
@click.pass_context
def case_not_accept(ctx: click.Context, clerk: str, item_code: str, applicant_id: str,
                    applicant_name: str, reason: str, as_json: bool) -> None:
    """Record an application refused at the window (不予受理), with its reason.

    \b
    Example:
        yimen case not-accept --clerk c01 --item MZ-001 --applicant-id 440608199001011235 \\
            --applicant-name 陈美玲 --reason 不属于本村户籍
    """
    row = cases.not_accept(open_node(ctx), clerk, item_code, applicant_id, applicant_name, reason)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已登记不予受理：{row['case_id']}", f"recorded refusal: {row['case_id']}"))


@case_group.command("act")
@click.argument("case_id")
@click.argument("action", metavar="ACTION")
@clerk_option
@click.option("--reason", default="", help="Required for returned, supplement and reject.")
@click.option("--department", default=None, help="Reviewing department (approve/reject).")
@click.option("--material", default=None, help="The deferred material delivered (deliver).")
@json_option
@click.pass_context
def case_act(ctx: click.Context, case_id: str, action: str, clerk: str, reason: str,
             department: str | None, material: str | None, as_json: bool) -> None:
    """Take an action on a case: submit, approve, reject, supplement, supply, returned,
    deliver, issue_result, complete, withdraw (or the Chinese word: 提交后台, 批准, 补正 ...).

    \b
    Example:
        yimen case act 440608100201-2026-000001 submit --clerk c01
        yimen case act 440608100201-2026-000001 supplement --clerk c01 --reason 缺少收入证明
    """
    action = action_code(action, ACT_ACTIONS)
    row = cases.act(open_node(ctx), case_id, action, clerk, reason, department, material)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"{ACTION_ZH[action]}：{case_id} → {status_text(ctx, row['status'])}",
                 f"{action}: {case_id} -> {row['status']}"))


@case_group.command("list")
@click.option("--status", default="", help="Only this status (e.g. in_review or 审批中).")
@click.option("--card", default="", help="Only open cases with this card: red, yellow, green (红牌, 黄牌, 绿).")
@click.option("--item", default="", help="Only this item code.")
@click.option("--accepted-by", default="", help="Only cases accepted by this clerk.")
@click.option("--from", "date_from", default="", help="Accepted on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", default="", help="Accepted on or before (YYYY-MM-DD).")
@click.option("--limit", default=100, show_default=True, help="At most this many rows.")
@json_option
@click.pass_context
def case_list(ctx: click.Context, status: str, card: str, item: str, accepted_by: str,
              date_from: str, date_to: str, limit: int, as_json: bool) -> None:
    """List cases, newest first, with filters.

    \b
    Example:
        yimen case list --card red
        yimen case list --status in_review --from 2026-11-01 --json
    """
    status = status_code(status) if status.strip() else ""
    card = code_of(card, ("red", "yellow", "green"), CARD_ZH, "督办牌", "card") if card.strip() else ""
    date_from, date_to = iso_date(date_from, "--from 日期", "--from"), iso_date(date_to, "--to 日期", "--to")
    if date_from and date_to and date_from > date_to:
        raise SchemaError(f"--from {date_from} 晚于 --to {date_to}", f"--from {date_from} is after --to {date_to}")
    rows = cases.list_cases(open_node(ctx), status, card, item, accepted_by, date_from,
                            date_to, limit)
    if as_json:
        return print_json(rows)
    click.echo(_case_table(ctx, rows) if rows else h(ctx, "没有符合条件的办件", "no matching cases"))


@case_group.command("show")
@click.argument("case_id")
@json_option
@click.pass_context
def case_show(ctx: click.Context, case_id: str, as_json: bool) -> None:
    """Show a case with its materials and full history.

    \b
    Example:
        yimen case show 440608100201-2026-000001
    """
    d = cases.show(open_node(ctx), case_id)
    if as_json:
        return print_json(d)
    click.echo(fields([
        (h(ctx, "受理编号", "case"), d["case_id"]),
        (h(ctx, "事项", "item"), f"{d['item_code']} {d['item_name']}（v{d['item_version']}）"),
        (h(ctx, "申请人", "applicant"), f"{d['applicant_name']} {mask(d['applicant_id'])}"),
        (h(ctx, "状态", "status"), status_text(ctx, d["status"])),
        (h(ctx, "督办", "card"), card_text(ctx, d["card"])),
        (h(ctx, "办结时限", "deadline"), d["deadline"] or h(ctx, "即办", "immediate")),
        (h(ctx, "待补交容缺材料", "deferred outstanding"), d["deferred_open"]),
        (h(ctx, "冲突待核查", "conflicts to review"), d["conflicts"]),
        (h(ctx, "可办理操作", "next actions"),
         ("、".join(f"{ACTION_ZH[a]}（{a}）" for a in d["next_actions"]) if lang(ctx) == "zh"
          else ", ".join(d["next_actions"])) or "-"),
    ]))
    click.echo(h(ctx, "材料：", "materials:"))
    for name, m in d["materials"].items():
        due = f" {h(ctx, '承诺补交日期', 'due')} {m['due']}" if m.get("due") else ""
        state = MATERIAL_ZH.get(m["status"], m["status"]) if lang(ctx) == "zh" else m["status"]
        click.echo(f"  - {name}：{state}{due}" if lang(ctx) == "zh" else f"  - {name}: {state}{due}")
    click.echo(h(ctx, "办理过程：", "history:"))
    for e in d["history"]:
        e["action_text"] = ACTION_ZH.get(e["action"], e["action"]) if lang(ctx) == "zh" else e["action"]
        e["flag"] = h(ctx, "冲突", "CONFLICT") if e["conflict"] else ""
    click.echo(table(d["history"], [
        ("at", h(ctx, "时间", "time")), ("action_text", h(ctx, "操作", "action")),
        ("actor", h(ctx, "人员", "clerk")), ("role", h(ctx, "岗位", "role")),
        ("node", h(ctx, "节点", "node")), ("reason", h(ctx, "理由", "reason")), ("flag", ""),
    ]))
