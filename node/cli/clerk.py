"""`yimen clerk ...`: the window clerks of this node and their roles."""

from __future__ import annotations

import click

from yimen.node.cli.output import table
from yimen.node.cli.util import YimenGroup, h, json_option, open_node, print_json
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


@clerk_group.command("list")
@json_option
@click.pass_context
def clerk_list(ctx: click.Context, as_json: bool) -> None:
    """List the clerks of this node.

    \b
    Example:
        yimen clerk list
    """
    rows = clerks.all_clerks(open_node(ctx))
    if as_json:
        return print_json(rows)
    for r in rows:
        r["roles_text"] = "、".join(r["roles"])
    click.echo(table(rows, [("clerk_id", h(ctx, "工号", "id")), ("name", h(ctx, "姓名", "name")),
                            ("roles_text", h(ctx, "岗位", "roles"))]))
