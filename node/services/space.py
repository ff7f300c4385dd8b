"""My Space at this node: writing a citizen's space documents and consents (the one place
that makes them, so every id, body and projection row is made the same way). Deposit of
results, reuse at the window, consent and withdrawal build on these."""

from __future__ import annotations

from typing import Any, Callable

from yimen.node.home import Node
from yimen.node.projections import refresh
from yimen.node.services import audit, space_purge
from yimen.node.errors import NodeError
from yimen.personal_space import consent_rule
from yimen.personal_space.documents import Consent, SpaceDocument, read_consent, read_space_doc


class UnknownConsent(NodeError):
    """No consent of that id is held here."""

    code = "unknown_consent"


def write_document(node: Node, d: SpaceDocument, action: str = "space_deposit",
                   credential: Callable[[str, dict[str, Any]], bytes] | None = None) -> str:
    """Store a new space document of this node's (its home) with its projection rows and an
    audit entry, in the caller's transaction or one of its own; returns its id
    (`<home>-D<year>-<seq>`). `credential(doc_id, space_map)`, if given, makes the
    e-certificate the document carries: it names the document, so it is made once the id
    is known and before anything is saved."""
    store = node.store
    with store.transaction():
        year = node.clock().year
        doc_id = f"{node.node_id}-D{year}-{store.next_sequence(f'space_doc:D{year}'):06d}"
        space_map = d.space_map()
        if credential is not None:
            space_map["credential"] = credential(doc_id, space_map)
        read_space_doc({"space": space_map, "files": d.files_map()})  # what others will check
        doc = store.new_doc(doc_id, "space_doc", node.node_id)
        doc.update("space", space_map)
        doc.update("files", d.files_map())
        store.save(doc, node.node_id)
        refresh(store, doc, node.calendar, new=True)
        audit.record(node, action, d.clerk_id or None, d.case_id or None, d.citizen_id, doc=doc_id, type=d.doc_type)
    return doc_id


def write_consent(node: Node, c: Consent) -> str:
    """Store a new consent given at this node's window (its scope) with its projection row
    and an audit entry; returns its id (`<node>-C<year>-<seq>`)."""
    read_consent({"consent": c.consent_map()})
    store = node.store
    with store.transaction():
        year = node.clock().year
        consent_id = f"{node.node_id}-C{year}-{store.next_sequence(f'consent:C{year}'):06d}"
        doc = store.new_doc(consent_id, "consent", node.node_id)
        doc.update("consent", c.consent_map())
        store.save(doc, node.node_id)
        refresh(store, doc, node.calendar, new=True)
        audit.record(node, "space_consent", c.clerk_id or None, None, c.citizen_id, consent=consent_id,
                     types=list(c.types), expires=c.expires_at)
    return consent_id


def withdraw_consent(node: Node, consent_id: str, clerk_id: str, reason: str = "") -> None:
    """Withdraw a consent (a later change of its document, at its node or an ancestor);
    every node that holds documents only through it purges them when it learns this."""
    store = node.store
    with store.transaction():
        doc = store.get(consent_id)
        if doc is None or doc.kind != "consent":
            raise UnknownConsent(f"没有编号为 {consent_id} 的同意书", f"no consent has the id {consent_id}")
        c = read_consent(doc.value())
        if not c.withdrawn_at:
            doc.update("withdrawn", {"at": node.now(), "clerk_id": clerk_id, "reason": reason.strip()})
            store.save(doc, node.node_id)
            refresh(store, doc, node.calendar)
            audit.record(node, "space_withdraw", clerk_id or None, None, c.citizen_id, consent=consent_id)
            space_purge.sweep(node)  # what this node held only through it goes at once


def consent_nodes(node: Node, subject: str, doc_type: str, now: str | None = None) -> list[str]:
    """The nodes whose consents held here are live and cover the citizen `subject`'s
    documents of `doc_type` (what `visibility.may_hold` is given)."""
    return consent_rule.consented(space_purge.held_consents(node.store, [subject]), subject, doc_type, now or node.now())
