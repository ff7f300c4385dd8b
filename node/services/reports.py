"""Supervision reports: the cases counted by status and by card, cases near or past their
limit, and the weekly refusal report (every Friday to the supervision office, 监审办) by
the three refusal kinds."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from yimen.node.services.cases import CARDS, OPEN_STATUSES, card_sql
from yimen.node.services.clerks import name_sql
from yimen.node.home import Node
from yimen.schema.case import REFUSALS, STATUSES



def counts(node: Node, today: date | None = None) -> dict[str, dict[str, int]]:
    """How many cases this node lists in each status (`status`: every status, in lifecycle
    order; "new" only if a case has it) and how many open ones hold each card colour (`card`)."""
    card_expr, params = card_sql(node, today)
    by_status = dict(node.store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status"))
    open_list = "','".join(OPEN_STATUSES)
    by_card = dict(node.store.conn.execute(
        f"SELECT {card_expr} AS card, count(*) FROM cases WHERE status IN ('{open_list}') GROUP BY card", params))
    return {"status": {s: by_status.get(s, 0) for s in STATUSES if s != "new" or s in by_status},
            "card": {c: by_card.get(c, 0) for c in CARDS}}


def overdue(node: Node, today: date | None = None, limit: int = -1) -> list[dict[str, Any]]:
    """Open cases with a red or yellow card, most overdue first (`kind` "case"), then each
    deferred material of an open case past the date promised for it (`kind` "material",
    with `material` and its `material_due`), the longest overdue first; with the accepting
    clerk's name when this node knows them. `limit`: at most that many of each kind (the
    most urgent; -1: all)."""
    card_expr, params = card_sql(node, today)
    params.update(me=node.node_id, limit=limit)
    open_list = "','".join(OPEN_STATUSES)
    cols = (f"case_id, item_code, item_name, applicant_name, status, accepted_by,"
            f" {name_sql('accepted_by', 'node')} AS accepted_by_name, accepted_date, deadline,"
            f" deadline_provisional, {card_expr} AS card")
    cur = node.store.conn.execute(
        f"SELECT 'case' AS kind, {cols} FROM cases"
        f" WHERE +status IN ('{open_list}') AND deadline <= :yellow_until AND paused_since IS NULL"
        " ORDER BY deadline, case_id LIMIT :limit",  # +status: walk the deadline index, the most urgent first
        params,
    )
    names = [d[0] for d in cur.description]
    rows = [{**dict(zip(names, r)), "material": None, "material_due": None} for r in cur]
    cur = node.store.conn.execute(
        f"SELECT 'material' AS kind, {cols}, deferred_list FROM cases WHERE deferred_due IS NOT NULL"
        f" AND deferred_due < :today AND +status IN ('{open_list}') ORDER BY deferred_due, case_id LIMIT :limit",
        params)  # each case's earliest due first: the `limit` earliest materials are in the first `limit` cases
    late = []
    for r in cur:
        case = dict(zip(names, r))
        late += [{**case, "material": name, "material_due": due}
                 for name, due in json.loads(r[-1]) if due < params["today"]]
    late.sort(key=lambda r: (r["material_due"], r["case_id"], r["material"]))
    return rows + (late[:limit] if limit >= 0 else late)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def refusals(node: Node, day: date | None = None) -> dict[str, Any]:
    """Refusals recorded during the week of `day` (default: this week), with the clerk's
    name when this node knows them."""
    monday, sunday = week_of(day or node.clock().date())
    kinds = "','".join(REFUSALS)
    cur = node.store.conn.execute(
        "SELECT e.at, e.action AS kind, e.case_id, c.item_code, c.item_name, c.applicant_name,"
        f" e.actor, {name_sql('e.actor', 'e.node')} AS actor_name, e.node, e.reason"
        " FROM case_events e JOIN cases c USING (case_id)"
        f" WHERE e.action IN ('{kinds}') AND e.conflict = 0 AND e.at >= :start AND e.at < :end"
        " ORDER BY e.at, e.case_id",
        {"start": monday.isoformat(), "end": (sunday + timedelta(days=1)).isoformat(), "me": node.node_id},
    )
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur]
    counts = {k: sum(1 for r in rows if r["kind"] == k) for k in REFUSALS}
    return {"week_start": monday.isoformat(), "week_end": sunday.isoformat(),
            "node": node.node_id, "counts": counts, "total": len(rows), "rows": rows}

