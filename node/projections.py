"""Projections: plain SQL tables derived from the documents, for lists, filters and reports.

Each row is a pure function of one document (plus, for a case, the catalog version it was
accepted under and the working-day calendar). `refresh` rewrites the rows of one document
inside the caller's transaction; `rebuild` drops every row and recomputes all of them, and
must reproduce exactly what the incremental path wrote. Nothing else writes these tables.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Iterable

from yimen.schema import case as lifecycle
from yimen.schema.calendar import WorkCalendar
from yimen.schema.catalog import CatalogItem
from yimen.schema.errors import YimenError
from yimen.sync.docs import Doc
from yimen.sync.store import Store

log = logging.getLogger("yimen.projections")
PROJECTION_TABLES = ("catalog_items", "catalog_versions", "cases", "case_events", "projection_waiting")

CASE_COLUMNS = (
    "case_id", "scope", "item_code", "item_version", "item_name", "department",
    "applicant_id", "applicant_name", "status", "step", "node", "accepted_at",
    "accepted_date", "accepted_by", "deadline", "time_limit_days", "deferred_open",
    "deferred_due", "conflicts", "last_action", "last_at", "closed_at",
)
EVENT_COLUMNS = (
    "case_id", "idx", "action", "actor", "role", "node", "at", "reason", "step",
    "department", "material", "conflict",
)
ITEM_COLUMNS = (
    "code", "version", "name", "department", "status", "accept_level", "time_limit_days",
    "immediate", "fee", "effective_date", "scope", "definition",
)


@lru_cache(maxsize=1024)
def parse_definition(text: str) -> CatalogItem:
    """A stored item definition, parsed and validated once (a stored text never changes)."""
    return CatalogItem.from_dict(json.loads(text))


# -- pure row functions ------------------------------------------------------------------
def item_versions(value: dict[str, Any]) -> list[CatalogItem]:
    """All versions held by a catalog_item document, oldest first."""
    versions = value.get("versions", {})
    return [CatalogItem.from_dict(versions[k]) for k in sorted(versions, key=int)]


def catalog_rows(doc: Doc) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items = item_versions(doc.value())
    cur = items[-1]
    definition = {i.version: json.dumps(i.to_dict(), ensure_ascii=False, sort_keys=True) for i in items}
    row = {
        "code": cur.code, "version": cur.version, "name": cur.name, "department": cur.department,
        "status": cur.status, "accept_level": cur.accept_level,
        "time_limit_days": cur.time_limit_days, "immediate": int(cur.immediate), "fee": cur.fee,
        "effective_date": cur.effective_date, "scope": doc.scope,
        "definition": definition[cur.version],
    }
    versions = [{"code": i.code, "version": i.version, "definition": definition[i.version]} for i in items]
    return row, versions


def case_events(value: dict[str, Any]) -> list[lifecycle.Event]:
    return [lifecycle.Event.from_dict(e) for e in value.get("history", [])]


def deferred_materials(value: dict[str, Any]) -> dict[str, str]:
    """Materials accepted with a commitment: name -> due date."""
    return {n: m.get("due") or "" for n, m in value.get("materials", {}).items() if m.get("status") == "deferred"}


def case_rows(value: dict[str, Any], item: CatalogItem, calendar: WorkCalendar
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `cases` row and `case_events` rows of one case document."""
    info, history = value["case"], case_events(value)
    deferred = deferred_materials(value)
    state = lifecycle.replay(history, item, deferred)
    conflicts = set(state.conflicts)
    accept = next((e for i, e in enumerate(history) if e.action == "accept" and i not in conflicts), None)
    accepted_date = accept.at[:10] if accept else None
    deadline = None
    if accepted_date and not item.immediate:
        deadline = calendar.add_working_days(date.fromisoformat(accepted_date), item.time_limit_days).isoformat()
    open_due = [deferred[m] for m in state.deferred_open if deferred[m]]
    last = history[-1] if history else None
    row = {
        "case_id": info["case_id"], "scope": value["meta"]["scope"], "item_code": item.code,
        "item_version": item.version, "item_name": item.name, "department": item.department,
        "applicant_id": info["applicant_id"], "applicant_name": info["applicant_name"],
        "status": state.status, "step": state.step, "node": info["node"],
        "accepted_at": accept.at if accept else None, "accepted_date": accepted_date,
        "accepted_by": accept.actor if accept else (history[0].actor if history else None),
        "deadline": deadline, "time_limit_days": item.time_limit_days,
        "deferred_open": len(state.deferred_open), "deferred_due": min(open_due) if open_due else None,
        "conflicts": len(conflicts), "last_action": last.action if last else None,
        "last_at": last.at if last else None, "closed_at": state.closed_at,
    }
    events = [
        {"case_id": info["case_id"], "idx": i, **{k: getattr(e, k) for k in EVENT_COLUMNS[2:-1]},
         "conflict": int(i in conflicts)}
        for i, e in enumerate(history)
    ]
    return row, events


