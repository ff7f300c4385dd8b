"""Shared pieces of the command line: the error boundary, opening the node, who is signed
in (the session file), output helpers."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

import click

from yimen.node import home, vault
from yimen.node.errors import CONTROL_FLOW
from yimen.node import logs
from yimen.node.files import unusable
from yimen.node.services import clerks, sessions
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


class SessionFolderUnsafe(YimenError):
    """The folder for session files is not this user's alone."""

    code = "session_folder_unsafe"


def session_folder() -> Path:
    """Where this OS user's session files live: in memory, off the data disk, readable by
    this user alone: `$XDG_RUNTIME_DIR/yimen` (systemd's per-user tmpfs), else
    `/dev/shm/yimen-<uid>`, else `~/.yimen/sessions`. A folder someone else owns, or others
    may enter, is refused rather than used."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and Path(xdg).is_dir():
        folder = Path(xdg) / "yimen"
    elif Path("/dev/shm").is_dir():
        folder = Path(f"/dev/shm/yimen-{os.getuid()}")
    else:
        folder = Path.home() / ".yimen" / "sessions"
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SessionFolderUnsafe(f"登录信息目录 {folder} 不属于当前用户，拒绝使用",
                                  f"the sign-in folder {folder} is not this user's: refused")
    if st.st_mode & 0o077:
        folder.chmod(0o700)
    return folder


def session_file(ctx: click.Context) -> Path:
    """The session file of this node's home (one sign-in per node folder and OS user)."""
    where = str(Path(ctx.find_root().obj["home"]).resolve())
    return session_folder() / f"{hashlib.sha256(where.encode()).hexdigest()[:32]}.session"


def save_token(ctx: click.Context, token: str) -> None:
    """Write the token into a new 0600 file (created so, never widened; a link is refused)."""
    path = session_file(ctx)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token)


def saved_token(ctx: click.Context) -> str | None:
    try:
        return session_file(ctx).read_text("ascii").strip() or None
    except FileNotFoundError:
        return None


def signed_in(ctx: click.Context) -> dict[str, Any]:
    """The clerk signed in at this node (by `yimen login`), whose session this use keeps
    alive; `NotSignedIn` otherwise. The only way the CLI learns who acts."""
    obj = ctx.find_root().obj
    if "clerk" not in obj:
        node = open_node(ctx)  # no node here is told first
        token = saved_token(ctx)
        if token is None:
            raise sessions.NotSignedIn("尚未登录：请先运行 yimen login", "not signed in: run `yimen login`")
        try:
            obj["clerk"] = clerks.get(node, sessions.resolve(node, token))
            # what this command writes in the audit log is the signed-in clerk's, also where a
            # service takes no clerk (invite, admit, enroll, revoke, backup)
            node.signed_in = obj["clerk"]["clerk_id"]
        except sessions.NotSignedIn:
            session_file(ctx).unlink(missing_ok=True)
            raise
    return obj["clerk"]


def _as_signed_in(check: Callable[[dict[str, Any]], None] | None, pass_clerk: bool) -> Callable:
    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            clerk = signed_in(click.get_current_context())
            if check is not None:
                check(clerk)
            if pass_clerk:
                kwargs["clerk"] = clerk["clerk_id"]
            return f(*args, **kwargs)
        return run
    return decorate


# A command acting as a clerk gets `clerk`, the signed-in clerk's id.
acting_clerk = _as_signed_in(None, pass_clerk=True)
# A command that reads the node's cases needs a signed-in clerk, any one.
any_clerk = _as_signed_in(None, pass_clerk=False)
# A command of the node's admin: a signed-in clerk holding the admin role (`admin_clerk`
# passes their id as `clerk`).
admin_only = _as_signed_in(clerks.require_admin, pass_clerk=False)
admin_clerk = _as_signed_in(clerks.require_admin, pass_clerk=True)
