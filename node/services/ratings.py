"""Ratings (一事一评): the citizen rates a case at the window, an admin follows up.

A case may be rated once, at the node that accepted it (its rating document belongs to that
node, `yimen.sync.visibility`), once its window work is over (`schema.rating.RATABLE`). The
rating goes up the chain like a case; an admin at that node or any node above it records
the follow-up (回访/整改). Satisfaction counts come from the `ratings` projection: a node
counts the ratings of its own region (its own and those of the nodes below it)."""

from __future__ import annotations

from typing import Any

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.projections import refresh
from yimen.node.rating_projections import rating_id
from yimen.node.services import audit, cases, clerks
from yimen.schema import rating as rules
from yimen.schema.case import STATUS_ZH
from yimen.schema.errors import SchemaError
from yimen.schema.idnumber import mask_name


class NotRatable(NodeError):
    """The case cannot be rated here, or not now."""

    code = "not_ratable"


class AlreadyRated(NodeError):
    """The case has been rated already (one rating per case)."""

    code = "already_rated"


class UnknownRating(NodeError):
    """The case has no rating this node lists."""

    code = "unknown_rating"


GROUPS = ("item", "clerk")


def refusal(node: Node, row: dict[str, Any]) -> NodeError | None:
    """Why the case `row` (a `cases` row) may not be rated at this node now, or None."""
    cid, status = row["case_id"], row["status"]
    if row["node"] != node.region_code:
        return NotRatable(f"办件 {cid} 由 {row['node']} 受理，只能在该窗口请群众评价",
                          f"case {cid} was accepted at {row['node']}: only that window takes its rating")
    if status not in rules.RATABLE:
        return NotRatable(f"办件 {cid} 处于“{STATUS_ZH.get(status, status)}”状态，办结、出件或退件后才能评价",
                          f"case {cid} is {status.replace('_', ' ')}: it can be rated once its result is issued "
                          f"or it is closed")
    if node.store.exists(rating_id(cid)):
        return AlreadyRated(f"办件 {cid} 已评价过，每件只评一次", f"case {cid} has been rated already (once per case)")
    return None


def _ratable_row(node: Node, case_id: str) -> dict[str, Any]:
    row = cases.get_row(node, case_id)
    why = refusal(node, row)
    if why is not None:
        raise why
    return row


def final_action(node: Node, case_id: str) -> tuple[str, str]:
    """The clerk and node of the last applied event of a case (who closed or refused it)."""
    found = node.store.conn.execute(
        "SELECT actor, node FROM case_events WHERE case_id = ? AND conflict = 0 AND action != 'review'"
        " ORDER BY idx DESC LIMIT 1", (case_id,)).fetchone()
    return found if found else ("", node.region_code)


def rate_page(node: Node, case_id: str, clerk_id: str) -> dict[str, Any]:
    """What the page turned toward the citizen shows: the item and the masked name of a
    case that may be rated now (a read of the applicant's record, in the audit trail)."""
    row = _ratable_row(node, case_id)
    audit.record(node, "rate_page", clerk_id, case_id, row["applicant_id"])
    return {"case_id": case_id, "item_name": row["item_name"], "applicant": mask_name(row["applicant_name"])}


def rate(node: Node, case_id: str, score: str, reason: str, clerk_id: str) -> dict[str, Any]:
    """Record the citizen's rating of a case (once; see `refusal`) as the rating document
    of this node, with its row and an audit entry, in one transaction. `clerk_id` is the
    clerk at the window, who holds the item's department role."""
    clerk = clerks.get(node, clerk_id)
    row = _ratable_row(node, case_id)
    clerks.require_role(clerk, row["department"])
    score = rules.score_of(score)
    reason = rules.reason_of(score, reason)
    actor, at_node = final_action(node, case_id)
    store = node.store
    with store.transaction():
        why = refusal(node, cases.get_row(node, case_id))  # checked again inside: once per case
        if why is not None:
            raise why
        doc = store.new_doc(rating_id(case_id), "rating", node.region_code)
        doc.update("rating", {
            "case_id": case_id, "item_code": row["item_code"], "item_name": row["item_name"], "clerk": actor,
            "clerk_node": at_node, "score": score, "reason": reason, "rated_at": node.now(), "rated_by": clerk_id,
        })
        store.save(doc, node.node_id)
        refresh(store, doc, node.calendar, new=True)
        rated = _listed(node, case_id)
        audit.record(node, "rate", clerk_id, case_id, row["applicant_id"], score=score)
    return rated


