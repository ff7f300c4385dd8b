"""What a projected row may hold, and which node may have written which part of a case:
the checks `projections` makes before it lists a document.

- Every value is checked (`invalid`) against its column's kind before SQLite is asked to
  bind it: text of a bounded length, a 64-bit integer, a finite number, or NULL where
  allowed. A list where a name belongs, or a megabyte of text, makes the document
  unprojectable, never a database error.
- Who wrote each part of a case is the node that signed the Loro peer's changes
  (`store.keys`: a peer is bound to its signer before any op of it is stored; a peer bound
  to no one can only be this node's own, from before peers were bound on save). A case's
  content (`case`, `materials`) is its owner's alone; a history event is genuine only if
  it was written by the node it names, and `accept` / `not_accepted` only by the owner
  (`forgeries`). So an ancestor appends its decisions, and nobody forges the owner's
  acceptance, another level's approval or what the owner recorded.
"""

from __future__ import annotations

import math
from typing import Any

from yimen.sync.docs import Doc, writers
from yimen.sync.visibility import owner

_LONGEST = {"id": 256, "name": 1024, "note": 16_384, "json": 256 * 1024}
_INT_RANGE = range(-(1 << 63), 1 << 63)


class RowSpec:
    """The columns of a projection table and the kind of value each holds: "id" (text up
    to 256 characters), "name" (1,024), "note" (16,384), "json" (a stored definition,
    256 KB), "int" (64-bit, not a bool), "num" (a finite number); "?" lets it be NULL.
    Iterating gives the column names, in order."""

    def __init__(self, **kinds: str):
        self.kinds = kinds
        # `invalid` runs for every row of every document applied: one loop per kind of
        # value, each over (column, longest text or whether a float will do, NULL allowed)
        self._text = tuple((c, _LONGEST[k.rstrip("?")], k.endswith("?")) for c, k in kinds.items()
                           if k.rstrip("?") in _LONGEST)
        self._numbers = tuple((c, k.startswith("num"), k.endswith("?")) for c, k in kinds.items()
                              if k.rstrip("?") in ("int", "num"))

    def __iter__(self):
        return iter(self.kinds)

    def __len__(self) -> int:
        return len(self.kinds)


CASE_SPEC = RowSpec(
    case_id="id", scope="id", item_code="id", item_version="int", item_name="name", department="name",
    applicant_id="id", applicant_name="name", status="id", step="int", node="id", accepted_at="id?",
    accepted_date="id?", accepted_by="name?", deadline="id?", time_limit_days="int", deferred_open="int",
    deferred_due="id?", conflicts="int", last_action="id?", last_at="id?", closed_at="id?",
    paused_days="int", paused_since="id?", deadline_provisional="int", conflicts_open="int",
    deferred_list="json?")
EVENT_SPEC = RowSpec(
    case_id="id", idx="int", action="id", actor="name", role="name", node="id", at="id", reason="note",
    step="int?", department="name?", material="name?", conflict="int", resolves="int?", resolved_by="int?")
EVENT_FIELDS = ("action", "actor", "role", "node", "at", "reason", "step", "department", "material")
WAIT_SPEC = RowSpec(case_id="id", department="name", level="id")  # a reviewer a case waits for
ITEM_SPEC = RowSpec(
    code="id", version="int", name="name", department="name", status="id", accept_level="id",
    time_limit_days="int", immediate="int", fee="num", effective_date="id?", scope="id", definition="json")
