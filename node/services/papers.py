"""The papers a window hands out (受理回执, 一次性告知书, 不予受理通知书, the result with its
e-certificate) and the citizen's progress page (办件进度), from `cases.show`.

Which papers a case's state allows is one rule (`fitting`), used by the case page's links
and checked again when a paper is asked for. Every paper read and every progress view
shows a citizen's data: each leaves an audit entry (`printed_paper`, `progress_viewed`).
What the progress page shows is what the applicant may read without signing in: no clerk
name, no ID number, no phone, the name masked (`mask_name`)."""

from __future__ import annotations

from typing import Any

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.services import audit, cases, clerks, credentials, space_reuse
from yimen.schema import region
from yimen.schema.case import STATUS_ZH
from yimen.schema.errors import YimenError
from yimen.schema.idnumber import mask, mask_name

KINDS = ("receipt", "notice", "refusal", "result")
REFUSED = ("not_accepted", "returned")
KIND_ZH = {"receipt": "受理回执", "notice": "一次性告知书", "refusal": "不予受理通知书",
           "result": "办理结果证明"}
KIND_EN = {"receipt": "acceptance receipt", "notice": "notice of what is missing", "refusal": "notice of refusal",
           "result": "result certificate"}


# what an open case waits for when no reviewer is named (an in-review case names its own)
NEXT = {"accepted": ("等待窗口提交审批", "waiting for the window to send it for approval"),
        "supplement": ("等待申请人补正材料", "waiting for the applicant's supplement"),
        "approved": ("已批准，正在制作办理结果", "approved: the result is being made"),
        "result_issued": ("办理结果已出，请到窗口领取", "the result is ready at the window")}


class PaperUnfit(NodeError):
    """The paper asked for does not fit the case's state (no receipt for a case never accepted...)."""

    code = "paper_unfit"


def _events(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The history's applied events (a flagged one changed nothing), reviews left out."""
    return [e for e in d["history"] if not e["conflict"] and e["action"] != "review"]


def _missing(d: dict[str, Any]) -> list[dict[str, Any]]:
    """What the applicant still owes: each deferred material outstanding (with its promised
    date) and, while the case waits for a supplement, what the request asked for."""
    owed = d["status"] in cases.OPEN_STATUSES
    out = [{"material": name, "reason": "", "due": m.get("due") or "", "overdue": bool(m.get("overdue"))}
           for name, m in d["materials"].items() if owed and m.get("status") == "deferred"]
    if d["status"] == "supplement":
        asked = next((e for e in reversed(_events(d)) if e["action"] == "supplement"), None)
        if asked:
            out.insert(0, {"material": asked["material"] or "", "reason": asked["reason"] or "",
                           "due": "", "overdue": False, "at": asked["at"][:10]})
    return out


def fitting(node: Node, d: dict[str, Any]) -> list[str]:
    """The papers a case (as `cases.show` gives it) may be printed on now, in `KINDS` order."""
    done = {e["action"] for e in _events(d)}
    fit = {"receipt": "accept" in done, "notice": bool(_missing(d)), "refusal": d["status"] in REFUSED,
           "result": d["status"] == "completed" and space_reuse.deposited(node, d["case_id"]) is not None}
    return [k for k in KINDS if fit[k]]


def links(node: Node, d: dict[str, Any]) -> list[dict[str, str]]:
    """The papers of `fitting`, each with its name in both languages (the case page's links)."""
    return [{"kind": k, "zh": KIND_ZH[k], "en": KIND_EN[k].capitalize()} for k in fitting(node, d)]


def _clerk_name(node: Node, clerk_id: str | None) -> str:
    """A clerk's name as this node knows it (one of another node: the id)."""
    if not clerk_id:
        return ""
    try:
        return clerks.get(node, clerk_id)["name"]
    except NodeError:  # a clerk of another node
        return clerk_id


def _refusal(d: dict[str, Any]) -> dict[str, Any]:
    e = next(e for e in reversed(_events(d)) if e["action"] in REFUSED)
    return {"reason": e["reason"] or "", "at": e["at"][:10], "action": e["action"]}


def _result(node: Node, d: dict[str, Any], clerk_id: str) -> dict[str, Any]:
    shown = credentials.show(node, space_reuse.deposited(node, d["case_id"]), clerk_id)
    c = shown["verdict"].claims
    return {"cert_id": shown["cert_id"], "text": shown["text"], "title": shown["title"] or "",
            "issued_on": c.issued_on if c else "", "valid_until": c.valid_until if c else ""}


def paper(node: Node, case_id: str, kind: str, clerk_id: str) -> dict[str, Any]:
    """What paper `kind` of a case says (`PaperUnfit` if the case's state does not allow
    it), its read in the audit trail. The applicant appears masked: name and ID number."""
    d = cases.show(node, case_id)
    if kind not in fitting(node, d):
        status = d["status"]
        raise PaperUnfit(f"办件 {case_id} 当前状态为“{STATUS_ZH.get(status, status)}”，不能打印{KIND_ZH.get(kind, kind)}",
                         f"case {case_id} is {status.replace('_', ' ')}: it has no {KIND_EN.get(kind, kind)} to print")
    out = {"kind": kind, "case_id": case_id, "item_code": d["item_code"], "item_name": d["item_name"],
           "department": d["department"], "applicant": mask_name(d["applicant_name"]),
           "applicant_id": mask(d["applicant_id"]), "status": d["status"], "deadline": d["deadline"],
           "deadline_provisional": d["deadline_provisional"], "accepted_date": d["accepted_date"] or "",
           "clerk": _clerk_name(node, d["accepted_by"]), "materials": d["materials"], "missing": _missing(d),
           "issuer": node.config.name, "today": node.clock().date().isoformat()}
    with node.store.transaction():
        if kind == "refusal":
            out["refusal"] = _refusal(d)
        if kind == "result":
            out["result"] = _result(node, d, clerk_id)
        audit.record(node, "printed_paper", clerk_id, case_id, d["applicant_id"] or None, kind=kind)
    return out


def progress(node: Node, case_id: str) -> dict[str, Any]:
    """A case's progress as the applicant may read it with no sign-in: the item, the
    status, each step done (date, level, department: no clerk), what it waits for, the
    deadline, the name masked. The view is an audit entry (`progress_viewed`, no clerk)."""
    d = cases.show(node, case_id)
    steps = [{"date": e["at"][:10], "action": e["action"], "level": _level(e["node"]),
              "department": e["department"] or e["role"]} for e in _events(d)]
    audit.record(node, "progress_viewed", None, case_id, d["applicant_id"] or None)
    return {"case_id": case_id, "item_name": d["item_name"], "department": d["department"],
            "applicant": mask_name(d["applicant_name"]), "status": d["status"], "steps": steps,
            "waiting_for": d["waiting_for"], "next": NEXT.get(d["status"]), "missing": _missing(d),
            "deadline": d["deadline"], "deadline_provisional": d["deadline_provisional"],
            "paused": d["paused_since"] is not None, "issuer": node.config.name}


def _level(node_id: str) -> str:
    try:
        return region.level(node_id)
    except YimenError:  # an event written by no node this schema knows
        return ""
