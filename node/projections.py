"""Projections: plain SQL tables derived from the documents, for lists, filters and reports.

Each row is a pure function of one document (plus, for a case, the catalog version it was accepted
under, the working-day calendar, and which node signed each part of it). `refresh` rewrites the
rows of one document inside the caller's transaction; `rebuild` drops every row and recomputes all
of them, and must reproduce exactly what the incremental path wrote. Nothing else writes these
tables.

What a document is comes from verified metadata, never from its body: a row's id, scope and kind
are the document row's, a case's node is the owner its id names (`visibility.owner`), and which
node wrote each part of a case is read from the signers of its Loro peers
(`projection_rules.forgeries`): a history event not written by the node it names is kept in
`case_events`, flagged as a conflict and not applied, like an event that lost a merge. A review
event resolves a flagged one (`resolves` / `resolved_by`; `cases.conflicts_open` counts the
unresolved), and `case_waits` holds one row per reviewer a case in review waits for (the inbox):
both derived by replaying the history.

A document that cannot be projected (not of its kind's shape, a value of the wrong type or absurd
size, content written by another node than its owner) is kept and replicated like any other but
listed nowhere: it has no rows but one in `projection_refused` (id, kind, scope, reason) for the
admin. Every value is checked before SQLite is asked to bind it (`projection_rules.invalid`), so
nothing one document holds stops a sync, an apply or a rebuild.

Catalog items: one code may be published at several levels (see `visibility`), each publication its
own document with its own rows (`catalog_items` and `catalog_versions` are keyed by publisher and
code); which one a node uses is decided where the node reads its catalog (`services.catalog`), not
here, so every row stays a function of one document. A case names the publisher of the item version
it was accepted under. My Space's kinds and ratings have modules of their own (`BESIDE`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Iterable

from yimen.schema import case as lifecycle
from yimen.schema.calendar import WorkCalendar
from yimen.schema.catalog import CatalogItem
from yimen.node.projection_rules import (CASE_COLUMNS, CASE_SPEC, EVENT_COLUMNS, EVENT_FIELDS, EVENT_SPEC,
                                         ITEM_COLUMNS, ITEM_REF, ITEM_SPEC, VERSION_SPEC, WAIT_COLUMNS, WAIT_SPEC,
                                         Authors, Unprojectable, checked, forgeries, invalid, short)
from yimen.node import rating_projections, space_projections
from yimen.sync.docs import Doc, entry_ids, peers
from yimen.sync.store import Store
from yimen.sync.visibility import owner

log = logging.getLogger("yimen.projections")
CALENDAR_META = "projections_calendar"  # digest of the calendar the deadlines were counted with
PROJECTION_TABLES = ("catalog_items", "catalog_versions", "cases", "case_events", "case_waits",
                     "projection_waiting", "projection_refused", *space_projections.SPACE_TABLES, "ratings")

@lru_cache(maxsize=1024)
def parse_definition(text: str, publisher: str = "") -> CatalogItem:
    """A stored item definition of `publisher`'s, parsed and validated once (a stored text
    never changes)."""
    return replace(CatalogItem.from_dict(json.loads(text)), publisher=publisher)


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
    versions = [{"scope": doc.scope, "code": i.code, "version": i.version, "definition": definition[i.version]}
                for i in items]
    return row, versions


def case_events(value: dict[str, Any]) -> list[lifecycle.Event]:
    return [lifecycle.Event.from_dict(e) for e in value.get("history", [])]


def deferred_materials(value: dict[str, Any]) -> dict[str, str]:
    """Materials accepted with a commitment: name -> due date."""
    return {n: m.get("due") or "" for n, m in value.get("materials", {}).items() if m.get("status") == "deferred"}


def case_rows(doc: Doc, value: dict[str, Any], item: CatalogItem, calendar: WorkCalendar,
              forged: frozenset[int] = frozenset()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `cases` row and `case_events` rows of one case document (`value` is its body).
    Events at the indexes `forged` are flagged and not applied (see the module docstring).
    The row also carries `waiting_for` (not a column: the `case_waits` rows)."""
    info, history = value["case"], case_events(value)
    deferred = deferred_materials(value)
    state = _replay(doc, history, item, deferred, forged)
    conflicts = set(state.conflicts)
    accept = next((e for i, e in enumerate(history) if e.action == "accept" and i not in conflicts), None)
    accepted_date = accept.at[:10] if accept else None
    clock = lifecycle.clock(state, item, calendar)
    open_due = [deferred[m] for m in state.deferred_open if deferred[m]]
    last = history[-1] if history else None
    row = {
        "case_id": doc.doc_id, "scope": doc.scope, "item_code": item.code,
        "item_version": item.version, "item_name": item.name, "department": item.department,
        "applicant_id": info["applicant_id"], "applicant_name": info["applicant_name"],
        "status": state.status, "step": state.step, "node": owner(doc.doc_id, doc.kind),
        "accepted_at": accept.at if accept else None, "accepted_date": accepted_date,
        "accepted_by": accept.actor if accept else (history[0].actor if history else None),
        "deadline": clock.deadline and clock.deadline.isoformat(), "time_limit_days": item.time_limit_days,
        "deferred_open": len(state.deferred_open), "deferred_due": min(open_due) if open_due else None,
        # the outstanding deferred materials with their promised dates, for `report overdue`
        "deferred_list": json.dumps(sorted((m, deferred[m]) for m in state.deferred_open if deferred[m]),
                                    ensure_ascii=False) if open_due else None,
        "conflicts": len(conflicts), "last_action": last.action if last else None,
        "last_at": last.at if last else None, "closed_at": state.closed_at,
        "paused_days": clock.paused_days, "paused_since": clock.paused_since and clock.paused_since.isoformat(),
        "deadline_provisional": int(clock.provisional),
        "conflicts_open": len(state.open_conflicts),
        "waiting_for": [{"level": lvl, "department": d} for lvl, d in lifecycle.waiting_for(state, item)],
    }
    resolves = dict((review, flagged) for flagged, review in state.resolved)
    resolved_by = dict(state.resolved)
    events = [
        {"case_id": doc.doc_id, "idx": i, **{k: getattr(e, k) for k in EVENT_FIELDS},
         "conflict": int(i in conflicts), "resolves": resolves.get(i), "resolved_by": resolved_by.get(i)}
        for i, e in enumerate(history)
    ]
    return row, events


