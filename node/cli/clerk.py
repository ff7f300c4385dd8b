"""`yimen clerk ...`: the window clerks of this node and their roles."""

from __future__ import annotations

import click

from yimen.node.cli.output import table
from yimen.node.cli.util import YimenGroup, h, json_option, lang, open_node, print_json
from yimen.node.services import clerks


@click.group("clerk", cls=YimenGroup)
def clerk_group() -> None:
    """Window clerks of this node and their roles (departments)."""


@clerk_group.command("add")
@click.option("--id", "clerk_id", required=True, help="Clerk id (工号).")
@click.option("--name", required=True, help="Clerk's name.")
@click.option("--role", "roles", multiple=True, required=True,
              help="A department the clerk serves (repeat for many roles).")
@click.pass_context
def clerk_add(ctx: click.Context, clerk_id: str, name: str, roles: tuple[str, ...]) -> None:
    """Add a clerk with one or more roles (一人多能).

    \b
    Example:
        yimen clerk add --id c01 --name 李敏 --role 民政 --role 社保 --role 医保
    """
    c = clerks.add(open_node(ctx), clerk_id, name, list(roles))
    click.echo(h(ctx, f"已添加窗口人员 {c['clerk_id']} {c['name']}：{'、'.join(c['roles'])}",
                 f"added clerk {c['clerk_id']} {c['name']}: {', '.join(c['roles'])}"))


@clerk_group.command("roles")
@click.argument("clerk_id")
@click.option("--add", "add", multiple=True, help="A role to give (repeat for many).")
@click.option("--remove", "remove", multiple=True, help="A role to take away (repeat for many).")
@json_option
@click.pass_context
def clerk_roles(ctx: click.Context, clerk_id: str, add: tuple[str, ...], remove: tuple[str, ...],
                as_json: bool) -> None:
    """Change a clerk's roles. Cases they handled keep the roles they acted in.

    \b
    Example:
        yimen clerk roles c01 --add 残联 --remove 医保
    """
    c = clerks.set_roles(open_node(ctx), clerk_id, list(add), list(remove))
    if as_json:
        return print_json(c)
    click.echo(h(ctx, f"{c['clerk_id']} {c['name']} 的岗位：{'、'.join(c['roles'])}",
                 f"clerk {c['clerk_id']} {c['name']} now holds: {', '.join(c['roles'])}"))


@clerk_group.command("deactivate")
@click.argument("clerk_id")
@click.pass_context
def clerk_deactivate(ctx: click.Context, clerk_id: str) -> None:
    """Deactivate a clerk who left: they can no longer act; the cases they handled keep
    their id, and lists and reports keep showing their name.

    \b
    Example:
        yimen clerk deactivate c02
    """
    c = clerks.set_active(open_node(ctx), clerk_id, False)
    click.echo(h(ctx, f"已停用窗口人员 {c['clerk_id']} {c['name']}", f"deactivated clerk {c['clerk_id']} {c['name']}"))


@clerk_group.command("activate")
@click.argument("clerk_id")
@click.pass_context
def clerk_activate(ctx: click.Context, clerk_id: str) -> None:
    """Let a deactivated clerk act again.

    \b
    Example:
        yimen clerk activate c02
    """
    c = clerks.set_active(open_node(ctx), clerk_id, True)
    click.echo(h(ctx, f"已启用窗口人员 {c['clerk_id']} {c['name']}", f"activated clerk {c['clerk_id']} {c['name']}"))


@clerk_group.command("list")
@json_option
@click.pass_context
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
        r["state"] = h(ctx, "在岗", "active") if r["active"] else \
            h(ctx, f"已停用（{r['deactivated_at'][:10]}）", f"deactivated ({r['deactivated_at'][:10]})")
    click.echo(table(rows, [("clerk_id", h(ctx, "工号", "id")), ("name", h(ctx, "姓名", "name")),
                            ("roles_text", h(ctx, "岗位", "roles")), ("state", h(ctx, "状态", "state"))]))
