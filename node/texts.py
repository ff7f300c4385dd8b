"""The words of a case for people, in the clerk's language (`lang` is "zh" or "en"): one
spelling for the command line and the web pages."""

from __future__ import annotations

from typing import Any

from yimen.schema.case import ACTION_ZH
from yimen.schema.region import LEVEL_ZH

MATERIAL_ZH = {"provided": "已提交", "deferred": "容缺待补交", "delivered": "已补交", "missing": "未提交",
               "reused": "取自我的空间"}
CARD_ZH = {"red": "红牌", "yellow": "黄牌", "green": "绿", "paused": "暂停计时", "": ""}


def pick(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def card_text(lang: str, card: str) -> str:
    return CARD_ZH[card] if lang == "zh" else card


def deadline_text(lang: str, row: dict[str, Any]) -> str:
    """A deadline, marked when it was counted through a year no calendar covers (never a
    silent Monday-to-Friday guess)."""
    if not row.get("deadline"):
        return ""
    return row["deadline"] + (pick(lang, "（暂定）", " (provisional)") if row.get("deadline_provisional") else "")


def waiting_text(lang: str, waits: list[dict[str, Any]]) -> str:
    """What a case in review waits for: 待镇街·民政审批 / waiting for town · 民政 approval."""
    if not waits:
        return ""
    if lang == "zh":
        return "待" + "、".join(f"{LEVEL_ZH[w['level']].removesuffix('级')}·{w['department']}" for w in waits) + "审批"
    return "waiting for " + ", ".join(f"{w['level']} · {w['department']}" for w in waits) + " approval"


def flags_text(lang: str, row: dict[str, Any]) -> str:
    """A case row's warnings: a deferred material past its due date, conflicts to review."""
    out = [pick(lang, f"容缺材料逾期（{row['deferred_due']}）", f"deferred material overdue ({row['deferred_due']})")
           ] if row.get("deferred_overdue") else []
    if row.get("conflicts_open"):
        out.append(pick(lang, f"冲突待核查 {row['conflicts_open']}", f"{row['conflicts_open']} conflict(s) to review"))
    return pick(lang, "；", "; ").join(out)


# -- the chain dashboard (web/pages/chain.py) --
def duration_text(lang: str, seconds: float) -> str:
    """A lag for people, in the largest unit that keeps it at least 1: 45 秒, 1.5 小时 /
    45 s, 1.5 h."""
    for size, zh, en in ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min")):
        if seconds >= size:
            return f"{seconds / size:.3g} {pick(lang, zh, en)}"
    return f"{seconds:.3g} {pick(lang, '秒', 's')}"


KIND_ZH = {"catalog_item": "事项", "case": "办件", "space_doc": "我的空间文档", "consent": "同意书",
           "node": "节点记录", "revocation": "吊销记录", "audit": "审计记录", "rating": "评价",
           "credential_revocation": "证照吊销记录"}


def kind_text(lang: str, kind: str) -> str:
    """A document kind: 办件 / case."""
    return KIND_ZH.get(kind, kind) if lang == "zh" else kind.replace("_", " ")


# -- enrollment (`yimen enroll`, the admin's enrollment page) --------------------------------
def enrolled(learnt: list[str]) -> tuple[str, str]:
    """What `enrollment.apply_answer` did, as (zh, en)."""
    return f"注册完成，已获得上级公钥：{'、'.join(learnt)}", f"enrolled; keys learnt for {', '.join(learnt)}"


# -- revocations (`yimen revoke`, `yimen cert revoke`, the admin's revoke page) --------------
def key_revoked(r: dict[str, Any]) -> tuple[str, str]:
    """What `trust.revoke` did, as (zh, en)."""
    return (f"已吊销 {r['node']} 的密钥 {r['key_id']}：其签封 #{r['cut']} 之后的一律不予接收",
            f"revoked key {r['key_id']} of {r['node']}: its seals after #{r['cut']} are refused")


def cert_revoked(r: dict[str, Any]) -> tuple[str, str]:
    """What `credentials.revoke` did (or found done), as (zh, en)."""
    if r["already"]:
        return f"电子证照 {r['cert_id']} 早已吊销（{r['at']}）", f"e-certificate {r['cert_id']} was revoked already ({r['at']})"
    return (f"已吊销电子证照 {r['cert_id']}：同步到各节点后即不予通过核验",
            f"revoked e-certificate {r['cert_id']}: nodes refuse it once the revocation reaches them")


# -- the audit log (`yimen audit`, the admin's audit page) ----------------------------------
AUDIT_ZH = {
    **ACTION_ZH, "case_show": "查看办件", "case_list": "查询办件列表", "case_export": "导出办件列表",
    "case_inbox": "查看待审批列表", "report_overdue": "督办报表", "report_refusals": "拒件周报",
    "catalog_import": "导入事项目录", "clerk_add": "添加窗口人员", "clerk_roles": "调整岗位",
    "clerk_deactivate": "停用窗口人员", "clerk_activate": "启用窗口人员",
    "clerk_password": "设置密码", "clerk_unlock": "解除锁定", "sign_in": "登录", "signin_link": "发放一次性登录链接", "revoke": "吊销节点密钥", "sign_in_failed": "登录失败", "bundle_export": "导出数据包",
    "bundle_import": "导入数据包", "backup": "备份", "restore": "恢复备份", "invite": "生成邀请码",
    "admit": "接纳下级节点", "key_certify": "为下级的新密钥签发证书", "enroll": "注册到上级", "checkpoint_refused": "拒绝下级的审计检查点",
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
AUDIT_WHY = {
    "hash": ("内容或与前一条的哈希链接不符", "its content or its link to the entry before does not match its hash"),
    "sequence": ("编号不连续", "its number does not follow the one before"),
    "malformed": ("格式错误", "it is malformed"), "signature": ("本节点签名无效", "the node's own signature is invalid"),
    "countersignature": ("上级会签无效", "the parent's countersignature is invalid"),
    "root": ("与日志不符：日志已被改写", "it does not match the log: the log was rewritten"),
}


def audit_action(lang: str, action: str) -> str:
    """An audit entry's action in words (zh), or its code word (en)."""
    return AUDIT_ZH.get(action, action) if lang == "zh" else action


def audit_broken(v: Any) -> tuple[str, str] | None:
    """What `audit.verify`'s verdict `v` found broken, as (zh, en), or None if the log is intact."""
    if v.broken is not None:
        b, (zh, en) = v.broken, AUDIT_WHY[v.broken.why]
        return (f"审计日志第 {b.seq} 条（{b.at}，{AUDIT_ZH.get(b.action, b.action)}）已被改动：{zh}",
                f"audit entry {b.seq} ({b.at}, {b.action}) was altered: {en}")
    if v.checkpoint_broken is not None:
        size, (zh, en) = v.checkpoint_broken[0], AUDIT_WHY[v.checkpoint_broken[1]]
        return (f"审计日志前 {size} 条的检查点（经上级会签）{zh}",
                f"the checkpoint of the first {size} audit entries (countersigned by the parent): {en}")
    return None


def audit_intact(v: Any) -> tuple[str, str]:
    """The sentence of an intact log."""
    return (f"审计日志完好：{v.entries} 条记录，{v.checkpoints} 个经上级会签的检查点",
            f"the audit log is intact: {v.entries} entries, {v.checkpoints} checkpoint(s) countersigned by the parent")
