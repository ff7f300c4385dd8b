"""`yimen init`, `yimen status`, `yimen rebuild`: the node itself."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from yimen.node import home, projections
from yimen.node.cli.output import fields, table
from yimen.node.cli.progress import shown
from yimen.node.cli.signin import password_stdin_option, read_password, start_session
from yimen.node.cli.util import admin_only, asker, h, json_option, lang, open_node, print_json, signed_in, status_text
from yimen.node.replication import catch_up_all
from yimen.node.services import backup as backup_service
from yimen.node.services import clerks, sessions
from yimen.node.services import status as node_status
from yimen.schema.region import LEVEL_ZH


@click.command()
@click.option("--region", required=True, help="12-digit region code (or its 2/4/6/9-digit prefix).")
@click.option("--name", required=True, help="Display name of the service centre.")
@click.option("--parent", default="", help="URL of the parent node (optional).")
@click.option("--admin-id", default=None, help="Clerk id of the node's first admin (管理员); asked at a terminal.")
@click.option("--admin-name", default=None, help="The admin's name; asked at a terminal.")
@password_stdin_option
@click.pass_context
def init(ctx: click.Context, region: str, name: str, parent: str, admin_id: str | None, admin_name: str | None,
         password_stdin: bool) -> None:
    """Create a node (data folder, keys, encrypted database) and its first admin, who is signed in.

    The database is unlocked by a key file (YIMEN_KEY_FILE: a path on a USB stick; created
    there if missing) or else a passphrase (typed twice at a terminal, or YIMEN_PASSPHRASE).
    The admin's password is asked twice (or read with --password-stdin). In a script
    without --admin-id the node starts with no admin; `yimen clerk bootstrap` adds one.

    \b
    Example:
        yimen init --region 440608100201 --name 高明区荷城街道示范村 --admin-id a01 --admin-name 王芳 \\
            --parent https://127.0.0.1:8710
    """
    obj = ctx.find_root().obj
    if admin_id is None and admin_name is not None and not sys.stdin.isatty():
        raise click.UsageError(h(ctx, "--admin-name 须与 --admin-id 一起给出", "--admin-name needs --admin-id"))
    if admin_id is None and sys.stdin.isatty():
        admin_id = click.prompt(h(ctx, "管理员工号", "admin's clerk id"))
    if admin_id is not None and admin_name is None:
        admin_name = click.prompt(h(ctx, "管理员姓名", "admin's name"))
    password = read_password(ctx, password_stdin, new=True) if admin_id is not None else None
    if password is not None:
        clerks.check_password(password, admin_id, admin_name)  # before anything is created
    node = home.init(Path(obj["home"]), region, name, parent, ask=asker(ctx))
    obj["node"] = node
    ctx.find_root().call_on_close(node.close)
    click.echo(h(ctx, f"已创建节点 {node.node_id}（{node.config.name}，{LEVEL_ZH[node.level]}）于 {node.home}",
                  f"created node {node.node_id} ({node.config.name}, {node.level}) in {node.home}"))
    if password is None:
        click.echo(h(ctx, "尚无管理员：请运行 yimen clerk bootstrap 添加", "no admin yet: add one with `yimen clerk bootstrap`"))
        return
    clerks.bootstrap_admin(node, admin_id, admin_name, password)
    start_session(ctx, admin_id.strip(), password)


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
            "weak_password_hashing": sessions.weak_hashing(node),
            "db_bytes": (node.home / home.DB_FILE).stat().st_size}
    by_status, sp = info["cases_by_status"], info["space"]
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
        *([(h(ctx, "密码散列", "password hashing"),
            h(ctx, "弱（仅供测试）", "weak (password_profile=cheapest, for tests only)"))]
          if info["weak_password_hashing"] else []),
        (h(ctx, "待签封变更", "unsealed changes"), info["unsealed_changes"]),
        (h(ctx, "等待依赖的变更", "pending changes"), info["pending_changes"]),
        (h(ctx, "已收到待入库签封", "received seals not yet applied"), info["unapplied_seals"]),
        (h(ctx, "已隔离签封", "quarantined seals"), info["quarantined"]),
        (h(ctx, "无法列出的文档", "documents not listed"), info["unlisted_documents"]),
        (h(ctx, "我的空间文档", "My Space documents"), h(ctx, f"{sp['documents']}（凭同意书持有 {sp['under_consent']}）",
                                                       f"{sp['documents']} ({sp['under_consent']} under consent)")),
        (h(ctx, "本窗口有效同意书", "live consents given here"), sp["live_consents"]),
        (h(ctx, "文件分块", "file chunks"), h(ctx, f"{sp['chunks']}（待取 {sp['chunks_wanted']}）",
                                               f"{sp['chunks']} ({sp['chunks_wanted']} still wanted)")),
        (h(ctx, "数据库字节", "database bytes"), info["db_bytes"]),
        *_sync_fields(ctx, info["sync"]),
        *_position_fields(ctx, info["positions"]),
    ]))
    _status_tables(ctx, info)


def _status_tables(ctx: click.Context, info: dict) -> None:
    """The tables and warnings after `status`'s fields: peers, audit refusals, catalog drift."""
    if info["peers"]:
        click.echo(table(info["peers"], [
            ("peer", h(ctx, "对端", "peer")), ("last_contact", h(ctx, "最近联系", "last contact")),
            ("feed_not_acked", h(ctx, "未确认", "not acked")), ("unapplied", h(ctx, "待入库", "not applied")),
            ("seals_in", h(ctx, "收到签封", "seals in")),
            ("seals_out", h(ctx, "发出签封", "seals out")), ("bytes_in", h(ctx, "收到字节", "bytes in")),
            ("bytes_out", h(ctx, "发出字节", "bytes out")), ("quarantined", h(ctx, "隔离", "quarantined"))]))
    _audit_warnings(ctx, info["audit_refusals"], info["audit_refused_by_parent"])
    if info["catalog_drift"]:
        click.echo(h(ctx, "本节点自行发布、与上级版本不同的事项（以上级为准；已受理的办件仍按受理时的版本）：",
                     "items this node publishes that differ from its ancestors' (the ancestors' are used; cases "
                     "keep the version they were accepted under):"))
        click.echo(table(info["catalog_drift"], [
            ("code", h(ctx, "编码", "code")), ("name", h(ctx, "事项名称", "name")),
            ("own_version", h(ctx, "本节点版本", "own version")), ("version", h(ctx, "上级版本", "ancestor's version")),
            ("publisher", h(ctx, "发布节点", "published by"))]))


