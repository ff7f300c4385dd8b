"""The projection of ratings (一事一评): one `ratings` row per rating document, a pure
function of that document and of which node signed each part of it.

A rating document (`<case id>:rating`, see `yimen.sync.visibility`) holds the map `rating`
(the case, its item, the clerk of its final action, the score, the reason, when and by
whom it was rated), which only its owner, the node that accepted the case, writes; and the
list `follow_ups` (回访/整改: admin, node, time, text), to which the owner and its ancestors
append. As for a case's history (`projection_rules.forgeries`), a follow-up not written by
the node it names, or not of a follow-up's shape, is not applied; a `rating` map written
by another node, a score out of `schema.rating.SCORES` or a reason it refuses makes the
document unprojectable: kept, replicated, listed nowhere, shown in quarantine.

`follow_up_status` is "open" for a rating that needs a follow-up and has none, "done" once
one is recorded (any rating may get one), "none" otherwise; the other follow-up columns
are the latest applied follow-up's, `follow_ups` how many were applied."""

from __future__ import annotations

from typing import Any, Callable

from yimen.node.projection_rules import (RATING_COLUMNS, RATING_CONTENT, RATING_SPEC, Authors, Unprojectable, checked,
                                         forgeries, short)
from yimen.schema import rating as rules
from yimen.schema import region
from yimen.schema.errors import SchemaError
from yimen.sync.docs import Doc, peers
from yimen.sync.store import Store
from yimen.sync.visibility import RATING_SUFFIX, owner

Refuse = Callable[[Store, Doc, bool, Exception], None]
Insert = Callable[[Store, str, tuple[str, ...], list[dict[str, Any]]], None]
FOLLOW_UP_FIELDS = ("admin", "node", "at", "text")


def case_of(rating_id: str) -> str:
    """The case a rating id names."""
    return rating_id.removesuffix(RATING_SUFFIX)


def rating_id(case_id: str) -> str:
    """The id of a case's rating."""
    return case_id + RATING_SUFFIX


def _follow_up(entry: Any) -> bool:
    """Is `entry` a follow-up as nodes write them (every field text, the text one
    `follow_up_text` accepts)?"""
    if not isinstance(entry, dict) or not all(type(entry.get(k)) is str for k in FOLLOW_UP_FIELDS):
        return False
    try:
        return rules.follow_up_text(entry["text"]) == entry["text"]
    except SchemaError:
        return False


def rating_row(doc: Doc, value: dict[str, Any], authors: Authors) -> dict[str, Any]:
    """The `ratings` row of one rating document (`value` is its body); raises
    Unprojectable, KeyError or TypeError when it cannot be listed."""
    info, own = value["rating"], owner(doc.doc_id, doc.kind)
    if own is None:
        raise Unprojectable(f"rating id {doc.doc_id!r} names no case")
    if info.get("case_id") != case_of(doc.doc_id):  # a body may only describe its own document
        raise Unprojectable(f"the rating's body describes {short(info.get('case_id'))}")
    why = rules.refusal(info)
    if why:
        raise Unprojectable(why)
    entries = value.get("follow_ups", [])
    forged = forgeries(doc, entries, authors, RATING_CONTENT, "follow_ups", frozenset())
    done = [e for i, e in enumerate(entries) if i not in forged and _follow_up(e)]
    last = done[-1] if done else {}
    status = "done" if done else "open" if info["score"] in rules.NEEDS_FOLLOW_UP else "none"
    return {
        "case_id": case_of(doc.doc_id), "scope": doc.scope, "node": own, "level": region.level(own),
        **{k: info[k] for k in ("item_code", "item_name", "clerk", "clerk_node", "score", "reason", "rated_at",
                                "rated_by")},
        "follow_up_status": status, "follow_up_by": last.get("admin"), "follow_up_node": last.get("node"),
        "follow_up_at": last.get("at"), "follow_up_text": last.get("text"), "follow_ups": len(done),
    }


def refresh(store: Store, doc: Doc, new: bool, refuse: Refuse, insert: Insert) -> None:
    """Rewrite the row of one rating document (inside the caller's transaction)."""
    if not new:
        drop(store, doc.doc_id)
    try:
        row = checked([rating_row(doc, doc.value(), store.keys.owners(peers(doc)))], RATING_SPEC)[0]
    except Exception as e:  # noqa: BLE001 (a pure function of a body anyone may have written)
        return refuse(store, doc, new, e)
    if not new:
        store.conn.execute("DELETE FROM projection_refused WHERE doc_id = ?", (doc.doc_id,))
    insert(store, "ratings", RATING_COLUMNS, [row])
    return None


def drop(store: Store, doc_id: str) -> None:
    """Remove a rating document's row."""
    store.conn.execute("DELETE FROM ratings WHERE case_id = ?", (case_of(doc_id),))


def rebuild(store: Store, refuse: Refuse, insert: Insert) -> int:
    """Derive every rating row again (the caller's transaction); returns how many documents."""
    store.conn.execute("DELETE FROM ratings")
    n = 0
    for doc in store.docs("rating"):
        refresh(store, doc, True, refuse, insert)
        n += 1
    return n
