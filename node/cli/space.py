"""`yimen space ...`: a citizen's space (我的空间) at the window: show it, add a scan,
record a consent, withdraw one, fetch what the consents allow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from yimen.node.cli.audit import reader
from yimen.node.cli.output import table
from yimen.node.cli.util import YimenGroup, acting_clerk, any_clerk, h, json_option, lang, open_node, print_json
from yimen.node.cli.progress import shown
from yimen.node.services import space_desk
from yimen.schema.doc_types import DOC_TYPES

SOURCE_ZH = {"result": "办理结果", "scan": "窗口扫描件"}
STATE_ZH = {"live": "有效", "expired": "已过期", "withdrawn": "已撤回"}


@click.group("space", cls=YimenGroup)
def space_group() -> None:
    """A citizen's space (我的空间): their documents and the consents they gave.

    \b
    Example:
        yimen space show 440608199001011235
    """


def type_text(ctx: click.Context, code: str) -> str:
    return DOC_TYPES.get(code, code) if lang(ctx) == "zh" else code


def size_text(size: int) -> str:
    for unit, n in (("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= n:
            return f"{size / n:.1f} {unit}"
    return f"{size} B"


def _files_text(ctx: click.Context, files: list[dict]) -> str:
    return h(ctx, "；", "; ").join(
        f"{f['name']} {size_text(f['size'])} " + (h(ctx, "完整", "complete") if f["complete"]
                                                   else h(ctx, "分块未齐", "chunks missing")) for f in files)


def _origin_text(ctx: click.Context, o: dict) -> str:
    if o["from"] == "home":
        return h(ctx, "本节点存入", "deposited here")
    if o["from"] == "subtree":
        return h(ctx, f"下级 {o['home']} 存入", f"deposited below, at {o['home']}")
    ids = h(ctx, "、", ", ").join(o["consents"]) or h(ctx, "（无有效同意书）", "(no consent held)")
    return h(ctx, f"{o['home']} 存入，凭同意书 {ids} 取得", f"from {o['home']}, under consent {ids}")


def _show_text(ctx: click.Context, d: dict) -> None:
    click.echo(h(ctx, f"居民：{d['citizen_name']} {d['citizen_masked']}", f"citizen: {d['citizen_name']} {d['citizen_masked']}"))
    click.echo(h(ctx, f"文档（{len(d['documents'])}）：", f"documents ({len(d['documents'])}):"))
    if d["documents"]:
        click.echo(table([{**x, "type": type_text(ctx, x["doc_type"]),
                           "source_text": SOURCE_ZH[x["source"]] if lang(ctx) == "zh" else x["source"],
                           "files_text": _files_text(ctx, x["files"]), "origin_text": _origin_text(ctx, x["origin"])}
                          for x in d["documents"]], [
            ("doc_id", h(ctx, "编号", "id")), ("type", h(ctx, "类型", "type")), ("title", h(ctx, "名称", "title")),
            ("issuer", h(ctx, "出具节点", "issuer")), ("issued_on", h(ctx, "日期", "date")),
            ("source_text", h(ctx, "来源", "source")), ("files_text", h(ctx, "文件", "files")),
            ("origin_text", h(ctx, "从何而来", "came from"))]))
    click.echo(h(ctx, f"同意书（{len(d['consents'])}）：", f"consents ({len(d['consents'])}):"))
    if d["consents"]:
        click.echo(table([{**c, "types_text": h(ctx, "、", ", ").join(type_text(ctx, t) for t in c["types"]),
                           "state_text": STATE_ZH[c["state"]] if lang(ctx) == "zh" else c["state"]}
                          for c in d["consents"]], [
            ("consent_id", h(ctx, "编号", "id")), ("node", h(ctx, "窗口", "window")),
            ("types_text", h(ctx, "类型", "types")), ("purpose", h(ctx, "用途", "purpose")),
            ("expires_at", h(ctx, "有效至", "expires")), ("state_text", h(ctx, "状态", "state"))]))


def accept_notes(ctx: click.Context, row: dict) -> None:
    """Which materials were taken from the applicant's space, which scans were kept there."""
    sep = h(ctx, "；", "; ")
    if row["reused"]:
        taken = sep.join(f"{n}{h(ctx, '（', ' (')}{r['doc_id']}{h(ctx, '）', ')')}" for n, r in row["reused"].items())
        click.echo(h(ctx, f"取自我的空间，无需提交：{taken}", f"taken from My Space, not needed from the applicant: {taken}"))
    if row["kept_in_space"]:
        kept = sep.join(f"{n}{h(ctx, '（', ' (')}{d}{h(ctx, '）', ')')}" for n, d in row["kept_in_space"].items())
        click.echo(h(ctx, f"扫描件已存入我的空间：{kept}", f"scans kept in My Space: {kept}"))
    if row.get("not_kept"):
        names = sep.join(row["not_kept"])
        click.echo(h(ctx, f"未存入我的空间（目录未定证照类型）：{names}",
                     f"not kept in My Space (the catalog gives no document type): {names}"))



@space_group.command("show")
@click.argument("id_number", metavar="ID-NUMBER")
@json_option
@click.pass_context
@any_clerk
def space_show(ctx: click.Context, id_number: str, as_json: bool) -> None:
    """Show a citizen's space as this node holds it: documents (type, title, issuer, date,
    source, files and whether every chunk is here, where each came from) and consents
    (live, expired or withdrawn). The read is recorded in the audit log.

    \b
    Example:
        yimen space show 440608199001011235
    """
    node = open_node(ctx)
    d = space_desk.show(node, id_number, reader(ctx))
    if as_json:
        return print_json(d)
    _show_text(ctx, d)


