"""`yimen clerk ...`: the window clerks of this node and their roles."""

from __future__ import annotations

import click

from yimen.node.cli.output import table
from yimen.node.cli.signin import password_stdin_option, read_password, start_session
from yimen.node.cli.util import (YimenGroup, admin_clerk, any_clerk, h, json_option, lang, open_node, print_json,
                                 saved_token)
from yimen.node.services import clerks, sessions


generate_option = click.option("--generate", "generate", is_flag=True,
                               help="Make a password instead of asking for one, and print it once.")


def chosen_password(ctx: click.Context, generate: bool, password_stdin: bool, clerk_id: str, name: str) -> str:
    """The password typed (twice) or read, or one made (`clerks.new_password`, as the admin's page does)."""
    if generate and password_stdin:
        raise click.UsageError(h(ctx, "--generate 与 --password-stdin 只能选一个", "give --generate or --password-stdin, not both"))
    return clerks.new_password(clerk_id, name) if generate else read_password(ctx, password_stdin, new=True)


def say_made(ctx: click.Context, generate: bool, clerk_id: str, password: str) -> None:
    if generate:
        click.echo(h(ctx, f"{clerk_id} 的密码（仅显示这一次，请当面交给本人）：{password}",
                     f"the password of {clerk_id} (shown this once only: hand it over in person): {password}"))


@click.group("clerk", cls=YimenGroup)
def clerk_group() -> None:
    """Window clerks of this node, their roles (departments, and 管理员/admin) and passwords.
    Every command but `list` is the admin's."""


@clerk_group.command("add")
@click.option("--id", "clerk_id", required=True, help="Clerk id (工号).")
@click.option("--name", required=True, help="Clerk's name.")
@click.option("--role", "roles", multiple=True, required=True,
              help="A department the clerk serves, or 管理员/admin (repeat for many roles).")
@password_stdin_option
@generate_option
@click.pass_context
@admin_clerk
def clerk_add(ctx: click.Context, clerk_id: str, name: str, roles: tuple[str, ...], password_stdin: bool,
              generate: bool, clerk: str) -> None:
    """Add a clerk with one or more roles (一人多能) and their first password (asked twice,
    or made with --generate).

    A password has 8 to 128 characters and is not the clerk's id or name.

    \b
    Example:
        yimen clerk add --id c01 --name 李敏 --role 民政 --role 社保 --role 医保
        yimen clerk add --id c02 --name 王强 --role 社保 --generate
    """
    password = chosen_password(ctx, generate, password_stdin, clerk_id, name)
    c = clerks.add(open_node(ctx), clerk_id, name, list(roles), password, by=clerk)
    click.echo(h(ctx, f"已添加窗口人员 {c['clerk_id']} {c['name']}：{'、'.join(c['roles'])}",
                 f"added clerk {c['clerk_id']} {c['name']}: {', '.join(c['roles'])}"))
    say_made(ctx, generate, c["clerk_id"], password)


@clerk_group.command("bootstrap")
@click.option("--id", "clerk_id", required=True, help="The admin's clerk id (工号).")
@click.option("--name", required=True, help="The admin's name.")
@password_stdin_option
@click.pass_context
def clerk_bootstrap(ctx: click.Context, clerk_id: str, name: str, password_stdin: bool) -> None:
    """Add the node's first admin (管理员) and sign them in: only while the node has no
    admin (`yimen init` adds one when asked).

    \b
    Example:
        yimen clerk bootstrap --id a01 --name 王芳
    """
    password = read_password(ctx, password_stdin, new=True)
    c = clerks.bootstrap_admin(open_node(ctx), clerk_id, name, password)
    click.echo(h(ctx, f"已添加管理员 {c['clerk_id']} {c['name']}", f"added admin {c['clerk_id']} {c['name']}"))
    start_session(ctx, c["clerk_id"], password)


@clerk_group.command("passwd")
@click.argument("clerk_id")
@password_stdin_option
@generate_option
@click.pass_context
@admin_clerk
def clerk_passwd(ctx: click.Context, clerk_id: str, password_stdin: bool, generate: bool, clerk: str) -> None:
    """Give a clerk a new password (one who forgot theirs), typed or made with --generate;
    their sessions end and a lockout is lifted. A clerk changes their own with `yimen passwd`.

    \b
    Example:
        yimen clerk passwd c01
        yimen clerk passwd c01 --generate
    """
    name = clerks.get(open_node(ctx), clerk_id)["name"]
    password = chosen_password(ctx, generate, password_stdin, clerk_id, name)
    mine = saved_token(ctx) if clerk_id == clerk else None
    c = clerks.set_password(open_node(ctx), clerk_id, password, by=clerk, keep_session=mine)
    click.echo(h(ctx, f"已为 {c['clerk_id']} {c['name']} 设置新密码", f"new password set for {c['clerk_id']} {c['name']}"))
    say_made(ctx, generate, c["clerk_id"], password)


@clerk_group.command("link")
@click.argument("clerk_id")
@click.option("--minutes", default=60, show_default=True, type=click.IntRange(*sessions.LINK_MINUTES),
              help="How long the link stays usable.")