VERSION_SPEC = RowSpec(scope="id", code="id", version="int", definition="json")
ITEM_REF = RowSpec(item_publisher="id", item_code="id", item_version="int")  # how a case names its item version
CASE_COLUMNS, EVENT_COLUMNS, ITEM_COLUMNS = tuple(CASE_SPEC), tuple(EVENT_SPEC), tuple(ITEM_SPEC)
WAIT_COLUMNS = tuple(WAIT_SPEC)
CASE_CONTENT = ("case", "materials")  # the maps only a case's owner writes
OWNER_ACTIONS = frozenset({"accept", "not_accepted"})  # a case begins at its owner's window
RATING_SPEC = RowSpec(
    case_id="id", scope="id", node="id", level="id", item_code="id", item_name="name", clerk="name",
    clerk_node="id", score="id", reason="note", rated_at="id", rated_by="name", follow_up_status="id",
    follow_up_by="name?", follow_up_node="id?", follow_up_at="id?", follow_up_text="note?", follow_ups="int")
RATING_COLUMNS = tuple(RATING_SPEC)
RATING_CONTENT = ("rating",)  # the map only a rating's owner (the case's) writes; follow-ups are appended


class Unprojectable(ValueError):
    """A document cannot be projected; the message says why (for the admin)."""


def invalid(row: dict[str, Any], spec: RowSpec) -> str | None:
    """Why `row` (holding every column of `spec`) may not be bound as `spec` says, or None
    if it may."""
    for col, longest, optional in spec._text:
        v = row[col]
        if type(v) is not str or len(v) > longest:
            if not (v is None and optional):
                return _reason(col, v, longest, False)
    for col, number, optional in spec._numbers:
        v = row[col]
        if type(v) is not int or v not in _INT_RANGE:
            if not (v is None and optional or number and type(v) is float and math.isfinite(v)):
                return _reason(col, v, None, number)
    return None


def _reason(col: str, v: Any, longest: int | None, number: bool) -> str:
    if v is None:
        return f"{col} is missing"
    if longest is None:
        return f"{col} is not {'a number' if number else 'an integer'}: {short(v)}"
    if type(v) is not str:
        return f"{col} is not text: {short(v)}"
    return f"{col} is longer than {longest} characters ({len(v)})"


def short(v: Any) -> str:
    """A value as a reason may quote it (a forger's megabyte is cut)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def checked(rows: list[dict[str, Any]], spec: RowSpec) -> list[dict[str, Any]]:
    """`rows`, if every one may be bound (else Unprojectable, with the first reason)."""
    for row in rows:
        reason = invalid(row, spec)
        if reason is not None:
            raise Unprojectable(reason)
    return rows


Authors = dict[int, "str | None"]  # Loro peer -> the node that signed its changes (None: this node)


def forgeries(doc: Doc, history: list[dict[str, Any]], authors: Authors, content_maps: tuple[str, ...] = CASE_CONTENT,
              entries_list: str = "history", owner_actions: frozenset[str] = OWNER_ACTIONS) -> frozenset[int]:
    """The indexes of `history` events not written by the node they name (or an owner's
    action by another node); raises Unprojectable if the case's content was written by
    another node than its owner. Only a document with more than one signer is read for who
    wrote which part (Loro tells the last writer of each key). A rating is read the same
    way: its `content_maps` are ("rating",), its entries the list "follow_ups"."""
    own = owner(doc.doc_id, doc.kind)
    signers = set(authors.values())
    names = [e.get("node") if isinstance(e, dict) else None for e in history]
    if signers <= {own}:  # the owner alone signed; no part of it is anyone else's
        return frozenset(i for i, name in enumerate(names) if name != own)
    if signers <= {own, None} and all(n == own for n in names):
        return frozenset()
    content, entries = writers(doc, content_maps, entries_list)
    strangers = {authors.get(p) for p in content} - {own, None}
    if strangers:
        raise Unprojectable(f"{doc.kind} content written by {', '.join(sorted(strangers))}, not by its owner {own}")
    forged = set()
    for i, (name, entry, who) in enumerate(zip(names, history, entries)):
        wrote = {authors.get(p) for p in who} - {None}
        if not wrote <= {name} or (isinstance(entry, dict) and entry.get("action") in owner_actions and name != own):
            forged.add(i)
    return frozenset(forged)
