"""`yimen case ...`: accept, act, list, show, review, inbox."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import click

from yimen.node.services import audit, caselist, cases, catalog
from yimen.node.cli.audit import noted, reader
from yimen.node.cli.util import (YimenGroup, acting_clerk, any_clerk, h, json_option, lang, open_node,
                                 print_json, status_text)
from yimen.node.cli.output import fields, table
from yimen.node.cli.tables import export_options, one_output
from yimen.node.tables import Column
from yimen.node.cli import tables
from yimen.node.cli.space import accept_notes
from yimen.schema.case import ACTION_ZH, ACTIONS, STATUS_ZH
from yimen.schema.dates import iso_date
from yimen.schema.errors import SchemaError, YimenError
from yimen.schema.words import action_code, code_of, status_code
from yimen.schema.idnumber import mask
from yimen.node import texts
from yimen.node.texts import CARD_ZH, MATERIAL_ZH

ACT_ACTIONS = [a for a in ACTIONS if a not in ("accept", "not_accepted", "review")]  # those are commands


def card_text(ctx: click.Context, card: str) -> str:
    return texts.card_text(lang(ctx), card)


def deadline_text(ctx: click.Context, row: dict) -> str:
    return texts.deadline_text(lang(ctx), row)


# one column list for the screen, CSV and .xlsx (see `tables`); the ID number is masked in all
LIST_COLUMNS = (
    Column("case_id", "受理编号", "case_id"), Column("item_code", "事项编码", "item_code", screen=False),
    Column("item_name", "事项", "item"), Column("applicant_name", "申请人", "applicant"),
    Column("applicant_id", "身份证号", "id_number", fmt=mask), Column("status", "状态", "status", STATUS_ZH),
    Column("card", "督办", "card", CARD_ZH), Column("accepted_date", "受理日期", "accepted", screen=False),
    Column("deadline_text", "办结时限", "deadline"), Column("accepted_by", "受理人工号", "clerk_id"),
    Column("accepted_by_name", "受理人", "clerk_name"), Column("waiting_text", "等待", "waiting_for"),
    Column("flags_text", "提示", "flags"),
)


def _listed(ctx: click.Context, rows: Iterable[dict]) -> Iterator[dict]:
    """Case rows with the texts of the list's derived columns, in the clerk's language."""
    for r in rows:
        r["deadline_text"], r["waiting_text"] = deadline_text(ctx, r), texts.waiting_text(lang(ctx), r["waiting_for"])
        r["flags_text"] = texts.flags_text(lang(ctx), r)
        yield r


def _page_note(ctx: click.Context, page: int, limit: int, shown: int, total: int) -> str:
    """What part of the list is on the screen, and how to see the rest."""
    if total == 0:
        return h(ctx, "没有符合条件的办件", "no matching cases")
    if shown == total:
        return h(ctx, f"共 {total} 条", f"{total} cases")
    first = (page - 1) * limit + 1
    if shown == 0:
        return h(ctx, f"第 {page} 页没有办件：共 {total} 条，每页 {limit} 条",
                 f"page {page} is empty: {total} cases, {limit} to a page")
    last = first + shown - 1
    more = last < total
    return h(ctx, f"显示第 {first}–{last} 条，共 {total} 条" + (f"；用 --page {page + 1} 查看下一页" if more else ""),
             f"showing {first}-{last} of {total}" + (f"; --page {page + 1} shows the next page" if more else ""))


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
@click.option("--no-reuse", is_flag=True, help="Do not satisfy materials from the applicant's space (我的空间).")
@click.option("--keep-in-space", is_flag=True,
              help="The applicant agrees: keep the scans given with --material NAME=FILE in their space.")
@json_option
@click.pass_context
@acting_clerk
def case_accept(ctx: click.Context, clerk: str, item_code: str, applicant_id: str,
                applicant_name: str, phone: str, materials: tuple[str, ...], all_materials: bool,
                deferred: tuple[str, ...], duplicate_ok: bool, no_reuse: bool, keep_in_space: bool,
                as_json: bool) -> None:
    """Accept a case at the window (受理). Immediate items are completed at once.

    An applicant's second open case of the same item needs --duplicate-ok (on a terminal,
    a yes to the question asked instead). Every material whose type the applicant's space
    holds is taken from it (the document and its hash recorded on the case) unless
    --no-reuse; a scan given for it keeps the scan.

    \b
    Example:
        yimen case accept --item MZ-001 --applicant-id 440608199001011235 \\
            --applicant-name 陈美玲 --all-materials --defer 收入证明
        yimen case accept --item CL-001 --applicant-id 440608199001011235 \\
            --applicant-name 陈美玲 --material 户口簿=户口簿.pdf --all-materials --keep-in-space
    """
    node = open_node(ctx)
    files = {n: Path(f) for n, f in _pairs(materials, "材料").items() if f}
    if keep_in_space and not files:
        raise SchemaError("--keep-in-space 须与 --material 名称=文件 一起使用",
                          "--keep-in-space needs scans given as --material NAME=FILE")
    given = {n: (cases.file_sha256(Path(f), n) if f else None) for n, f in _pairs(materials, "材料").items()}
    defer = _pairs(deferred, "材料")
    if all_materials:
        item = catalog.current(node, item_code)
        given.update({m.name: None for m in item.materials if m.name not in defer and m.name not in given
                      and m.requirement != "optional"})
    app = cases.Application(item_code, applicant_id, applicant_name, given, defer, phone)
    row = _accept(ctx, node, clerk, app, duplicate_ok, not no_reuse, files if keep_in_space else {})
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已受理：{row['case_id']}（{row['item_name']}，{status_text(ctx, row['status'])}"
                      f"{'，办结时限 ' + deadline_text(ctx, row) if row['deadline'] else ''}）",
                 f"accepted: {row['case_id']} ({row['item_name']}, {row['status']}"
                 f"{', deadline ' + deadline_text(ctx, row) if row['deadline'] else ''})"))
    accept_notes(ctx, row)


def _interactive() -> bool:
    """A person at a terminal can answer a question (a script must say --duplicate-ok)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _accept(ctx: click.Context, node: Any, clerk: str, app: cases.Application, duplicate_ok: bool,
            reuse: bool = True, keep: dict[str, Path] | None = None) -> dict:
    """`cases.accept`; a duplicate of an open case is asked about at a terminal and refused
    elsewhere (`DuplicateCase`, naming the open cases); one accepted anyway is told."""
    try:
        row = cases.accept(node, clerk, app, duplicate_ok, reuse, keep)
    except cases.DuplicateCase as e:
        if not _interactive():
            raise
        ids = e.open_cases
        if not click.confirm(h(ctx, f"该申请人已有同一事项的在办件：{'、'.join(ids)}。仍要重复受理吗？",
                               f"the applicant already has an open case of this item: {', '.join(ids)}. "
                               f"Accept another one?"), default=False, err=True):
            raise DuplicateDeclined("未受理：该申请人已有同一事项的在办件", "not accepted: the applicant has an open case of this item") from e
        row = cases.accept(node, clerk, app, True, reuse, keep)
    if row["open_duplicates"]:
        click.echo(h(ctx, f"注意：该申请人另有同一事项的在办件：{'、'.join(row['open_duplicates'])}",
                     f"note: the applicant has other open cases of this item: {', '.join(row['open_duplicates'])}"),
                   err=True)
    return row


