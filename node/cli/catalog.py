"""`yimen catalog ...`: import, list, show the service catalog."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node.services import catalog
from yimen.node.cli.progress import shown
from yimen.node.cli.util import YimenGroup, admin_only, h, json_option, lang, open_node, print_json
from yimen.node.cli.output import fields, table
from yimen.schema.region import LEVEL_NAME_ZH

ITEM_STATUS_ZH = {"active": "在用", "cancelled": "已取消"}


@click.group("catalog", cls=YimenGroup)
def catalog_group() -> None:
    """The service catalog (事项目录)."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@admin_only
def catalog_import(ctx: click.Context, file: Path) -> None:
    """Import catalog items from a JSON or CSV file (all or nothing).

    A changed item becomes a new version; cases keep the version they were accepted under.
    A code an ancestor (town, district, city) publishes is left as the ancestor's.

    \b
    Example:
        yimen catalog import catalog.json
    """
    node = open_node(ctx)
    items = catalog.read_file(file, node.clock().date().isoformat())
    with shown(lang(ctx)) as progress:
        r = catalog.import_items(node, items, progress)
    click.echo(h(ctx, f"导入完成：新增 {len(r.added)}，更新 {len(r.updated)}，未变 {len(r.unchanged)}"
                      + (f"，{len(r.ancestors)} 项由上级发布，以上级为准" if r.ancestors else ""),
                 f"imported: {len(r.added)} added, {len(r.updated)} updated, {len(r.unchanged)} unchanged"
                 + (f", {len(r.ancestors)} published by an ancestor (left as the ancestor's)" if r.ancestors else "")))


@catalog_group.command("list")
@click.option("--search", default="", help="Part of a code or name, or the pinyin initials of the name (dbsq).")
@click.option("--department", default="", help="Only this department.")
@click.option("--all", "include_cancelled", is_flag=True, help="Include cancelled items.")
@json_option
@click.pass_context
def catalog_list(ctx: click.Context, search: str, department: str, include_cancelled: bool,
                 as_json: bool) -> None:
    """List catalog items, optionally searching by code, name or pinyin initials.

    \b
    Example:
        yimen catalog list --search 低保
    """
    rows = catalog.list_items(open_node(ctx), search, department, include_cancelled)
    if as_json:
        return print_json(rows)
    for r in rows:
        r["limit"] = h(ctx, "即办", "immediate") if r["immediate"] else \
            h(ctx, f"{r['time_limit_days']}个工作日", f"{r['time_limit_days']} working days")
    click.echo(table(rows, [("code", h(ctx, "编码", "code")), ("name", h(ctx, "事项名称", "name")),
                            ("department", h(ctx, "部门", "department")),
                            ("limit", h(ctx, "时限", "limit")), ("version", h(ctx, "版本", "ver"))]))


@catalog_group.command("show")
@click.argument("code")
@json_option
@click.pass_context
def catalog_show(ctx: click.Context, code: str, as_json: bool) -> None:
    """Show one item's guide: materials, approval steps, limit, legal basis.

    \b
    Example:
        yimen catalog show MZ-001
    """
    d = catalog.show(open_node(ctx), code)
    if as_json:
        return print_json(d)
    req = {"mandatory": h(ctx, "必需", "mandatory"), "deferrable": h(ctx, "可容缺", "deferrable"),
           "optional": h(ctx, "可选", "optional")}
    steps = " → ".join(" + ".join(f"{h(ctx, LEVEL_NAME_ZH.get(r['level'], r['level']), r['level'])}·{r['department']}"
                                  for r in s) for s in d["steps"])
    click.echo(fields([
        (h(ctx, "编码", "code"), f"{d['code']}（{h(ctx, '版本', 'version')} {d['version']}）"),
        (h(ctx, "名称", "name"), d["name"]),
        (h(ctx, "部门", "department"), d["department"]),
        (h(ctx, "设定依据", "legal basis"), d["legal_basis"]),
        (h(ctx, "承诺时限", "time limit"), h(ctx, "即办件", "immediate") if d["immediate"]
         else h(ctx, f"{d['time_limit_days']}个工作日", f"{d['time_limit_days']} working days")),
        (h(ctx, "审批步骤", "approval steps"), steps or h(ctx, "（无）", "(none)")),
        (h(ctx, "收费", "fee"), d["fee"] or h(ctx, "不收费", "free")),
        (h(ctx, "状态", "status"), h(ctx, ITEM_STATUS_ZH.get(d["status"], d["status"]), d["status"])),
        (h(ctx, "生效日期", "effective"), d["effective_date"]),
    ]))
    click.echo(h(ctx, "申请材料：", "materials:"))
    for m in d["materials"]:
        click.echo(f"  - {m['name']}（{req[m['requirement']]}）")
