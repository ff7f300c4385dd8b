"""`yimen audit ...`: check the node's audit log (全程留痕) and show a case's or a person's trail."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import click

from yimen.node.cli.output import table
from yimen.node.cli.progress import shown
from yimen.node.cli.util import YimenGroup, h, json_option, lang, open_node, print_json, signed_in
from yimen.node.errors import NodeError
from yimen.node.services import audit
from yimen.node.texts import AUDIT_ZH, audit_action, audit_broken, audit_intact  # noqa: F401 (AUDIT_ZH: where it was)


def reader(ctx: click.Context) -> str:
    """The clerk a read is recorded under: the one signed in (every read of a citizen's
    record is a signed-in clerk's)."""
    return signed_in(ctx)["clerk_id"]


def noted(ids: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """`rows` as they are, each case id put in `ids` (for `audit.viewed` once shown)."""
    for r in rows:
        ids.append(r["case_id"])
        yield r


class AuditBroken(NodeError):
    """The audit log or one of its checkpoints is not what was written."""

    code = "audit_broken"


@click.group("audit", cls=YimenGroup)
def audit_group() -> None:
    """The audit log (全程留痕): verify it, show a case's or a person's trail."""


@audit_group.command("verify")
@json_option
@click.pass_context
def audit_verify(ctx: click.Context, as_json: bool) -> None:
    """Check every entry's hash and chain link, and the tree root at each checkpoint the
    parent countersigned; the first broken entry is named and the exit code is 1.

    \b
    Example:
        yimen audit verify
    """
    node = open_node(ctx)
    with shown(lang(ctx)) as progress:
        v = audit.verify(node, progress)
    broken = audit_broken(v)
    if broken is not None:
        raise AuditBroken(*broken)
    if as_json:
        return print_json({"ok": True, "entries": v.entries, "checkpoints": v.checkpoints})
    click.echo(h(ctx, *audit_intact(v)))


@audit_group.command("show")
@click.option("--case", "case_id", default="", help="The case's receipt number.")
@click.option("--person", "id_number", default="", help="The person's ID number (18 or 15 digits).")
@click.option("--clerk", "clerk_id", default="", help="Only this clerk's entries (工号).")
@click.option("--action", default="", help="Only entries of this action (case_show, clerk_add, ...).")
@click.option("--since", default="", metavar="YYYY-MM-DD", help="Only entries from this day on.")
@click.option("--until", default="", metavar="YYYY-MM-DD", help="Only entries up to this day (included).")
@json_option
@click.pass_context
def audit_show(ctx: click.Context, case_id: str, id_number: str, clerk_id: str, action: str, since: str, until: str,
               as_json: bool) -> None:
    """The trail of a case, of a person, of a clerk, of an action or of some days (the
    filters given must all match): every recorded action and read, oldest first (time,
    clerk, action, node). Showing a trail is itself recorded.

    \b
    Example:
        yimen audit show --case 440608100201-2026-000001
        yimen audit show --person 440608199001011235 --json
        yimen audit show --clerk c01 --since 2026-11-01 --until 2026-11-30
    """
    f = audit.Filter(case_id.strip(), id_number.strip(), clerk_id.strip(), action.strip(), since.strip(), until.strip())
    if not f.given():
        raise click.UsageError(h(ctx, "请至少给出一个条件：受理编号、身份证号、工号、操作或日期（见 --help）",
                                 "give at least one of --case, --person, --clerk, --action, --since, --until"), ctx)
    rows, _ = audit.show(open_node(ctx), reader(ctx), f)
    if as_json:
        return print_json(rows)
    if not rows:
        return click.echo(h(ctx, "没有审计记录", "no audit entries"))
    for r in rows:
        r["action_text"] = audit_action(lang(ctx), r["action"])
    click.echo(table(rows, [("seq", "#"), ("at", h(ctx, "时间", "time")), ("clerk", h(ctx, "人员", "clerk")),
                            ("action_text", h(ctx, "操作", "action")), ("node", h(ctx, "节点", "node")),
                            ("case_id", h(ctx, "受理编号", "case"))]))
