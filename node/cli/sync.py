"""Replication commands: invite, enroll, admit, serve, sync, reconcile, quarantine.

aiohttp and the HTTP modules are imported inside the commands that use them: they cost a
quarter of a second, and every clerk's `yimen case ...` loads this module."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from pathlib import Path

import click

from yimen.node import config as config_mod
from yimen.node.files import unusable
from yimen.node.services import catalog, enrollment
from yimen.node.services import status as node_status
from yimen.node.cli.util import YimenGroup, admin_only, h, json_option, lang, open_node, print_json
from yimen.node.services.enrollment import EnrollmentRefused
from yimen.node.texts import enrolled
from yimen.schema.errors import YimenError
from yimen.node.cli.output import table

COMMANDS: list[click.Command] = []


def command(fn: click.Command) -> click.Command:
    COMMANDS.append(fn)
    return fn


@command
@click.command("invite")
@click.option("--region", required=True, help="Region code of the child node to invite.")
@click.option("--hours", default=72, show_default=True, type=click.IntRange(min=1),
              help="Hours before the code expires.")
@json_option
@click.pass_context
@admin_only
def invite(ctx: click.Context, region: str, hours: int, as_json: bool) -> None:
    """Make a one-time invitation code for a child node to enroll online. The code ends,
    after a dot, with this node's TLS certificate fingerprint: the child's first contact
    is pinned to it, so give the child's admin the whole code.

    \b
    Example:
        yimen invite --region 440608100201
    """
    inv = enrollment.invite(open_node(ctx), region, hours)
    if as_json:
        return print_json(inv)
    click.echo(h(ctx, f"邀请码 {inv['code']}（{inv['region']}，{inv['expires_at']} 前有效）",
                 f"invitation code {inv['code']} for {inv['region']}, valid until {inv['expires_at']}"))


@command
@click.command("enroll")
@click.option("--parent", "parent_url", default="", help="URL of the parent node (online enrollment).")
@click.option("--code", default="", help="Invitation code from the parent's admin (online).")
@click.option("--address", default="", help="This node's own URL, for its children and fallbacks.")
@click.option("--request", "request_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Offline: write the enrollment request to this file for the parent's admin.")
@click.option("--answer", "answer_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Offline: apply the answer file the parent's admin made with `yimen admit`.")
@click.pass_context
@admin_only
def enroll(ctx: click.Context, parent_url: str, code: str, address: str, request_file: Path | None,
           answer_file: Path | None) -> None:
    """Enroll this node with its parent: online with an invitation code, or offline by
    carrying a request file to the parent and its answer back.

    \b
    Example:
        yimen enroll --parent https://10.0.0.5:8710 --code Xy12....9f3c... --address https://10.0.0.6:8711
        yimen enroll --request enroll-request.json      # then, back from the parent:
        yimen enroll --answer enroll-answer.json
    """
    node = open_node(ctx)
    if request_file:
        request_file.write_text(enrollment.dumps(enrollment.request(node, address)), "utf-8")
        return click.echo(h(ctx, f"已写出注册申请：{request_file}", f"wrote enrollment request {request_file}"))
    if answer_file:
        answer = _read_json(answer_file)
    elif parent_url and code:
        secret, pin = _parent_pin(code)
        message = {"request": enrollment.request(node, address), "code": secret}
        answer = asyncio.run(_enroll_online(parent_url, message, pin, node.config.plain_http))
    else:
        raise click.UsageError(h(ctx, "请给出 --parent 和 --code，或 --request FILE，或 --answer FILE",
                                 "give --parent and --code, or --request FILE, or --answer FILE"))
    learnt = enrollment.apply_answer(node, answer)
    if parent_url:
        node.config = replace(node.config, parent_url=parent_url)
        config_mod.save(node.home, node.config)
    click.echo(h(ctx, *enrolled(learnt)))
    own = [r for r in catalog.list_items(node, include_cancelled=True) if r["publisher"] == node.node_id]
    if own:
        click.echo(h(ctx, f"提示：本节点自行发布了 {len(own)} 个事项。上级发布的同编码事项到达后以上级为准；"
                          "已受理的办件仍按受理时的版本办理（yimen status 列出与上级不同的事项）",
                     f"note: this node publishes {len(own)} items of its own. Where an ancestor publishes the same "
                     "code, the ancestor's item is used once it arrives; cases keep the version they were accepted "
                     "under (yimen status lists the items that differ)"))


def _read_json(path: Path) -> dict:
    try:
        return enrollment.parse(path.read_text("utf-8"))
    except OSError as e:
        raise unusable(e, "文件", "the file") from e
    except (ValueError, EnrollmentRefused) as e:  # not UTF-8, not JSON
        raise EnrollmentRefused(f"{path} 不是注册申请或答复文件（不是有效的 JSON）",
                                f"{path} is no enrollment request or answer (not valid JSON)") from e


def _parent_pin(code: str) -> tuple[str, str]:
    """The secret of an invitation code and the parent's TLS pin it carries."""
    secret, pin = enrollment.split_code(code)
    if pin is None or len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise EnrollmentRefused("邀请码不完整：缺少上级的证书指纹（点号后的 64 位），请向上级管理员要一个新的邀请码（yimen invite）",
                                "the invitation code is incomplete: it lacks the parent's certificate fingerprint "
                                "(64 hex digits after the dot); ask the parent's admin for a new one (yimen invite)")
    return secret, pin