@json_option
@click.pass_context
@admin_clerk
def clerk_link(ctx: click.Context, clerk_id: str, minutes: int, as_json: bool, clerk: str) -> None:
    """Make a one-time sign-in link for a clerk's browser: it signs them in to this
    node's pages once, without the password, within --minutes. Put the path after the
    node's page address (what `yimen serve` prints). --json prints
    {"path": ..., "clerk_id": ..., "expires_at": ...}.

    \b
    Example:
        yimen clerk link c01 --minutes 30
    """
    made = sessions.make_link(open_node(ctx), clerk_id, clerk, minutes)
    path = f"/signin/link/{made.pop('token')}"
    if as_json:
        return print_json({"path": path, **made})
    click.echo(h(ctx, f"{clerk_id} 的一次性登录链接（{made['expires_at']} 前有效，只能用一次）：{path}",
                 f"a one-time sign-in link for {clerk_id} (usable once, until {made['expires_at']}): {path}"))


@clerk_group.command("unlock")
@click.argument("clerk_id")
@click.pass_context
@admin_clerk
def clerk_unlock(ctx: click.Context, clerk_id: str, clerk: str) -> None:
    """Unlock a clerk locked after repeated wrong passwords.

    \b
    Example:
        yimen clerk unlock c01
    """
    c = clerks.unlock(open_node(ctx), clerk_id, by=clerk)
    click.echo(h(ctx, f"已解锁 {c['clerk_id']} {c['name']}", f"unlocked {c['clerk_id']} {c['name']}"))


@clerk_group.command("roles")
@click.argument("clerk_id")
@click.option("--add", "add", multiple=True, help="A role to give (repeat for many).")
@click.option("--remove", "remove", multiple=True, help="A role to take away (repeat for many).")
@json_option
@click.pass_context
@admin_clerk
def clerk_roles(ctx: click.Context, clerk_id: str, add: tuple[str, ...], remove: tuple[str, ...],
                as_json: bool, clerk: str) -> None:
    """Change a clerk's roles. Cases they handled keep the roles they acted in.

    \b
    Example:
        yimen clerk roles c01 --add 残联 --remove 医保
    """
    c = clerks.set_roles(open_node(ctx), clerk_id, list(add), list(remove), by=clerk)
    if as_json:
        return print_json(c)
    click.echo(h(ctx, f"{c['clerk_id']} {c['name']} 的岗位：{'、'.join(c['roles'])}",
                 f"clerk {c['clerk_id']} {c['name']} now holds: {', '.join(c['roles'])}"))


@clerk_group.command("deactivate")
@click.argument("clerk_id")
@click.pass_context
@admin_clerk
def clerk_deactivate(ctx: click.Context, clerk_id: str, clerk: str) -> None:
    """Deactivate a clerk who left: they can no longer act and their sessions end; the
    cases they handled keep their id, and lists and reports keep showing their name.

    \b
    Example:
        yimen clerk deactivate c02
    """
    c = clerks.set_active(open_node(ctx), clerk_id, False, by=clerk)
    click.echo(h(ctx, f"已停用窗口人员 {c['clerk_id']} {c['name']}", f"deactivated clerk {c['clerk_id']} {c['name']}"))


@clerk_group.command("activate")
@click.argument("clerk_id")
@click.pass_context
@admin_clerk
def clerk_activate(ctx: click.Context, clerk_id: str, clerk: str) -> None:
    """Let a deactivated clerk act again.

    \b
    Example:
        yimen clerk activate c02
    """
    c = clerks.set_active(open_node(ctx), clerk_id, True, by=clerk)
    click.echo(h(ctx, f"已启用窗口人员 {c['clerk_id']} {c['name']}", f"activated clerk {c['clerk_id']} {c['name']}"))


@clerk_group.command("list")
@json_option
@click.pass_context
@any_clerk
def clerk_list(ctx: click.Context, as_json: bool) -> None:
    """List the clerks of this node, active or deactivated.

    \b
    Example:
        yimen clerk list
    """
    rows = clerks.all_clerks(open_node(ctx))
    if as_json:
        return print_json(rows)
    for r in rows:
        r["roles_text"] = "、".join(r["roles"]) if lang(ctx) == "zh" else ", ".join(r["roles"])
        r["state"] = _state(ctx, r)
    click.echo(table(rows, [("clerk_id", h(ctx, "工号", "id")), ("name", h(ctx, "姓名", "name")),
                            ("roles_text", h(ctx, "岗位", "roles")), ("state", h(ctx, "状态", "state"))]))


def _state(ctx: click.Context, r: dict) -> str:
    if not r["active"]:
        return h(ctx, f"已停用（{r['deactivated_at'][:10]}）", f"deactivated ({r['deactivated_at'][:10]})")
    if clerks.locked(open_node(ctx), r):
        return h(ctx, f"已锁定至 {r['locked_until'][11:16]}", f"locked until {r['locked_until'][11:16]}")
    return h(ctx, "在岗", "active") if r["has_password"] else h(ctx, "在岗（未设密码）", "active (no password)")
