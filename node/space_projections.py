"""The projections of My Space: `space_docs`, `space_files` and `space_consents`, each row
a pure function of one document and the city key (`yimen.personal_space.rows`).

Called from `projections.refresh` for space documents and consents, and for node records:
a node record that brings the chain root's city key (see `personal_space.citizen`) changes
the subject every row is found by, so every space row is derived again, in the same
transaction."""

from __future__ import annotations

from typing import Any, Callable

from yimen.personal_space import citizen
from yimen.personal_space.rows import (CONSENT_COLUMNS, SPACE_DOC_COLUMNS, SPACE_FILE_COLUMNS, SPACE_TABLES,
                                       consent_row, space_doc_rows)
from yimen.sync.docs import Doc
from yimen.sync.store import Store

SPACE_KINDS = ("space_doc", "consent")
Refuse = Callable[[Store, Doc, bool, Exception], None]
Insert = Callable[[Store, str, tuple[str, ...], list[dict[str, Any]]], None]


def refresh(store: Store, doc: Doc, new: bool, refuse: Refuse, insert: Insert) -> None:
    """Rewrite the rows of one space document or consent (inside the caller's transaction);
    a node record that brings the city key re-derives them all."""
    if doc.kind == "node":
        if citizen.learn(store, doc):
            rebuild(store, refuse, insert)
        return
    if not new:
        drop(store, doc.doc_id)
    try:
        if doc.kind == "space_doc":
            row, files = space_doc_rows(doc, citizen.key(store))
        else:
            row, files = consent_row(doc, citizen.key(store)), []
    except Exception as e:  # noqa: BLE001 (pure functions of a body anyone may have written)
        return refuse(store, doc, new, e)
    if not new:
        store.conn.execute("DELETE FROM projection_refused WHERE doc_id = ?", (doc.doc_id,))
    if doc.kind == "space_doc":
        insert(store, "space_docs", SPACE_DOC_COLUMNS, [row])
        insert(store, "space_files", SPACE_FILE_COLUMNS, files)
    else:
        insert(store, "space_consents", CONSENT_COLUMNS, [row])
    return None


def drop(store: Store, doc_id: str) -> None:
    """Remove a document's space rows (before rewriting them, or when it is purged)."""
    store.conn.execute("DELETE FROM space_docs WHERE doc_id = ?", (doc_id,))
    store.conn.execute("DELETE FROM space_files WHERE doc_id = ?", (doc_id,))
    store.conn.execute("DELETE FROM space_consents WHERE consent_id = ?", (doc_id,))


def rebuild(store: Store, refuse: Refuse, insert: Insert) -> int:
    """Derive every space row again (the caller's transaction); returns how many documents."""
    for table in SPACE_TABLES:
        store.conn.execute(f"DELETE FROM {table}")
    n = 0
    for kind in SPACE_KINDS:
        for doc in store.docs(kind):
            refresh(store, doc, True, refuse, insert)
            n += 1
    return n
