"""`yimen login`, `logout`, `whoami`, `passwd`: a clerk signs in once per session.

The session's token goes into a 0600 file in a per-user folder off the data disk (see
`util.session_folder`), one per node home; every command that acts as a clerk takes the
clerk from it. Passwords are asked at the terminal (hidden) or, for scripts, read from
standard input with `--password-stdin` (as `docker login` does), never from an option or
the environment, where other users and shell histories see them.
"""

from __future__ import annotations

import sys

import click

from yimen.node.cli.util import (any_clerk, h, json_option, open_node, print_json, save_token, saved_token,
                                 session_file, signed_in)
from yimen.node.services import clerks, sessions

password_stdin_option = click.option("--password-stdin", "password_stdin", is_flag=True,
                                     help="Read the password from standard input (one line), for scripts.")


def read_password(ctx: click.Context, from_stdin: bool, new: bool, what: tuple[str, str] = ("密码", "password")) -> str:
    """One password: a line of standard input under --password-stdin, else asked hidden
    (a new one twice)."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    return click.prompt(h(ctx, *what), hide_input=True, confirmation_prompt=h(ctx, "再输入一次", "repeat it") if new else False)


def start_session(ctx: click.Context, clerk_id: str, password: str) -> dict:
    """Sign `clerk_id` in at this node, ending this user's earlier session here, and say so."""
    node = open_node(ctx)
    token = sessions.sign_in(node, clerk_id, password)
    old = saved_token(ctx)
    if old is not None:
        sessions.sign_out(node, old)
    save_token(ctx, token)
    clerk = ctx.find_root().obj["clerk"] = clerks.get(node, clerk_id)
    hours = node.config.session_idle_hours
    click.echo(h(ctx, f"已登录：{clerk['clerk_id']} {clerk['name']}（{'、'.join(clerk['roles'])}）；闲置 {hours} 小时后需重新登录",
                 f"signed in: {clerk['clerk_id']} {clerk['name']} ({', '.join(clerk['roles'])}); "
                 f"idle for {hours} hours, the sign-in ends"))
    return clerk


@click.command()
@click.option("--id", "clerk_id", default=None, help="Clerk id (工号); asked when not given.")
@password_stdin_option
@click.pass_context
def login(ctx: click.Context, clerk_id: str | None, password_stdin: bool) -> None:
    """Sign in as a clerk of this node; the commands after it act as that clerk.

    A failed sign-in gives one answer for an unknown id and a wrong password; 5 in a row
    lock the clerk for 15 minutes (an admin can unlock them: `clerk unlock`).

    \b
    Example:
        yimen login --id c01
        cat c01.pw | yimen login --id c01 --password-stdin
    """
    clerk_id = clerk_id or click.prompt(h(ctx, "工号", "clerk id"))
    start_session(ctx, clerk_id.strip(), read_password(ctx, password_stdin, new=False))


@click.command()
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Sign out at this node: the session ends here and in the node.

    \b
    Example:
        yimen logout
    """
    token = saved_token(ctx)
    if token is not None:
        sessions.sign_out(open_node(ctx), token)
        session_file(ctx).unlink(missing_ok=True)
    click.echo(h(ctx, "已退出登录", "signed out") if token else h(ctx, "本来就未登录", "not signed in"))


@click.command()
@json_option
@click.pass_context
@any_clerk
def whoami(ctx: click.Context, as_json: bool) -> None:
    """Show the clerk signed in at this node and their roles.

    \b
    Example:
        yimen whoami
    """
    c = signed_in(ctx)
    if as_json:
        return print_json({k: c[k] for k in ("clerk_id", "name", "roles")})
    click.echo(h(ctx, f"{c['clerk_id']} {c['name']}（{'、'.join(c['roles'])}）",
                 f"{c['clerk_id']} {c['name']} ({', '.join(c['roles'])})"))


@click.command()
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the current password, then the new one, from standard input (a line each).")
@click.pass_context
@any_clerk
def passwd(ctx: click.Context, password_stdin: bool) -> None:
    """Change your own password (asks the current one first); your other sessions end.

    \b
    Example:
        yimen passwd
    """
    node, clerk = open_node(ctx), signed_in(ctx)
    current = read_password(ctx, password_stdin, new=False, what=("当前密码", "current password"))
    sessions.authenticate(node, clerk["clerk_id"], current)
    new = read_password(ctx, password_stdin, new=True, what=("新密码", "new password"))
    clerks.set_password(node, clerk["clerk_id"], new, by=clerk["clerk_id"], keep_session=saved_token(ctx))
    click.echo(h(ctx, "密码已修改；其他地方的登录已结束", "password changed; your other sign-ins have ended"))


COMMANDS = (login, logout, whoami, passwd)