class DuplicateDeclined(YimenError):
    """The clerk answered no to accepting a duplicate of an open case."""

    code = "duplicate_declined"


@case_group.command("not-accept")
@click.option("--item", "item_code", required=True, help="Catalog item code.")
@click.option("--applicant-id", required=True, help="Applicant's 18-digit ID number.")
@click.option("--applicant-name", required=True, help="Applicant's name.")
@click.option("--reason", required=True, help="Why the application is not accepted.")
@json_option
@click.pass_context
@acting_clerk
def case_not_accept(ctx: click.Context, clerk: str, item_code: str, applicant_id: str,
                    applicant_name: str, reason: str, as_json: bool) -> None:
    """Record an application refused at the window (不予受理), with its reason.

    \b
    Example:
        yimen case not-accept --item MZ-001 --applicant-id 440608199001011235 \\
            --applicant-name 陈美玲 --reason 不属于本村户籍
    """
    row = cases.not_accept(open_node(ctx), clerk, item_code, applicant_id, applicant_name, reason)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"已登记不予受理：{row['case_id']}", f"recorded refusal: {row['case_id']}"))


@case_group.command("act")
@click.argument("case_id")
@click.argument("action", metavar="ACTION")
@click.option("--reason", default="", help="Required for returned, supplement and reject.")
@click.option("--department", default=None, help="Reviewing department (approve/reject).")
@click.option("--material", default=None, help="The deferred material delivered (deliver).")
@json_option
@click.pass_context
@acting_clerk
def case_act(ctx: click.Context, case_id: str, action: str, clerk: str, reason: str,
             department: str | None, material: str | None, as_json: bool) -> None:
    """Take an action on a case: submit, approve, reject, supplement, supply, returned,
    deliver, issue_result, complete, withdraw (or the Chinese word: 提交后台, 批准, 补正 ...).

    \b
    Example:
        yimen case act 440608100201-2026-000001 submit
        yimen case act 440608100201-2026-000001 supplement --reason 缺少收入证明
    """
    action = action_code(action, ACT_ACTIONS)
    row = cases.act(open_node(ctx), case_id, action, clerk, reason, department, material)
    if as_json:
        return print_json(row)
    click.echo(h(ctx, f"{ACTION_ZH[action]}：{case_id} → {status_text(ctx, row['status'])}",
                 f"{action}: {case_id} -> {row['status']}"))


