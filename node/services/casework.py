"""A clerk's work beside the window: the inbox (cases whose current step waits for this
node's level) and the review of flagged events (冲突核查).

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
                         reason=resolution.strip(), target=entry_ids(doc, "history")[i])
    refused = lifecycle.review_refusal(state, ev, i, len(history))
    if refused:
        raise ReviewRefused(*refused)
    with node.store.transaction():
        doc.append("history", ev.to_dict())
        node.store.save(doc, node.node_id)
        cases._listed(refresh(node.store, doc, node.calendar, lambda *_: item))
        audit.record(node, "review", clerk["clerk_id"], case_id, value["case"].get("applicant_id"), event=event_no)
    return cases.get_row(node, case_id)


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
