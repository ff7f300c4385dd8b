"""Lists of cases: the filters of `yimen case list` (and its search by applicant), pages,
counts, and what each listed case waits for. Reads only the projections."""

from __future__ import annotations

from datetime import date
from itertools import islice
from typing import Any, Iterator

from yimen.node.home import Node
from yimen.node.services import clerks
from yimen.node.services.cases import OPEN_STATUSES, annotated, card_sql
from yimen.schema.idnumber import parse_id_tail, validate_id_number


CASE_FILTERS = ("status", "card", "item", "clerk", "date_from", "date_to", "name", "id_number", "id_tail",
                "conflicts")


def _case_filter(node: Node, today: date | None, status: str = "", card: str = "", item: str = "",
                 clerk: str = "", date_from: str = "", date_to: str = "", name: str = "",
                 id_number: str = "", id_tail: str = "", conflicts: bool = False) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (possibly empty) and parameters of a case list's filters. An ID
    number is normalized as `accept` stores it (a 15-digit one becomes 18); an ID or tail
    is found through the index on its last four characters (see `storage`); `conflicts`:
    only cases with a flagged event not yet reviewed."""
    card_expr, params = card_sql(node, today)
    where = ["conflicts_open > 0"] if conflicts else []
    for col, val in (("status", status), ("item_code", item), ("accepted_by", clerk),
                     ("applicant_name", name.strip())):
        if val:
            where.append(f"{col} = :{col}")
            params[col] = val
    if date_from:
        where.append("accepted_date >= :date_from")
        params["date_from"] = date_from
    if date_to:
        where.append("accepted_date <= :date_to")
        params["date_to"] = date_to
    if id_number:
        number = validate_id_number(id_number, today=node.clock().date())
        where.append("substr(applicant_id, -4) = :id4 AND applicant_id = :applicant_id")
        params.update(id4=number[-4:], applicant_id=number)
    if id_tail:
        tail = parse_id_tail(id_tail)
        where.append("substr(applicant_id, -4) = :tail4 AND substr(applicant_id, -length(:tail)) = :tail")
        params.update(tail4=tail[-4:], tail=tail)
    if card == "red":
        where.append("deadline < :today")
    elif card == "yellow":
        where.append("deadline >= :today AND deadline <= :yellow_until")
    elif card == "green":
        where.append("deadline > :yellow_until")
    if card:
        where.append("paused_since IS NOT NULL" if card == "paused" else "paused_since IS NULL")
        where.append("status IN ('" + "','".join(OPEN_STATUSES) + "')")
    return (" WHERE " + " AND ".join(where) if where else ""), {**params, "me": node.node_id}


def iter_cases(node: Node, limit: int | None = 100, page: int = 1, today: date | None = None,
               **filters: str) -> Iterator[dict[str, Any]]:
    """Cases matching `filters` (see `CASE_FILTERS`), newest first (by receipt number, so
    pages are stable), `limit` to a page (None: every one), with the card colour and the
    accepting clerk's name when this node knows them."""
    card_expr, _ = card_sql(node, today)
    where, params = _case_filter(node, today, **filters)
    # pick the ids from an index first, then read only those rows
    ids = f"SELECT case_id FROM cases{where} ORDER BY case_id DESC"
    if limit is not None:
        ids += " LIMIT :limit OFFSET :offset"
        params.update(limit=limit, offset=min((max(page, 1) - 1) * limit, 2**62))  # past the end, not past SQLite's integers
    cur = node.store.conn.execute(
        f"SELECT *, {card_expr} AS card, {clerks.name_sql('accepted_by', 'node')} AS accepted_by_name"
        f" FROM cases WHERE case_id IN ({ids}) ORDER BY case_id DESC", params)
    cols = [d[0] for d in cur.description]
    rows = (dict(zip(cols, r)) for r in cur)
    for chunk in iter(lambda: list(islice(rows, 500)), []):  # what each waits for, 500 cases a query
        yield from annotated(node, chunk, today)


def list_cases(node: Node, limit: int | None = 100, page: int = 1, today: date | None = None,
               **filters: str) -> list[dict[str, Any]]:
    """One page of `iter_cases`, as a list."""
    return list(iter_cases(node, limit, page, today, **filters))


def count_cases(node: Node, today: date | None = None, **filters: str) -> int:
    """How many cases match `filters` (what a cut list says it holds in all)."""
    where, params = _case_filter(node, today, **filters)
    return node.store.conn.execute(f"SELECT count(*) FROM cases{where}", params).fetchone()[0]