async def _enroll_online(url: str, message: dict, pin: str, plain_http: bool) -> dict:
    """POST the request to the parent, over TLS pinned to the certificate the invitation
    names (or plain HTTP on loopback, where `plain_http` allows it); the answer must name
    that same certificate for the parent."""
    import aiohttp

    from yimen.sync.transports.http import link_ssl, mismatch
    ssl = link_ssl(url, pin, plain_http)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url.rstrip("/") + "/v1/enroll", json=message, ssl=ssl) as resp:
                answer = await resp.json(content_type=None)
    except aiohttp.ServerFingerprintMismatch as e:
        raise mismatch(url, e) from e
    except (aiohttp.ClientError, OSError, ValueError) as e:
        raise EnrollmentRefused(f"无法连接上级 {url}：{e}", f"cannot reach the parent at {url}: {e}") from e
    if resp.status != 200:
        raise enrollment.refused_by_parent(answer)
    parent = [n for n in answer.get("nodes", []) if isinstance(n, dict) and n.get("region") == answer.get("parent")]
    if not parent or parent[0].get("tls_fingerprint") != pin:
        raise EnrollmentRefused("上级答复中的证书指纹与邀请码中的不符：未注册", "the parent's answer names another "
                                "certificate than the invitation code does: not enrolled")
    return answer


@command
@click.command("admit")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--answer", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the answer for the child.")
@click.pass_context
@admin_only
def admit(ctx: click.Context, request_file: Path, answer_file: Path) -> None:
    """Admit a child node from its request file (offline enrollment) and write the answer.

    \b
    Example:
        yimen admit enroll-request.json --answer enroll-answer.json
    """
    answer = enrollment.admit(open_node(ctx), _read_json(request_file))
    answer_file.write_text(enrollment.dumps(answer), "utf-8")
    click.echo(h(ctx, f"已接纳 {answer['child']}，答复写入 {answer_file}",
                 f"admitted {answer['child']}; answer written to {answer_file}"))


# where a long-running command logs; stderr (systemd's journal) without it
log_file_option = click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), envvar="YIMEN_LOG_FILE",
                               help="Log to this file, rotated at 10 MB, 5 kept (env YIMEN_LOG_FILE).")


@command
@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="YIMEN_HOST",
              help="Address to listen on (env YIMEN_HOST).")
@click.option("--port", default=8710, show_default=True, type=click.IntRange(0, 65535), envvar="YIMEN_PORT",
              help="Port, 0 = any free port (env YIMEN_PORT).")
