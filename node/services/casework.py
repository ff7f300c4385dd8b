"""A clerk's work beside the window: the inbox (cases whose current step waits for this
node's level; a clerk's own: the departments they hold, with who has decided a parallel
step already) and the review of flagged events (冲突核查).

Who may review: a clerk holding the role the flagged event was taken under (its
department: the step's reviewing department for a decision, the item's department for a
window action), at any node that holds the case. Only the case's owner and its ancestors
hold a case and may write to it (`visibility.may_write`), and an event is genuine only if
written by the node it names (`projection_rules.forgeries`), so a review written anywhere
else is flagged like any forged event.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.projections import case_events, refresh
from yimen.node.services import audit, cases, clerks
from yimen.node.services.clerks import name_sql
from yimen.schema import case as lifecycle
from yimen.sync.docs import entry_ids


class ReviewRefused(NodeError):
    """The review cannot be recorded: the event is not an open conflict, or no resolution."""

    code = "review_refused"


def review(node: Node, case_id: str, event_no: int, resolution: str, clerk_id: str) -> dict[str, Any]:
    """Record how a flagged event (number `event_no` in `show`'s history, 1 = first) was
    resolved: a `review` event naming it by its stable reference, with the resolution as
    its reason. The clerk holds the role the flagged event was taken under; the flagged
    event stays in the history, flagged, shown as resolved."""
    clerk = clerks.get(node, clerk_id)
    doc, value, item, state = cases.load(node, case_id)
    history, i = case_events(value), event_no - 1
    if not 0 <= i < len(history) or i not in state.conflicts:
        raise ReviewRefused(f"办件 {case_id} 的第 {event_no} 条记录不是冲突事件",
                            f"event {event_no} of case {case_id} is not a flagged event")
    clerks.require_role(clerk, history[i].role)
    ev = lifecycle.Event("review", clerk["clerk_id"], history[i].role, node.node_id, node.now(),
                         reason=lifecycle.reason_of(resolution), target=entry_ids(doc, "history")[i])
    refused = lifecycle.review_refusal(state, ev, i, len(history))
    if refused:
        raise ReviewRefused(*refused)
    with node.store.transaction():
        doc.append("history", ev.to_dict())
        node.store.save(doc, node.node_id)
        cases._listed(refresh(node.store, doc, node.calendar, lambda *_: item))
        audit.record(node, "review", clerk["clerk_id"], case_id, value["case"].get("applicant_id"), event=event_no)
    return cases.get_row(node, case_id)


def may(node: Node, clerk_id: str, case: dict[str, Any]) -> dict[str, list]:
    """What a clerk's roles allow of a case as `cases.show` shows it, as `cases.act` and
    `review` check them: `may`, of its next actions, a decision for a department it waits
    for at this node's level and any other action in the item's department; `may_review`,
    the numbers of its flagged events not yet reviewed taken under one of the clerk's roles."""
    roles = set(clerks.get(node, clerk_id)["roles"])
    deciding = {w["department"] for w in case["waiting_for"] if w["level"] == node.level}
    return {"may": [a for a in case["next_actions"]
                    if (roles & deciding if a in ("approve", "reject") else case["department"] in roles)],
            "may_review": [e["no"] for e in case["history"]
                           if e["conflict"] and e["resolved_by"] is None and e["role"] in roles]}


def inbox(node: Node, department: str = "", today: date | None = None) -> list[dict[str, Any]]:
    """Cases whose current step waits for a reviewer at this node's level, one row per
    department waited for (`waiting_department`): by department, red then yellow cards
    first, oldest first within a colour."""
    card_expr, params = cases.card_sql(node, today)
    params["level"] = node.level
    where = "w.level = :level" + (" AND w.department = :department" if department else "")
    params["department"] = department
    cur = node.store.conn.execute(
        f"SELECT c.*, w.department AS waiting_department, {card_expr} AS card"
        f" FROM case_waits w JOIN cases c USING (case_id) WHERE {where}"
        " ORDER BY w.department, CASE card WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END,"
        " c.accepted_at, c.case_id", params)
    cols = [d[0] for d in cur.description]
    return cases.annotated(node, [dict(zip(cols, r)) for r in cur], today)


def clerk_inbox(node: Node, clerk_id: str, department: str = "", today: date | None = None
                ) -> dict[str, list[dict[str, Any]]]:
    """`inbox` by the departments a clerk holds a role in, each of them (one with nothing
    waiting too), in `inbox`'s order; `department`: that one alone, which they must hold.
    Each row has the decisions its step has so far (`decided`)."""
    clerk = clerks.get(node, clerk_id)
    if department:
        clerks.require_role(clerk, department)
    held = [department] if department else sorted(r for r in clerk["roles"] if r in clerks.DEPARTMENTS)
    rows = decided(node, [r for r in inbox(node, department, today) if r["waiting_department"] in held])
    return {d: [r for r in rows if r["waiting_department"] == d] for d in held}


def decided(node: Node, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Case rows with `decided`: the approvals of their current step so far (department,
    clerk, the clerk's name when this node knows them, node, time), in the order written.
    A step of several reviewers (a parallel step) waits for the rest (`waiting_for`)."""
    ids = list(dict.fromkeys(r["case_id"] for r in rows))
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        cur = node.store.conn.execute(
            f"SELECT e.case_id, e.department, e.actor, {name_sql('e.actor', 'e.node')} AS actor_name, e.node, e.at"
            " FROM case_events e JOIN cases c USING (case_id) WHERE e.action = 'approve' AND e.conflict = 0"
            f" AND e.step = c.step AND e.case_id IN ({','.join(f':c{i}' for i in range(len(ids)))})"
            " ORDER BY e.case_id, e.idx", {"me": node.node_id, **{f"c{i}": v for i, v in enumerate(ids)}})
        cols = [d[0] for d in cur.description]
        for r in cur:
            found[r[0]].append(dict(zip(cols, r)))
    return [{**r, "decided": found[r["case_id"]]} for r in rows]
