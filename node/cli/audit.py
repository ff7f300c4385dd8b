"""`yimen audit ...`: check the node's audit log (全程留痕) and show a case's or a person's trail."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import click

from yimen.node.cli.output import table
from yimen.node.cli.progress import shown
from yimen.node.cli.util import YimenGroup, h, json_option, lang, open_node, print_json, signed_in
from yimen.node.errors import NodeError
from yimen.node.services import audit
from yimen.schema.case import ACTION_ZH

AUDIT_ZH = {
    **ACTION_ZH, "case_show": "查看办件", "case_list": "查询办件列表", "case_export": "导出办件列表",
    "case_inbox": "查看待审批列表", "report_overdue": "督办报表", "report_refusals": "拒件周报",
    "catalog_import": "导入事项目录", "clerk_add": "添加窗口人员", "clerk_roles": "调整岗位",
    "clerk_deactivate": "停用窗口人员", "clerk_activate": "启用窗口人员",
    "clerk_password": "设置密码", "clerk_unlock": "解除锁定", "sign_in": "登录", "signin_link": "发放一次性登录链接", "revoke": "吊销节点密钥", "sign_in_failed": "登录失败", "bundle_export": "导出数据包",
    "bundle_import": "导入数据包", "backup": "备份", "restore": "恢复备份", "invite": "生成邀请码",
    "admit": "接纳下级节点", "enroll": "注册到上级", "checkpoint_refused": "拒绝下级的审计检查点",
    "audit_show": "查看审计记录", "cert_show": "查看电子证照", "cert_revoke": "吊销电子证照",
    "space_deposit": "办理结果存入我的空间", "space_add": "扫描件存入我的空间", "space_keep": "受理时扫描件存入我的空间",
    "space_show": "查看我的空间", "space_reuse": "复用我的空间中的材料", "space_consent": "登记同意书",
    "space_withdraw": "撤回同意书", "space_purge": "清除凭同意书取得的文档", "space_serve": "向下级提供我的空间文档",
    "space_file_serve": "向下级提供我的空间文件",
    "quarantine_view": "查看隔离的文档",  # the chain dashboard (web/pages/chain.py)
    # ratings (一事一评)
    "rate": "群众评价", "rate_page": "打开群众评价页", "rating_show": "查看评价", "rating_follow_up": "登记回访整改",
    "rating_board": "查看待回访评价",
    # the printed papers and the citizen's progress page (node/web/pages/papers.py)
    "printed_paper": "打印文书", "progress_viewed": "申请人查询办件进度",
    "space_offers": "受理前查看我的空间可复用的材料",  # the window's accept form
}
WHY = {
    "hash": ("内容或与前一条的哈希链接不符", "its content or its link to the entry before does not match its hash"),
    "sequence": ("编号不连续", "its number does not follow the one before"),
    "malformed": ("格式错误", "it is malformed"), "signature": ("本节点签名无效", "the node's own signature is invalid"),
    "countersignature": ("上级会签无效", "the parent's countersignature is invalid"),
    "root": ("与日志不符：日志已被改写", "it does not match the log: the log was rewritten"),
}


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
    if v.broken is not None:
        b, (zh, en) = v.broken, WHY[v.broken.why]
        raise AuditBroken(f"审计日志第 {b.seq} 条（{b.at}，{AUDIT_ZH.get(b.action, b.action)}）已被改动：{zh}",
                          f"audit entry {b.seq} ({b.at}, {b.action}) was altered: {en}")
    if v.checkpoint_broken is not None:
        size, (zh, en) = v.checkpoint_broken[0], WHY[v.checkpoint_broken[1]]
        raise AuditBroken(f"审计日志前 {size} 条的检查点（经上级会签）{zh}",
                          f"the checkpoint of the first {size} audit entries (countersigned by the parent): {en}")
    if as_json:
        return print_json({"ok": True, "entries": v.entries, "checkpoints": v.checkpoints})
    click.echo(h(ctx, f"审计日志完好：{v.entries} 条记录，{v.checkpoints} 个经上级会签的检查点",
                 f"the audit log is intact: {v.entries} entries, {v.checkpoints} checkpoint(s) countersigned by the parent"))


@audit_group.command("show")
@click.option("--case", "case_id", default="", help="The case's receipt number.")
@click.option("--person", "id_number", default="", help="The person's ID number (18 or 15 digits).")
@json_option
@click.pass_context
def audit_show(ctx: click.Context, case_id: str, id_number: str, as_json: bool) -> None:
    """The trail of a case or of a person: every recorded action and read, oldest first
    (time, clerk, action, node). Showing a person's trail is itself recorded.

    \b
    Example:
        yimen audit show --case 440608100201-2026-000001
        yimen audit show --person 440608199001011235 --json
    """
    if bool(case_id) == bool(id_number):
        raise click.UsageError(h(ctx, "请给出 --case 或 --person 其中之一", "give one of --case or --person"), ctx)
    node = open_node(ctx)
    rows = audit.trail(node, case_id or None, id_number or None)
    audit.record(node, "audit_show", reader(ctx), case_id or None, None,
                 of_person=bool(id_number), entries=len(rows))
    if as_json:
        return print_json(rows)
    if not rows:
        return click.echo(h(ctx, "没有审计记录", "no audit entries"))
    for r in rows:
        r["action_text"] = AUDIT_ZH.get(r["action"], r["action"]) if lang(ctx) == "zh" else r["action"]
    click.echo(table(rows, [("seq", "#"), ("at", h(ctx, "时间", "time")), ("clerk", h(ctx, "人员", "clerk")),
                            ("action_text", h(ctx, "操作", "action")), ("node", h(ctx, "节点", "node")),
                            ("case_id", h(ctx, "受理编号", "case"))]))