def _replay(doc: Doc, history: list[lifecycle.Event], item: CatalogItem, deferred: dict[str, str],
            forged: frozenset[int]) -> lifecycle.CaseState:
    """The state of a history replayed with its `forged` events flagged. The entries'
    stable references are read only when a review needs them (most cases have none)."""
    refs = entry_ids(doc, "history") if any(e.action == "review" for e in history) else ()
    return lifecycle.replay(history, item, deferred, forged, refs)


def case_state(store: Store, doc: Doc, value: dict[str, Any], item: CatalogItem) -> lifecycle.CaseState:
    """A case's state as its rows show it: its history replayed without the events that
    are not the named node's (what a clerk's next action is checked against). Raises
    Unprojectable if the case's content is not its owner's (it is listed nowhere)."""
    history = value.get("history", [])
    forged = forgeries(doc, history, store.keys.owners(peers(doc)))
    return _replay(doc, case_events(value), item, deferred_materials(value), forged)


def material_states(value: dict[str, Any], history: list[lifecycle.Event], state: lifecycle.CaseState,
                    today: str) -> dict[str, dict[str, Any]]:
    """The materials as the history leaves them: a deferred material whose delivery was
    applied is `delivered` (with `delivered_at`); one still outstanding in an open case past
    its due date is `overdue`. (The materials map records acceptance only; only its owner
    writes it, while deliveries are events any replica may merge.)"""
    flagged = set(state.conflicts)
    delivered = {e.material: e.at for i, e in enumerate(history) if e.action == "deliver" and i not in flagged}
    out = {}
    for name, m in value.get("materials", {}).items():
        m = dict(m)
        if m.get("status") == "deferred" and name not in state.deferred_open and name in delivered:
            m.update(status="delivered", delivered_at=delivered[name])
        elif m.get("status") == "deferred":
            m["overdue"] = bool(state.is_open and m.get("due") and m["due"] < today)
        out[name] = m
    return out


