"""`yimen init`, `yimen status`, `yimen rebuild`: the node itself."""

from __future__ import annotations

from pathlib import Path

import click

from yimen.node import home, projections
from yimen.node.cli.output import fields, table
from yimen.node.cli.progress import shown
from yimen.node.cli.util import h, json_option, lang, open_node, print_json, status_text
from yimen.node.replication import catch_up_all
from yimen.node.services import clerks
from yimen.node.services import status as node_status
from yimen.schema.region import LEVEL_ZH


@click.command()
@click.option("--region", required=True, help="12-digit region code (or its 2/4/6/9-digit prefix).")
@click.option("--name", required=True, help="Display name of the service centre.")
@click.option("--parent", default="", help="URL of the parent node (optional).")
@click.pass_context
def init(ctx: click.Context, region: str, name: str, parent: str) -> None:
    """Create a node: data folder, Ed25519 key and database.

    \b
    Example:
        yimen init --region 440608100201 --name 高明区荷城街道示范村 --parent http://127.0.0.1:8710
    """
    obj = ctx.find_root().obj
    node = home.init(Path(obj["home"]), region, name, parent)
    obj["node"] = node
    ctx.find_root().call_on_close(node.close)
    click.echo(h(ctx, f"已创建节点 {node.node_id}（{node.config.name}，{LEVEL_ZH[node.level]}）于 {node.home}",
                  f"created node {node.node_id} ({node.config.name}, {node.level}) in {node.home}"))


@click.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show this node: region, key, parent, database and what it holds.

    \b
    Example:
        yimen status --json
    """
    node = open_node(ctx)
    info = {**node_status.status(node, lang(ctx)), "home": str(node.home), "parent_url": node.config.parent_url,
            "public_key": node.public_key_hex(), "clerks": len(clerks.all_clerks(node)),
            "db_bytes": (node.home / home.DB_FILE).stat().st_size}
    by_status = info["cases_by_status"]
    if as_json:
        return print_json(info)
    click.echo(fields([
        (h(ctx, "节点", "node"), f"{info['node_id']} {info['name']}（{h(ctx, LEVEL_ZH[node.level], node.level)}）"),
        (h(ctx, "数据目录", "home"), info["home"]),
        (h(ctx, "上级", "parent"), info["parent_url"] or h(ctx, "（未设置）", "(none)")),
        (h(ctx, "公钥", "public key"), info["public_key"]),
        (h(ctx, "事项", "catalog items"), info["catalog_items"]),
        (h(ctx, "办件", "cases"), info["cases"]),
        *[(f"  {status_text(ctx, s)}", n) for s, n in sorted(by_status.items())],
        (h(ctx, "窗口人员", "clerks"), info["clerks"]),
        (h(ctx, "待签封变更", "unsealed changes"), info["unsealed_changes"]),
        (h(ctx, "等待依赖的变更", "pending changes"), info["pending_changes"]),
        (h(ctx, "已收到待入库签封", "received seals not yet applied"), info["unapplied_seals"]),
        (h(ctx, "已隔离签封", "quarantined seals"), info["quarantined"]),
        (h(ctx, "无法列出的文档", "documents not listed"), info["unlisted_documents"]),
        (h(ctx, "数据库字节", "database bytes"), info["db_bytes"]),
        *_sync_fields(ctx, info["sync"]),
    ]))
    if info["peers"]:
        click.echo(table(info["peers"], [
            ("peer", h(ctx, "对端", "peer")), ("last_contact", h(ctx, "最近联系", "last contact")),
            ("feed_not_acked", h(ctx, "未确认", "not acked")), ("seals_in", h(ctx, "收到签封", "seals in")),
            ("seals_out", h(ctx, "发出签封", "seals out")), ("bytes_in", h(ctx, "收到字节", "bytes in")),
            ("bytes_out", h(ctx, "发出字节", "bytes out")), ("quarantined", h(ctx, "隔离", "quarantined"))]))


def _sync_fields(ctx: click.Context, sync: dict) -> list[tuple[str, str]]:
    """When sync with the parent last worked and its last error, as the sync loop of a
    `serve` or `sync` process recorded them."""
    never = h(ctx, "（从未）", "(never)")
    error = f"{sync['last_error_at']}  {sync['last_error']}" if sync["last_error"] else h(ctx, "（无）", "(none)")
    return [(h(ctx, "最近同步成功", "last sync succeeded"), sync["last_ok"] or never),
            (h(ctx, "最近同步错误", "last sync error"), error)]


@click.command()
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Recompute every projection table from the documents.

    \b
    Example:
        yimen rebuild
    """
    node = open_node(ctx)
    with shown(lang(ctx)) as progress:
        catch_up_all(node, progress)
        n = projections.rebuild(node.store, node.calendar, progress)
    click.echo(h(ctx, f"已从 {n} 份文档重建视图", f"rebuilt projections from {n} documents"))


