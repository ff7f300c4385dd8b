"""Shared pieces of the command line: the error boundary, opening the node, output helpers."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from yimen.node import home, vault
from yimen.node.errors import CONTROL_FLOW
from yimen.node import logs
from yimen.node.files import unusable
from yimen.schema.case import STATUS_ZH
from yimen.schema.errors import YimenError
from yimen.sync.store import driver, wrap

log = logging.getLogger("yimen.cli")
LOG_FILE = "yimen.log"


class YimenGroup(click.Group):
    """The CLI's boundary: a Yimen error (and a database error, wrapped once) becomes its
    one-line message and exit code 1; anything unexpected (a bare `BaseException` too,
    which the loro library raises) becomes one sentence that says where the details were
    logged, never a traceback. Ctrl-C and an exit a command asks for pass through."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except click.ClickException as e:
            if not ctx.meta.get(JSON_META):
                raise
            _print_json_error(e)
            raise click.exceptions.Exit(e.exit_code) from e

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, *CONTROL_FLOW):
            raise
        except YimenError as e:
            raise click.ClickException(e.text(_lang(ctx))) from e
        except driver.Error as e:
            raise click.ClickException(wrap(e).text(_lang(ctx))) from e
        except BaseException as e:  # noqa: BLE001 (the boundary: one sentence, details in the log)
            if isinstance(e, OSError) and e.filename is not None:  # a file the user named
                raise click.ClickException(unusable(e).text(_lang(ctx))) from unusable(e)
            where = _log_unexpected(ctx, e)
            raise click.ClickException(
                f"出现意外错误（{type(e).__name__}），详情已记入 {where}" if _lang(ctx) == "zh"
                else f"unexpected error ({type(e).__name__}); the details are in {where}") from e


def _lang(ctx: click.Context) -> str:
    return (ctx.find_root().obj or {}).get("lang", "zh")


def _log_unexpected(ctx: click.Context, e: BaseException) -> str:
    folder = Path((ctx.find_root().obj or {}).get("home", "."))
    path = folder / LOG_FILE if folder.is_dir() else Path(LOG_FILE).resolve()
    handler = logs.PrivateFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        log.error("command %s failed", ctx.command_path, exc_info=e)
    finally:
        log.removeHandler(handler)
        handler.close()
    return str(path)


def asker(ctx: click.Context) -> vault.Ask | None:
    """How the CLI asks for a passphrase: at a terminal only (a script sets YIMEN_KEY_FILE
    or YIMEN_PASSPHRASE; waiting for input that never comes would hang it)."""
    if not sys.stdin.isatty():
        return None

    def ask(new: bool) -> str:
        text = h(ctx, "请设置节点口令（至少 8 个字符）" if new else "节点口令",
                 "Choose the node's passphrase (8 characters or more)" if new else "Node passphrase")
        return click.prompt(text, hide_input=True, confirmation_prompt=h(ctx, "再输入一次", "Again") if new else False)
    return ask


def open_node(ctx: click.Context) -> home.Node:
    obj = ctx.find_root().obj
    if "node" not in obj:
        obj["node"] = home.open_node(Path(obj["home"]), ask=asker(ctx))
        ctx.find_root().call_on_close(obj["node"].close)
        if obj["node"].encrypted_now:
            click.echo(h(ctx, f"已加密 {obj['home']} 中未加密的旧节点数据库（密钥来源见 keyslot.json）",
                         f"encrypted the unencrypted database of the node in {obj['home']} (how it unlocks: keyslot.json)"),
                       err=True)
    return obj["node"]


def lang(ctx: click.Context) -> str:
    return ctx.find_root().obj["lang"]


def h(ctx: click.Context, zh: str, en: str) -> str:
    return zh if lang(ctx) == "zh" else en


def status_text(ctx: click.Context, status: str) -> str:
    return STATUS_ZH.get(status, status) if lang(ctx) == "zh" else status


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


JSON_META = "yimen.json"


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Under --json an error is JSON too (see `YimenGroup`). Eager, so that it is known
    before any other option of the command can fail."""
    if value:
        ctx.meta[JSON_META] = True
    return value


def _print_json_error(e: click.ClickException) -> None:
    """`{"error": code, "message": sentence}` on stdout, where a script reads the answer;
    the code is the Yimen error's (`unknown_case`, ...), `usage` for a bad command line,
    `unexpected` for a bug (its details in the log)."""
    cause = e.__cause__
    code = cause.code if isinstance(cause, YimenError) else "usage" if isinstance(e, click.UsageError) \
        else "unexpected" if cause is not None else "error"
    print_json({"error": code, "message": e.format_message()})


json_option = click.option("--json", "as_json", is_flag=True, is_eager=True, callback=_remember_json,
                           help="Print JSON for scripts (errors too: {\"error\": code, \"message\": ...}).")


def _acting_clerk(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """The clerk named here, else by the root's `--clerk` (or YIMEN_CLERK): `--clerk`
    works wherever `--home` does."""
    value = value or (ctx.find_root().obj or {}).get("clerk")
    if not value:
        raise click.MissingParameter(ctx=ctx, param=param)
    return value


clerk_option = click.option("--clerk", callback=_acting_clerk,
                            help="Acting clerk id (or `yimen --clerk ID`, env YIMEN_CLERK).")