# -- writing -----------------------------------------------------------------------------
def _insert(store: Store, table: str, columns: Iterable[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = tuple(columns)
    sql = f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    store.conn.executemany(sql, map(itemgetter(*cols), rows))


def item_at(store: Store, code: str, version: int) -> CatalogItem:
    row = store.conn.execute(
        "SELECT definition FROM catalog_versions WHERE code = ? AND version = ?", (code, version)
    ).fetchone()
    if row is None:
        raise LookupError(f"catalog item {code} version {version} is not on this node")
    return parse_definition(row[0])


ItemLookup = Callable[[str, int], CatalogItem]
_ORDER = {"catalog_item": 0, "node": 1, "case": 2}


def refresh(store: Store, doc: Doc, calendar: WorkCalendar, lookup: ItemLookup | None = None,
            new: bool = False) -> dict[str, Any] | None:
    """Rewrite the projection rows of one document (inside the caller's transaction).

    A case that arrived before the catalog version it was accepted under (possible when
    replicas meet out of order) waits in `projection_waiting` and is projected as soon as
    that catalog item arrives. `new` says the document has no rows yet. Returns a case's
    `cases` row."""
    value = doc.value()
    if doc.kind == "catalog_item":
        try:
            row, versions = catalog_rows(doc)
        except (KeyError, TypeError, ValueError, IndexError, YimenError):
            row = versions = None
        if row is None or doc.doc_id != f"item:{row['code']}":
            return _unreadable(store, doc, new)
        _insert(store, "catalog_items", ITEM_COLUMNS, [row])
        _insert(store, "catalog_versions", ("code", "version", "definition"), versions)
        waiting = store.conn.execute(
            "SELECT doc_id FROM projection_waiting WHERE item_code = ?", (row["code"],)).fetchall()
        for (doc_id,) in waiting:
            store.conn.execute("DELETE FROM projection_waiting WHERE doc_id = ?", (doc_id,))
            refresh(store, store.get(doc_id), calendar)
    elif doc.kind == "case":
        got = _case_projection(store, doc, value, calendar, lookup or (lambda c, v: item_at(store, c, v)), new)
        if got is not None:
            _write_cases(store, [got], new)
            return got[0]
    return None


def refresh_many(store: Store, docs: list[Doc], calendar: WorkCalendar) -> None:
    """`refresh` for documents that just moved (catalog items first: a case's rows need the
    item version it was accepted under); cases' rows go in one statement per table, and
    each item version is read once."""
    items: dict[tuple[str, int], CatalogItem] = {}

    def lookup(code: str, version: int) -> CatalogItem:
        if (code, version) not in items:
            items[code, version] = item_at(store, code, version)
        return items[code, version]

    cases: dict[bool, list] = {True: [], False: []}  # new documents' rows, and others'
    for doc in sorted(docs, key=lambda d: _ORDER.get(d.kind, 9)):
        if doc.kind == "case":
            got = _case_projection(store, doc, doc.value(), calendar, lookup, doc.fresh)
            cases[doc.fresh] += [got] if got is not None else []
        else:
            refresh(store, doc, calendar, new=doc.fresh)
    for new, projected in cases.items():
        _write_cases(store, projected, new)


def _case_projection(store: Store, doc: Doc, value: dict[str, Any], calendar: WorkCalendar,
                     lookup: ItemLookup, new: bool) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A case's rows, or None when it waits for its item version or is unreadable."""
    try:
        info = value["case"]
        code, version = info["item_code"], info["item_version"]
    except (KeyError, TypeError):
        return _unreadable(store, doc, new)
    if info.get("case_id") != doc.doc_id:  # a row may only describe its own document
        return _unreadable(store, doc, new)
    try:
        item = lookup(code, version)
    except LookupError:
        store.conn.execute("INSERT OR REPLACE INTO projection_waiting VALUES (?, ?, ?)",
                           (doc.doc_id, code, version))
        return None
    try:
        return case_rows(value, item, calendar)
    except (KeyError, TypeError, ValueError, AttributeError):
        return _unreadable(store, doc, new)


def _write_cases(store: Store, projected: list[tuple[dict[str, Any], list[dict[str, Any]]]], new: bool) -> None:
    if not new:
        store.conn.executemany("DELETE FROM case_events WHERE case_id = ?", [(r["case_id"],) for r, _ in projected])
    _insert(store, "cases", CASE_COLUMNS, [r for r, _ in projected])
    _insert(store, "case_events", EVENT_COLUMNS, [e for _, events in projected for e in events])


def _unreadable(store: Store, doc: Doc, new: bool) -> None:
    """A document that does not read as its kind (a faulty or hostile author signed it):
    it is kept, replicated and reconciled like any other, but has no rows, so one bad
    document never stops a sync or a rebuild, nor overwrites another document's rows."""
    log.warning("%s document %s is malformed; it is kept but not listed", doc.kind, doc.doc_id)
    if new:
        return None
    if doc.kind == "case":
        store.conn.execute("DELETE FROM cases WHERE case_id = ?", (doc.doc_id,))
        store.conn.execute("DELETE FROM case_events WHERE case_id = ?", (doc.doc_id,))
    elif doc.kind == "catalog_item":
        for table in ("catalog_items", "catalog_versions"):
            store.conn.execute(f"DELETE FROM {table} WHERE code = ?", (doc.doc_id.removeprefix("item:"),))
    return None


def rebuild(store: Store, calendar: WorkCalendar,
            progress: Callable[[str, int, int], None] = lambda stage, done, total: None) -> int:
    """Drop every projection row and recompute them all from the documents, in one
    transaction, reporting stage "rebuild". Catalog items first, since cases look up their
    item version."""
    n = 0
    with store.transaction():
        total = store.count("catalog_item") + store.count("case")
        for table in PROJECTION_TABLES:
            store.conn.execute(f"DELETE FROM {table}")
        for kind in ("catalog_item", "case"):
            for doc in store.docs(kind):
                refresh(store, doc, calendar)
                n += 1
                progress("rebuild", n, total)
    return n


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every projection row, ordered: used to compare a rebuild with the live tables."""
    out = {}
    for table in PROJECTION_TABLES:
        out[table] = store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    return out