@case_group.command("list")
@click.option("--status", default="", help="Only this status (e.g. in_review or 审批中).")
@click.option("--card", default="", help="Only open cases with this card: red, yellow, green, paused (红牌, 黄牌, 绿, 暂停计时).")
@click.option("--item", default="", help="Only this item code.")
@click.option("--accepted-by", default="", help="Only cases accepted by this clerk.")
@click.option("--from", "date_from", default="", help="Accepted on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", default="", help="Accepted on or before (YYYY-MM-DD).")
@click.option("--name", default="", help="Only this applicant (the exact name).")
@click.option("--id-number", default="", help="Only this applicant's ID number (18 or 15 digits).")
@click.option("--id-tail", default="", help="Only ID numbers ending in these digits (at least 4).")
@click.option("--page", default=1, type=click.IntRange(min=1), show_default=True, help="Which page to show.")
@click.option("--limit", default=100, type=click.IntRange(min=1), show_default=True, help="Rows to a page.")
@click.option("--conflicts", is_flag=True, help="Only cases with a flagged event not yet reviewed.")
@export_options
@json_option
@click.pass_context
@any_clerk
def case_list(ctx: click.Context, status: str, card: str, item: str, accepted_by: str,
              date_from: str, date_to: str, name: str, id_number: str, id_tail: str, page: int, limit: int,
              conflicts: bool, as_csv: bool, xlsx: Path | None, as_json: bool) -> None:
    """List cases, newest first, with filters, a page at a time (says when there is more).
    --csv and --xlsx export every matching case; --json prints
    {"rows": [...], "total": N, "page": P, "pages": K, "limit": L}.

    \b
    Example:
        yimen case list --card red
        yimen case list --status in_review --from 2026-11-01 --json
        yimen case list --conflicts
        yimen case list --id-tail 1235
        yimen case list --status in_review --from 2026-11-01 --xlsx 审批中.xlsx
    """
    one_output(as_json, as_csv, xlsx)
    status = status_code(status) if status.strip() else ""
    card = code_of(card, cases.CARDS, CARD_ZH, "督办牌", "card") if card.strip() else ""
    date_from, date_to = iso_date(date_from, "--from 日期", "--from"), iso_date(date_to, "--to 日期", "--to")
    if date_from and date_to and date_from > date_to:
        raise SchemaError(f"--from {date_from} 晚于 --to {date_to}", f"--from {date_from} is after --to {date_to}")
    node = open_node(ctx)
    filters = dict(status=status, card=card, item=item, clerk=accepted_by, date_from=date_from,
                   date_to=date_to, name=name, id_number=id_number, id_tail=id_tail, conflicts=conflicts)
    ids: list[str] = []
    if tables.show(ctx, _listed(ctx, noted(ids, caselist.iter_cases(node, None, **filters))), LIST_COLUMNS,
                   as_csv=as_csv, xlsx=xlsx, sheet=("办件", "cases")):
        audit.viewed(node, "case_export", reader(ctx), ids, format="xlsx" if xlsx else "csv")
        return
    rows = caselist.list_cases(node, limit, page, **filters)
    total = caselist.count_cases(node, **filters)
    audit.viewed(node, "case_list", reader(ctx), [r["case_id"] for r in rows], page=page)
    if as_json:
        return print_json({"rows": rows, "total": total, "page": page, "pages": -(-total // limit),
                           "limit": limit})
    if rows:
        click.echo(tables.text(ctx, list(_listed(ctx, rows)), LIST_COLUMNS))
    click.echo(_page_note(ctx, page, limit, len(rows), total))


@case_group.command("show")
@click.argument("case_id")
@json_option
@click.pass_context
@any_clerk
def case_show(ctx: click.Context, case_id: str, as_json: bool) -> None:
    """Show a case with its materials and full history (in time order; # is an event's
    number for `case review`, 合并/merged marks an event written without having seen the
    events it names, which came in by a merge).

    \b
    Example:
        yimen case show 440608100201-2026-000001
    """
    node = open_node(ctx)
    d = cases.show(node, case_id)
    audit.viewed_case(node, reader(ctx), d)
    if as_json:
        return print_json(d)
    reviewed = d["conflicts"] - d["conflicts_open"]
    click.echo(fields([
        (h(ctx, "受理编号", "case"), d["case_id"]),
        (h(ctx, "事项", "item"), f"{d['item_code']} {d['item_name']}（v{d['item_version']}）"),
        (h(ctx, "申请人", "applicant"), f"{d['applicant_name']} {mask(d['applicant_id'])}"),
        (h(ctx, "状态", "status"), " ".join(filter(None, [status_text(ctx, d["status"]),
                                                        texts.waiting_text(lang(ctx), d["waiting_for"])]))),
        (h(ctx, "督办", "card"), card_text(ctx, d["card"])),
        (h(ctx, "办结时限", "deadline"), deadline_text(ctx, d) or h(ctx, "即办", "immediate")),
        (h(ctx, "补正暂停计时（工作日）", "paused for supplements (working days)"),
         f"{d['paused_days']}" + (h(ctx, f"，自 {d['paused_since']} 起暂停中", f", paused since {d['paused_since']}")
                                  if d["paused_since"] else "")),
        (h(ctx, "待补交容缺材料", "deferred outstanding"), d["deferred_open"]),
        (h(ctx, "冲突待核查", "conflicts to review"),
         f"{d['conflicts_open']}" + (h(ctx, f"（已核查 {reviewed}）", f" ({reviewed} reviewed)") if reviewed else "")
         + (h(ctx, "（核查：yimen case review）", " (resolve: yimen case review)") if d["conflicts_open"] else "")),
        (h(ctx, "可办理操作", "next actions"),
         ("、".join(ACTION_ZH[a] for a in d["next_actions"]) if lang(ctx) == "zh"
          else ", ".join(d["next_actions"])) or "-"),
    ]))
    click.echo(h(ctx, "材料：", "materials:"))
    for name, m in d["materials"].items():
        click.echo(f"  - {name}{h(ctx, '：', ': ')}{_material_text(ctx, m)}")
    click.echo(h(ctx, "办理过程：", "history:"))
    click.echo(table([_event_cells(ctx, e) for e in d["history"]], [
        ("no", "#"), ("at", h(ctx, "时间", "time")), ("action_text", h(ctx, "操作", "action")),
        ("actor", h(ctx, "人员", "clerk")), ("role", h(ctx, "岗位", "role")),
        ("node", h(ctx, "节点", "node")), ("reason", h(ctx, "理由", "reason")),
        ("flag", h(ctx, "冲突", "conflict")), ("merged", h(ctx, "合并到达", "arrived by merge")),
    ]))


def _material_text(ctx: click.Context, m: dict) -> str:
    state = MATERIAL_ZH.get(m["status"], m["status"]) if lang(ctx) == "zh" else m["status"]
    if m["status"] == "delivered":
        return f"{state} {m['delivered_at']}"
    if m["status"] == "reused":
        return f"{state} {m['doc_id']}"
    due = f" {h(ctx, '承诺补交日期', 'due')} {m['due']}" if m.get("due") else ""
    return state + due + (h(ctx, "（已逾期）", " (overdue)") if m.get("overdue") else "")


def _event_cells(ctx: click.Context, e: dict) -> dict:
    """One history row as shown: the action in the clerk's language, its conflict state
    (to review, or resolved by which review; a review names the event it resolves) and
    the events it came in concurrently with."""
    cells = {**e, "action_text": ACTION_ZH.get(e["action"], e["action"]) if lang(ctx) == "zh" else e["action"]}
    if e["conflict"]:
        cells["flag"] = (h(ctx, f"已核查（#{e['resolved_by'] + 1}）", f"resolved (#{e['resolved_by'] + 1})")
                         if e["resolved_by"] is not None else h(ctx, "待核查", "to review"))
    elif e["resolves"] is not None:
        cells["flag"] = h(ctx, f"核查 #{e['resolves'] + 1}", f"reviews #{e['resolves'] + 1}")
    else:
        cells["flag"] = ""
    nums = h(ctx, "、", ", ").join(f"#{n}" for n in e["concurrent_with"])
    cells["merged"] = h(ctx, f"未见 {nums}", f"had not seen {nums}") if e["merged"] else ""
    return cells
