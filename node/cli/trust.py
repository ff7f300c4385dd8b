"""`yimen revoke` and `yimen key ...`: revoking a descendant's key, rotating this node's own,
and the keys of the trust list held here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from yimen.node.cli.output import table
from yimen.node.cli.sync import _read_json
from yimen.node.cli.util import YimenGroup, admin_only, h, json_option, open_node, print_json
from yimen.node.services import enrollment, trust
from yimen.node.texts import key_revoked


@click.command("revoke")
@click.argument("node_id", metavar="NODE")
@click.option("--reason", required=True, help="Why the key is revoked (shown wherever its seals are refused).")
@json_option
@click.pass_context
@admin_only
def revoke(ctx: click.Context, node_id: str, reason: str, as_json: bool) -> None:
    """Revoke the key of a node below this one: its seals after the last one held here are
    refused everywhere in the city, its requests at once. It may enroll again with a new key
    and a new invitation.

    \b
    Example:
        yimen revoke 440608100201 --reason 笔记本电脑被盗
    """
    r = trust.revoke(open_node(ctx), node_id, reason)
    if as_json:
        return print_json(r)
    click.echo(h(ctx, *key_revoked(r)))


@click.group("key", cls=YimenGroup)
def key_group() -> None:
    """This node's keys: its signing key (rotation), the trust list, and what unlocks its database.

    \b
    Example:
        yimen key list
    """


@key_group.command("rotate")
@click.option("--request", "request_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Offline: write the rotation request to this file for the parent's admin.")
@click.option("--answer", "answer_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Offline: apply the answer the parent's admin made with `yimen key admit`.")
@click.pass_context
@admin_only
def key_rotate(ctx: click.Context, request_file: Path | None, answer_file: Path | None) -> None:
    """Replace this node's signing key with a new one certified by the parent (online with
    the parent in node.json, or by carrying a request file). Seals signed with the old key
    before the rotation stay valid.

    \b
    Example:
        yimen key rotate                               # online
        yimen key rotate --request rotate-request.json # then, back from the parent:
        yimen key rotate --answer rotate-answer.json
    """
    node = open_node(ctx)
    if request_file:
        request_file.write_text(enrollment.dumps(trust.rotation_request(node)), "utf-8")
        return click.echo(h(ctx, f"已写出密钥更换申请：{request_file}", f"wrote key rotation request {request_file}"))
    if answer_file:
        kid = trust.apply_rotation(node, _read_json(answer_file))
    elif node.config.parent_url:
        kid = asyncio.run(trust.rotate_online(node, node.config.parent_url))
    else:
        raise click.UsageError(h(ctx, "本节点没有上级地址：请用 --request FILE 和 --answer FILE",
                                 "this node has no parent URL: use --request FILE and --answer FILE"))
    click.echo(h(ctx, f"密钥已更换，新密钥 {kid}", f"key rotated; the new key is {kid}"))


@key_group.command("admit")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--answer", "answer_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the answer for the child.")
@click.pass_context
@admin_only
def key_admit(ctx: click.Context, request_file: Path, answer_file: Path) -> None:
    """Certify a child's new key from its rotation request file and write the answer.

    \b
    Example:
        yimen key admit rotate-request.json --answer rotate-answer.json
    """
    answer = trust.certify_rotation(open_node(ctx), _read_json(request_file))
    answer_file.write_text(enrollment.dumps(answer), "utf-8")
    click.echo(h(ctx, f"已为 {answer['child']} 的新密钥签发证书，答复写入 {answer_file}",
                 f"certified the new key of {answer['child']}; answer written to {answer_file}"))


@key_group.command("list")
@json_option
@click.pass_context
def key_list(ctx: click.Context, as_json: bool) -> None:
    """List the keys of the trust list held here, with revocations and retirements.

    \b
    Example:
        yimen key list
    """
    rows = trust.known_keys(open_node(ctx))
    if as_json:
        return print_json(rows)
    states = {"valid": ("有效", "valid"), "revoked": ("已吊销", "revoked"), "retired": ("已替换", "retired")}
    shown = [{**r, "state": h(ctx, *states.get(r["state"], (r["state"], r["state"]))),
              "reason": h(ctx, r["reason_zh"] or r["reason"] or "", r["reason"] or "")} for r in rows]
    cols = [("node", h(ctx, "节点", "node")), ("key_id", h(ctx, "密钥", "key id")), ("state", h(ctx, "状态", "state")),
            ("cut", h(ctx, "截止签封", "cut after")), ("reason", h(ctx, "原因", "reason"))]
    click.echo(table(shown, cols))


COMMANDS = [revoke, key_group]