# -- writing -----------------------------------------------------------------------------
def _insert(store: Store, table: str, columns: Iterable[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = tuple(columns)
    sql = f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    store.conn.executemany(sql, map(itemgetter(*cols), rows))


def item_at(store: Store, publisher: str, code: str, version: int) -> CatalogItem:
    """Version `version` of item `code` as `publisher` published it."""
    row = store.conn.execute(
        "SELECT definition FROM catalog_versions WHERE scope = ? AND code = ? AND version = ?",
        (publisher, code, version)).fetchone()
    if row is None:
        raise LookupError(f"catalog item {code} version {version} of {publisher} is not on this node")
    return parse_definition(row[0], publisher)


ItemLookup = Callable[[str, str, int], CatalogItem]  # (publisher, code, version)
_ORDER = {"catalog_item": 0, "node": 1, "case": 2}
# kinds whose rows a module of their own derives (its `refresh`, `drop` and `rebuild`)
BESIDE = {"space_doc": space_projections, "consent": space_projections, "node": space_projections,
          "rating": rating_projections}
Projected = tuple[dict[str, Any], list[dict[str, Any]]]


def refresh(store: Store, doc: Doc, calendar: WorkCalendar, lookup: ItemLookup | None = None,
            new: bool = False) -> dict[str, Any] | None:
    """Rewrite the projection rows of one document (inside the caller's transaction).

    A case that arrived before the catalog version it was accepted under (possible when
    replicas meet out of order) waits in `projection_waiting` and is projected as soon as
    that catalog item arrives. `new` says the document has no rows yet. Returns a case's
    `cases` row (None when it is not listed)."""
    if doc.kind == "catalog_item":
        _refresh_item(store, doc, calendar, new)
    elif doc.kind in BESIDE:
        BESIDE[doc.kind].refresh(store, doc, new, _refuse, _insert)
    elif doc.kind == "case":
        authors = store.keys.owners(peers(doc))
        got = _case_projection(store, doc, doc.value(), calendar, lookup or (lambda p, c, v: item_at(store, p, c, v)),
                               new, authors)
        if got is not None:
            _write_cases(store, [got], new)
            return got[0]
    return None


def _refresh_item(store: Store, doc: Doc, calendar: WorkCalendar, new: bool) -> None:
    try:
        row, versions = catalog_rows(doc)
        if doc.doc_id != f"item:{doc.scope}:{row['code']}":
            raise Unprojectable(f"catalog item {row['code']!r} is not the item its id names")
        checked([row], ITEM_SPEC)
        checked(versions, VERSION_SPEC)
    except Exception as e:  # noqa: BLE001 (pure functions of a body anyone may have written)
        return _refuse(store, doc, new, e)
    if not new:
        _unrefuse(store, [(doc.doc_id,)])
    _insert(store, "catalog_items", ITEM_COLUMNS, [row])
    _insert(store, "catalog_versions", ("scope", "code", "version", "definition"), versions)
    waiting = store.conn.execute("SELECT doc_id FROM projection_waiting WHERE item_publisher = ? AND item_code = ?",
                                 (doc.scope, row["code"])).fetchall()
    for (doc_id,) in waiting:
        store.conn.execute("DELETE FROM projection_waiting WHERE doc_id = ?", (doc_id,))
        refresh(store, store.get(doc_id), calendar)


def refresh_many(store: Store, docs: list[Doc], calendar: WorkCalendar) -> None:
    """`refresh` for documents that just moved (catalog items first: a case's rows need the
    item version it was accepted under); cases' rows go in one statement per table, each
    item version is read once, and the signers of every case's peers in one pass."""
    items: dict[tuple[str, str, int], CatalogItem] = {}

    def lookup(publisher: str, code: str, version: int) -> CatalogItem:
        if (publisher, code, version) not in items:
            items[publisher, code, version] = item_at(store, publisher, code, version)
        return items[publisher, code, version]

    case_peers = {d.doc_id: peers(d) for d in docs if d.kind == "case"}
    authors = store.keys.owners(p for ps in case_peers.values() for p in ps)
    cases: dict[bool, list] = {True: [], False: []}  # new documents' rows, and others'
    for doc in sorted(docs, key=lambda d: _ORDER.get(d.kind, 9)):
        if doc.kind == "case":
            mine = {p: authors[p] for p in case_peers[doc.doc_id]}
            got = _case_projection(store, doc, doc.value(), calendar, lookup, doc.fresh, mine)
            cases[doc.fresh] += [got] if got is not None else []
        else:
            refresh(store, doc, calendar, new=doc.fresh)
    for new, projected in cases.items():
        _write_cases(store, projected, new)


def _case_projection(store: Store, doc: Doc, value: dict[str, Any], calendar: WorkCalendar,
                     lookup: ItemLookup, new: bool, authors: Authors) -> Projected | None:
    """A case's rows, checked to bind; None when it waits for its item version or is
    refused (then recorded as such)."""
    try:
        info = value["case"]
        if owner(doc.doc_id, doc.kind) is None:
            raise Unprojectable(f"case id {doc.doc_id!r} names no node")
        if info.get("case_id") != doc.doc_id:  # a body may only describe its own document
            raise Unprojectable(f"the case's body describes {short(info.get('case_id'))}")
        publisher, code, version = info["item_publisher"], info["item_code"], info["item_version"]
        reason = invalid({"item_publisher": publisher, "item_code": code, "item_version": version}, ITEM_REF)
        if reason is not None:
            raise Unprojectable(reason)
    except (KeyError, TypeError, AttributeError, Unprojectable) as e:
        return _refuse(store, doc, new, e)
    try:
        item = lookup(publisher, code, version)
    except LookupError:
        store.conn.execute("INSERT OR REPLACE INTO projection_waiting (doc_id, item_code, item_version,"
                           " item_publisher) VALUES (?, ?, ?, ?)", (doc.doc_id, code, version, publisher))
        return None
    try:
        forged = forgeries(doc, value.get("history", []), authors)
        row, events = case_rows(doc, value, item, calendar, forged)
        checked([row], CASE_SPEC)
        checked(events, EVENT_SPEC)
        checked(_waits(row), WAIT_SPEC)
    except Exception as e:  # noqa: BLE001 (pure functions of a body anyone may have written)
        return _refuse(store, doc, new, e)
    if forged:
        log.info("case %s holds %d event(s) not signed by the node they name; flagged", doc.doc_id, len(forged))
    return row, events


def _write_cases(store: Store, projected: list[Projected], new: bool) -> None:
    ids = [(r["case_id"],) for r, _ in projected]
    if not new:
        store.conn.executemany("DELETE FROM case_events WHERE case_id = ?", ids)
        store.conn.executemany("DELETE FROM case_waits WHERE case_id = ?", ids)
        _unrefuse(store, ids)
    _insert(store, "cases", CASE_COLUMNS, [r for r, _ in projected])
    _insert(store, "case_events", EVENT_COLUMNS, [e for _, events in projected for e in events])
    _insert(store, "case_waits", WAIT_COLUMNS, [w for r, _ in projected for w in _waits(r)])


def _waits(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The `case_waits` rows of a case row: one per reviewer it waits for."""
    return [{"case_id": row["case_id"], **w} for w in row["waiting_for"]]


def _unrefuse(store: Store, ids: list[tuple[str]]) -> None:
    """Documents listed again (a later change made them readable) are no longer refused.
    (Mostly none is: one read spares a delete per document.)"""
    if store.conn.execute("SELECT 1 FROM projection_refused LIMIT 1").fetchone():
        store.conn.executemany("DELETE FROM projection_refused WHERE doc_id = ?", ids)


def _refuse(store: Store, doc: Doc, new: bool, error: Exception) -> None:
    """A document that cannot be projected (a faulty or hostile author signed it): it is
    kept, replicated and reconciled like any other, but has no rows, so one bad document
    never stops a sync or a rebuild, nor overwrites another document's rows. It is
    recorded once in `projection_refused` for the admin (logged when first refused)."""
    reason = f"{type(error).__name__}: {error}" if not isinstance(error, Unprojectable) else str(error)
    reason = reason if len(reason) <= 500 else reason[:497] + "..."
    held = store.conn.execute("SELECT reason FROM projection_refused WHERE doc_id = ?", (doc.doc_id,)).fetchone()
    if held is None or held[0] != reason:
        log.warning("%s document %s cannot be listed (%s); it is kept, and shown in quarantine",
                    doc.kind, doc.doc_id, reason)
        store.conn.execute("INSERT OR REPLACE INTO projection_refused VALUES (?, ?, ?, ?)",
                           (doc.doc_id, doc.kind, doc.scope, reason))
    if new:
        return None
    if doc.kind == "case":
        store.conn.execute("DELETE FROM cases WHERE case_id = ?", (doc.doc_id,))
        store.conn.execute("DELETE FROM case_events WHERE case_id = ?", (doc.doc_id,))
        store.conn.execute("DELETE FROM case_waits WHERE case_id = ?", (doc.doc_id,))
        store.conn.execute("DELETE FROM projection_waiting WHERE doc_id = ?", (doc.doc_id,))
    elif doc.kind in BESIDE:
        BESIDE[doc.kind].drop(store, doc.doc_id)
    elif doc.kind == "catalog_item":
        code = doc.doc_id.removeprefix(f"item:{doc.scope}:")
        for table in ("catalog_items", "catalog_versions"):
            store.conn.execute(f"DELETE FROM {table} WHERE scope = ? AND code = ?", (doc.scope, code))
    return None


def rebuild(store: Store, calendar: WorkCalendar,
            progress: Callable[[str, int, int], None] = lambda stage, done, total: None) -> int:
    """Drop every projection row and recompute them all from the documents, in one
    transaction, reporting stage "rebuild". Catalog items first, since cases look up their
    item version. A document that cannot be projected is refused as on the incremental
    path; nothing a document holds stops the rebuild. Records which calendar the
    deadlines were counted with (see `recount`)."""
    n = 0
    with store.transaction():
        store.set_meta(CALENDAR_META, calendar.digest())
        total = store.count("catalog_item") + store.count("case")
        for table in PROJECTION_TABLES:
            store.conn.execute(f"DELETE FROM {table}")
        for kind in ("catalog_item", "case"):
            for doc in store.docs(kind):
                refresh(store, doc, calendar, new=True)
                n += 1
                progress("rebuild", n, total)
        n += sum(m.rebuild(store, _refuse, _insert) for m in dict.fromkeys(BESIDE.values()))
    return n


def recount(store: Store, calendar: WorkCalendar) -> bool:
    """Rebuild the projections if their deadlines were counted with another calendar than
    `calendar`: a newer chinese-calendar package that now covers next year (provisional
    deadlines become final), an edited override file, or a node file from before the
    calendar was recorded. Once per change, at the first open after it; True if it did."""
    if store.meta(CALENDAR_META) == calendar.digest():
        return False
    with store.transaction():
        held = store.meta(CALENDAR_META)
        if held == calendar.digest():  # another process did it meanwhile
            return False
        if held is not None or store.count("case"):
            log.warning("the working-day calendar changed since the lists were counted: rebuilding them")
        rebuild(store, calendar)
    return True


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every projection row, ordered: used to compare a rebuild with the live tables."""
    out = {}
    for table in PROJECTION_TABLES:
        out[table] = sorted(store.conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    return out