@click.option("--no-sync", is_flag=True, help="Serve only; do not sync with the parent.")
@log_file_option
@click.option("--access-log", is_flag=True, help="Log every HTTP request too.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, no_sync: bool, log_file: Path | None, access_log: bool) -> None:
    """Run the node's server (sync routes for children, /v1/status) and the background
    loop that keeps it in sync with its parent. Stops on Ctrl-C or SIGTERM. Its first line
    on stdout, `listening on URL`, is for scripts (the same in every language); the log,
    for people, is in the language of --lang. Under systemd (Type=notify) it says when it
    is ready.

    \b
    Example:
        yimen serve --port 8710 --log-file /var/log/yimen/village.log --access-log
    """
    from yimen.node import logs
    from yimen.node.server import runner
    handler = logs.setup(lang(ctx), log_file, access_log)  # the scripts' `listening on URL` goes to stdout all the same
    ctx.call_on_close(lambda: logs.remove(handler))
    runner.run(runner.serve(open_node(ctx), host, port, not no_sync, access_log=access_log,
                            on_listening=lambda url: click.echo(f"listening on {url}")))


@command
@click.command("sync")
@click.option("--once", is_flag=True, help="Do one round, print what moved and exit.")
@log_file_option
@json_option
@click.pass_context
def sync(ctx: click.Context, once: bool, log_file: Path | None, as_json: bool) -> None:
    """Exchange changes with the parent (or the next ancestor that answers): one round
    with --once, otherwise keep syncing until Ctrl-C, without serving children. The
    outcome is kept for `yimen status` and the admin's page.

    \b
    Example:
        yimen sync --once
    """
    node = open_node(ctx)
    if not once:
        from yimen.node import logs
        from yimen.node.server import runner
        handler = logs.setup(lang(ctx), log_file)
        ctx.call_on_close(lambda: logs.remove(handler))
        return runner.run(runner.sync_forever(node))
    from yimen.node.services import uplink as sync_client
    try:
        stats = asyncio.run(sync_client.sync_once(node))
    except YimenError as e:
        node_status.record_sync(node, e)
        raise
    node_status.record_sync(node, None)
    if as_json:
        return print_json(asdict(stats))
    click.echo(h(ctx, f"与 {stats.peer} 同步：上传 {stats.pushed} 个签封（{stats.bytes_out} 字节），"
                      f"下载 {stats.pulled} 个（{stats.bytes_in} 字节）",
                 f"synced with {stats.peer}: pushed {stats.pushed} seals ({stats.bytes_out} B), "
                 f"pulled {stats.pulled} ({stats.bytes_in} B)"))
    if stats.quarantined:  # (the reasons a parent tells are English only: in zh, where to read them)
        click.echo(h(ctx, f"隔离 {len(stats.quarantined)} 个签封：原因见 yimen quarantine list（推送被拒的在上级）",
                     "\n".join(f"quarantined: {q}" for q in stats.quarantined)))
    if stats.notices:  # the last one in both languages is kept for `yimen status`
        from yimen.sync import positions
        last = positions.notice(node.store, "zh")["last_notice"]
        click.echo(h(ctx, f"注意：{last['text'] if last else stats.notices[-1]}", f"notice: {stats.notices[-1]}"))


@command
@click.command("reconcile")
@json_option
@click.pass_context
def reconcile_cmd(ctx: click.Context, as_json: bool) -> None:
    """Compare everything with the parent (per-scope digests), repair what is missing in
    either direction, and report per village: here only, there only, diverged, repaired.

    \b
    Example:
        yimen reconcile
    """
    from yimen.node.services import reconcile
    rows = asyncio.run(reconcile.reconcile(open_node(ctx)))
    if as_json:
        return print_json(rows)
    if not rows:
        return click.echo(h(ctx, "与上级完全一致", "identical to the parent"))
    click.echo(table(rows, [("scope", h(ctx, "范围", "scope")), ("here_only", h(ctx, "仅本节点", "here only")),
                            ("there_only", h(ctx, "仅上级", "there only")), ("diverged", h(ctx, "不一致", "diverged")),
                            ("repaired", h(ctx, "已修复", "repaired"))]))


@click.group("quarantine", cls=YimenGroup)
def quarantine_group() -> None:
    """Seals refused on arrival and documents that cannot be listed, kept with the reason for the admin."""


@quarantine_group.command("list")
@json_option
@click.pass_context
def quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """List refused seals, and documents kept but not listed, with the reason for each,
    and how many each peer had refused.

    Each peer's newest refused seals are listed one by one; every refusal is counted per
    peer and reason, so a flood of bad seals fills no disk and is still told.

    \b
    Example:
        yimen quarantine list
    """
    node = open_node(ctx)
    rows = node_status.quarantine(node, lang(ctx))
    if as_json:
        return print_json(rows)
    summary = node_status.quarantine_summary(node, lang(ctx))
    if not rows and not summary:
        return click.echo(h(ctx, "没有被隔离的签封", "nothing quarantined"))
    click.echo(table(rows, [("id", "#"), ("received_at", h(ctx, "时间", "time")),
                            ("received_from", h(ctx, "来自", "from")), ("author", h(ctx, "作者", "author")),
                            ("seq", "seq"), ("doc_id", h(ctx, "文档", "document")),
                            ("reason", h(ctx, "原因", "reason"))]))
    click.echo(h(ctx, "\n按来源和原因统计（含未逐条保留的）：", "\nby peer and reason (also those not kept one by one):"))
    click.echo(table(summary, [("peer", h(ctx, "来自", "from")), ("reason", h(ctx, "原因", "reason")),
                               ("count", h(ctx, "数量", "count")), ("last_at", h(ctx, "最近", "last"))]))


COMMANDS.append(quarantine_group)
