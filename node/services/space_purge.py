"""Purging space documents held on demand when the consent that let them in ends.

A node that is neither a space document's home nor an ancestor holds it only while
`visibility.may_hold` says so with the live consents it holds (`consent_rule.may_keep`).
`sweep` checks every document held on demand here and purges, in one transaction, each one
that may no longer be kept: its document, change and on-demand seal rows (`Store.purge`),
its space projections, its file chunks that no document held here still lists, and an
audit entry per document (`space_purge`, with the reason: withdrawn, expired, or no
consent). It runs when a consent changes here (the engine's hook, in the transaction that
applied the withdrawal: `on_consents`), in every sync round and after documents come on
demand (expiry is a matter of the clock). The home and its ancestors never hold a space
document on demand, so nothing here ever touches theirs.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from yimen.node import space_projections
from yimen.node.home import Node
from yimen.node.services import audit
from yimen.personal_space.consent_rule import HeldConsent, HeldDoc, may_keep, purge_reason
from yimen.personal_space.documents import read_space_doc
from yimen.personal_space.errors import MalformedSpaceDocument
from yimen.sync.docs import Doc, LoroError
from yimen.sync.store import Store

PART = 500


def held_docs(store: Store, doc_ids: list[str]) -> dict[str, HeldDoc]:
    """The `space_docs` rows of `doc_ids`."""
    out: dict[str, HeldDoc] = {}
    for i in range(0, len(doc_ids), PART):
        part = doc_ids[i:i + PART]
        out.update((r[0], HeldDoc(*r)) for r in store.conn.execute(
            f"SELECT doc_id, subject, doc_type, home FROM space_docs WHERE doc_id IN ({', '.join('?' * len(part))})",
            part))
    return out


def held_consents(store: Store, subjects: Iterable[str], by: str = "subject") -> list[HeldConsent]:
    """The consents held here of the citizens `subjects` (or, `by="consent_id"`, of those ids)."""
    assert by in ("subject", "consent_id")
    wanted, out = sorted(set(subjects)), []
    for i in range(0, len(wanted), PART):
        part = wanted[i:i + PART]
        out += [HeldConsent(cid, subject, node, tuple(json.loads(types)), expires, withdrawn or "")
                for cid, subject, node, types, expires, withdrawn in store.conn.execute(
                    "SELECT consent_id, subject, node, types, expires_at, withdrawn_at FROM space_consents"
                    f" WHERE {by} IN ({', '.join('?' * len(part))})", part)]
    return out


def sweep(node: Node, now: str | None = None) -> list[dict[str, str]]:
    """Purge every document held on demand here that may no longer be kept; returns
    `{"doc", "reason"}` of each (empty, at the cost of one query, where none is held)."""
    store = node.store
    held = store.on_demand.doc_ids()
    if not held:
        return []
    now = now or node.now()
    docs = held_docs(store, held)
    consents = held_consents(store, {d.subject for d in docs.values()})
    gone = [(doc_id, purge_reason(docs.get(doc_id), node.node_id, consents, now)) for doc_id in held
            if doc_id not in docs or not may_keep(docs[doc_id], node.node_id, consents, now)]
    if gone:
        purge(node, gone)
    return [{"doc": doc_id, "reason": reason} for doc_id, reason in gone]


def on_consents(node: Node, docs: list[Doc]) -> None:
    """The engine's hook, after projections: a consent that moved may have ended (a
    withdrawal that came in): sweep in the same transaction."""
    if any(d.kind == "consent" for d in docs):
        sweep(node)


def purge(node: Node, gone: list[tuple[str, str]]) -> None:
    """Drop documents `gone` ((doc_id, reason)) with their rows and orphaned chunks, and say
    so in the audit log, in one transaction."""
    store = node.store
    ids = [doc_id for doc_id, _ in gone]
    with store.transaction():
        citizens = {doc_id: citizen_of(store, doc_id) for doc_id in ids}
        chunks = _chunks(store, ids)
        for doc_id in ids:
            space_projections.drop(store, doc_id)
            store.conn.execute("DELETE FROM projection_refused WHERE doc_id = ?", (doc_id,))
        store.purge(ids)
        orphaned = chunks - _still_listed(store, chunks)
        if orphaned:
            store.chunks.delete(sorted(orphaned))
        for doc_id, reason in gone:
            audit.record(node, "space_purge", None, None, citizens[doc_id], doc=doc_id, reason=reason,
                         chunks=len(orphaned))


def citizen_of(store: Store, doc_id: str) -> str | None:
    """The ID number a document held here names (None if its body cannot be read)."""
    doc = store.get(doc_id)
    try:
        return read_space_doc(doc.value()).citizen_id if doc is not None else None
    except (MalformedSpaceDocument, LoroError):
        return None


def _chunks(store: Store, doc_ids: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(doc_ids), PART):
        part = doc_ids[i:i + PART]
        for (listed,) in store.conn.execute(
                f"SELECT chunks FROM space_files WHERE doc_id IN ({', '.join('?' * len(part))})", part):
            out.update(_hexes(listed))
    return out


def _still_listed(store: Store, chunks: set[str]) -> set[str]:
    """Which of `chunks` a file of a document still held here lists (chunks are shared)."""
    wanted, out = sorted(chunks), set()
    for i in range(0, len(wanted), PART):
        part = wanted[i:i + PART]
        out.update(r[0] for r in store.conn.execute(
            "SELECT DISTINCT j.value FROM space_files, json_each(space_files.chunks) AS j"
            f" WHERE j.value IN ({', '.join('?' * len(part))})", part))
    return out


def _hexes(listed: Any) -> list[str]:
    try:
        got = json.loads(listed)
    except (TypeError, ValueError):
        return []
    return [h for h in got if isinstance(h, str)] if isinstance(got, list) else []


def on_demand_count(node: Node) -> int:
    """Seals held on demand here (for status and tests)."""
    return node.store.on_demand.count()