def _audit_warnings(ctx: click.Context, refusals: list[dict], refused_here: str | None) -> None:
    """Children whose audit log no longer extends the checkpoint countersigned here, and
    the parent's refusal of this node's own."""
    if refused_here:
        click.echo(h(ctx, f"警告：上级未会签本节点的审计检查点（{refused_here}）",
                     f"warning: the parent did not countersign this node's audit checkpoint ({refused_here})"))
    for r in refusals:
        click.echo(h(ctx, f"警告：下级 {r['child']} 的审计日志（{r['size']} 条）与本节点会签过的检查点（{r['held']} 条）不一致，"
                          f"其历史已被改写（{r['at']}）",
                     f"warning: the audit log of {r['child']} ({r['size']} entries) does not extend the checkpoint "
                     f"countersigned here ({r['held']} entries): its history was rewritten ({r['at']}; {r['why']})"))


def _sync_fields(ctx: click.Context, sync: dict) -> list[tuple[str, str]]:
    """When sync with the parent last worked and its last error, as the sync loop of a
    `serve` or `sync` process recorded them."""
    never = h(ctx, "（从未）", "(never)")
    error = f"{sync['last_error_at']}  {sync['last_error']}" if sync["last_error"] else h(ctx, "（无）", "(none)")
    return [(h(ctx, "最近同步成功", "last sync succeeded"), sync["last_ok"] or never),
            (h(ctx, "最近同步错误", "last sync error"), error)]


def _position_fields(ctx: click.Context, p: dict) -> list[tuple[str, str]]:
    """What was wrong with a peer's word on positions, if anything ever was."""
    out = []
    if p["restore_unconfirmed"]:
        out.append((h(ctx, "从备份恢复", "restored from a backup"),
                    h(ctx, f"{p['restore_unconfirmed']}，等待上级告知已用编号（同步一次后可受理）",
                      f"{p['restore_unconfirmed']}, waiting for the parent's numbers (sync once to accept cases)")))
    if p["last_notice"]:
        n = p["last_notice"]
        out.append((h(ctx, "最近的位置异常", "last position notice"), f"{n['at']}  {n['text']}"))
    if p["restating_to"]:
        out.append((h(ctx, "正在重发数据流给", "restating our feed to"), ", ".join(p["restating_to"])))
    return out


@click.command()
@click.option("--to", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the backup into (new or empty).")
@json_option
@click.pass_context
@admin_only
def backup(ctx: click.Context, folder: Path, as_json: bool) -> None:
    """Write a consistent, encrypted copy of this node (database, keyslot, config) into a folder; safe while it serves.

    \b
    Example:
        yimen backup --to /media/usb/yimen-backup-2026-11-16
    """
    s = backup_service.backup(open_node(ctx), folder)
    if as_json:
        return print_json(s)
    click.echo(h(ctx, f"已将节点 {s['node_id']} 备份到 {s['folder']}（{s['bytes']} 字节）",
                 f"backed up node {s['node_id']} to {s['folder']} ({s['bytes']} bytes)"))


@click.command()
@click.option("--from", "folder", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder written by `yimen backup`.")
@json_option
@click.pass_context
def restore(ctx: click.Context, folder: Path, as_json: bool) -> None:
    """Put a backup back into this home (stop `serve` first); then sync once before accepting cases.

    \b
    Example:
        yimen --home yimen-data restore --from /media/usb/yimen-backup-2026-11-16
    """
    target = Path(ctx.find_root().obj["home"])
    if (target / "node.json").exists():  # a node is there: its admin replaces it
        clerks.require_admin(signed_in(ctx))
        ctx.find_root().obj.pop("node").close()  # the restore replaces the file under it
    s = backup_service.restore(target, folder, home.china_now().isoformat(timespec="seconds"), ask=asker(ctx))
    if as_json:
        return print_json(s)
    click.echo(h(ctx, f"已将 {s['node_id']} 的备份恢复到 {s['home']}", f"restored {s['node_id']} into {s['home']}"))
    if s["waits_for_parent"]:
        click.echo(h(ctx, "请先与上级同步一次（yimen sync --once 或导入上级的数据包），再受理办件",
                     "sync with the parent once (yimen sync --once, or import a bundle from it) before accepting cases"))


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