def follow_up(node: Node, case_id: str, admin_id: str, text: str) -> dict[str, Any]:
    """Record what was done about a rating (回访/整改), by an admin of this node (the
    case's own or one above it); a rating may get several."""
    clerk = clerks.get(node, admin_id)
    clerks.require_admin(clerk)
    done = rules.follow_up_text(text)
    get(node, case_id)
    store = node.store
    with store.transaction():
        doc = store.get(rating_id(case_id))
        doc.append("follow_ups", {"admin": admin_id, "node": node.node_id, "at": node.now(), "text": done})
        store.save(doc, node.node_id)
        refresh(store, doc, node.calendar)
        row = _listed(node, case_id)
        audit.record(node, "rating_follow_up", admin_id, case_id)
    return row


def _listed(node: Node, case_id: str) -> dict[str, Any]:
    """The rating just written, as listed (a text the projection cannot bind undoes it)."""
    try:
        return get(node, case_id)
    except UnknownRating:
        raise SchemaError("评价内容无法登记（字段过长或格式不符），请检查后重试",
                          "the rating cannot be recorded (a field is too long or malformed); check and retry") from None


def _rows(node: Node, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = node.store.conn.execute(sql, {"me": node.node_id, **params})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur]


SELECT = f"SELECT *, {clerks.name_sql('clerk', 'clerk_node')} AS clerk_name FROM ratings"


def get(node: Node, case_id: str) -> dict[str, Any]:
    """A case's rating, as listed."""
    found = find(node, case_id)
    if found is None:
        raise UnknownRating(f"办件 {case_id} 尚无评价", f"case {case_id} has no rating")
    return found


def find(node: Node, case_id: str) -> dict[str, Any] | None:
    """A case's rating, or None when it has none listed here."""
    found = _rows(node, SELECT + " WHERE case_id = :id", {"id": case_id})
    return found[0] if found else None


def open_follow_ups(node: Node) -> list[dict[str, Any]]:
    """Ratings that need a follow-up and have none yet, oldest first."""
    return _rows(node, SELECT + " WHERE follow_up_status = 'open' ORDER BY rated_at, case_id", {})


def satisfaction(node: Node, by: str = "item") -> list[dict[str, Any]]:
    """Ratings counted by item (`item_code`, `item_name`) or by the clerk of the cases'
    final action (`clerk`, `clerk_node`, `clerk_name`: known for this node's own clerks),
    with each score's count, `total`, and `share`: the share satisfied (满意 and 基本满意,
    as a 满意率 counts them), 0 to 1; most ratings first."""
    if by not in GROUPS:
        raise SchemaError(f"统计方式须为 {' 或 '.join(GROUPS)}", f"count by {' or '.join(GROUPS)}")
    keys = "item_code, max(item_name) AS item_name" if by == "item" else \
        f"clerk, clerk_node, {clerks.name_sql('clerk', 'clerk_node')} AS clerk_name"
    group = "item_code" if by == "item" else "clerk_node, clerk"
    counts = ", ".join(f"sum(score = '{s}') AS {s}" for s in rules.SCORES)
    rows = _rows(node, f"SELECT {keys}, count(*) AS total, {counts} FROM ratings GROUP BY {group}"
                       f" ORDER BY total DESC, {group}", {})
    for r in rows:
        r["share"] = (r["satisfied"] + r["basic"]) / r["total"]
    return rows