@space_group.command("add")
@click.option("--person", "id_number", required=True, help="The citizen's 18-digit ID number.")
@click.option("--name", required=True, help="The citizen's name.")
@click.option("--type", "doc_type", required=True, help="Document type: a code or its Chinese name (残疾人证).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_context
@acting_clerk
def space_add(ctx: click.Context, clerk: str, id_number: str, name: str, doc_type: str, files: tuple[Path, ...],
              as_json: bool) -> None:
    """Keep a scan handed in at the window in the citizen's space, with its type (one
    document carrying the files given).

    \b
    Example:
        yimen space add --person 440608199001011235 --name 陈美玲 --type 户口簿 户口簿首页.pdf 本人页.pdf
    """
    r = space_desk.add_scan(open_node(ctx), clerk, id_number, name, doc_type, list(files))
    if as_json:
        return print_json(r)
    click.echo(h(ctx, f"已存入我的空间：{r['doc_id']}（{r['title']}，{len(r['files'])} 个文件）",
                 f"kept in My Space: {r['doc_id']} ({r['doc_type']}, {len(r['files'])} file(s))"))


@space_group.command("consent")
@click.option("--person", "id_number", required=True, help="The citizen's 18-digit ID number.")
@click.option("--name", required=True, help="The citizen's name.")
@click.option("--types", required=True, help="Document types, comma-separated: codes or Chinese names.")
@click.option("--days", type=int, default=None, help="How many days it runs (at most consent_max_days, the default).")
@click.option("--purpose", required=True, help="What the documents are needed for.")
@json_option
@click.pass_context
@acting_clerk
def space_consent(ctx: click.Context, clerk: str, id_number: str, name: str, types: str, days: int | None,
                  purpose: str, as_json: bool) -> None:
    """Record the citizen's consent, given here in person, that this window may fetch and
    hold their documents of these types (from their home village, through the chain).

    \b
    Example:
        yimen space consent --person 440608199001011235 --name 陈美玲 --types 残疾人证,户口簿 \\
            --days 7 --purpose 办理困难残疾人生活补贴
    """
    r = space_desk.give_consent(open_node(ctx), clerk, id_number, name, space_desk.doc_types_of(types), days, purpose)
    if as_json:
        return print_json(r)
    click.echo(h(ctx, f"已登记同意书：{r['consent_id']}（{'、'.join(DOC_TYPES[t] for t in r['types'])}，"
                      f"有效至 {r['expires_at']}）",
                 f"consent recorded: {r['consent_id']} ({', '.join(r['types'])}, until {r['expires_at']})"))


@space_group.command("withdraw")
@click.argument("consent_id", metavar="CONSENT-ID")
@click.option("--reason", default="", help="Why it is withdrawn.")
@json_option
@click.pass_context
@acting_clerk
def space_withdraw(ctx: click.Context, clerk: str, consent_id: str, reason: str, as_json: bool) -> None:
    """Withdraw a consent given at this window: every node that holds documents only
    through it purges them when it learns this.

    \b
    Example:
        yimen space withdraw 440608100201-C2026-000001 --reason 本人申请撤回
    """
    r = space_desk.withdraw(open_node(ctx), clerk, consent_id, reason)
    if as_json:
        return print_json(r)
    if r["already"]:
        click.echo(h(ctx, f"同意书 {r['consent_id']} 已于 {r['withdrawn_at']} 撤回", f"consent {r['consent_id']} "
                          f"was already withdrawn at {r['withdrawn_at']}"))
    else:
        click.echo(h(ctx, f"已撤回同意书：{r['consent_id']}", f"consent withdrawn: {r['consent_id']}"))


@space_group.command("fetch")
@click.option("--wait", "wait_s", type=click.IntRange(0, 600), default=30, show_default=True,
              help="Seconds to wait for documents a hub is still fetching itself.")
@json_option
@click.pass_context
@any_clerk
def space_fetch(ctx: click.Context, wait_s: int, as_json: bool) -> None:
    """Fetch now what the consents given at this window allow: the citizens' documents,
    from the nearest ancestor that holds them, then their files chunk by chunk (a link cut
    on the way resumes where it stopped). A sync round runs first, so a consent just given
    goes up with it.

    \b
    Example:
        yimen space fetch --wait 60
    """
    from yimen.node.services import space_fetch as fetching
    node = open_node(ctx)
    with shown(lang(ctx)) as progress:
        r = asyncio.run(fetching.fetch_now(node, progress, wait_s))
    if as_json:
        return print_json(r)
    f = r["files"]
    click.echo(h(ctx, f"凭 {r['consents']} 份同意书持有 {r['documents']} 份文档（本次新取得 {r['new_documents']} 份），"
                      f"取得 {f['fetched']} 个文件分块（{size_text(f['bytes'])}）",
                 f"under {r['consents']} consent(s): {r['documents']} document(s) held ({r['new_documents']} new), "
                 f"{f['fetched']} file chunk(s) fetched ({size_text(f['bytes'])})"))
    if f["missing"]:
        click.echo(h(ctx, f"尚缺 {f['missing']} 个分块：上级尚未取得，稍后再次执行 yimen space fetch",
                     f"{f['missing']} chunk(s) still missing: the hubs do not hold them yet; run yimen space fetch again later"))
