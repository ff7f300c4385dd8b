"""Space documents and consents for tests, made through the node's one writer."""

from __future__ import annotations

from datetime import timedelta

from yimen.node.services import space
from yimen.personal_space.documents import Consent, FileRef, SpaceDocument


def document(node, citizen_id: str, doc_type: str = "income_proof", files: tuple[FileRef, ...] = (),
             source: str = "scan", case_id: str = "", name: str = "陈美玲") -> str:
    """A space document of `citizen_id` deposited at `node`; returns its id."""
    return space.write_document(node, SpaceDocument(
        doc_type=doc_type, title="收入证明", citizen_id=citizen_id, citizen_name=name, issuer=node.node_id,
        issuer_name=node.config.name, issued_on=node.clock().date().isoformat(), source=source,
        deposited_at=node.now(), clerk_id="c01", case_id=case_id, files=files))


def consent(node, citizen_id: str, types: tuple[str, ...] = ("income_proof",), days: int = 30,
            name: str = "陈美玲") -> str:
    """A consent given at `node`'s window for `citizen_id`'s documents of `types`."""
    now = node.clock()
    return space.write_consent(node, Consent(
        node=node.node_id, citizen_id=citizen_id, citizen_name=name, types=types, purpose="办理临时救助",
        granted_at=now.isoformat(timespec="seconds"), expires_at=(now + timedelta(days=days)).isoformat(timespec="seconds"),
        clerk_id="c01", clerk_name="李敏"))


def foreign_document(node, home: str, citizen_id: str, doc_type: str = "income_proof", seq: int = 7) -> str:
    """A space document deposited at `home` (another node), as sync or a consent brings it:
    written straight into `node`'s store with its projection rows (for unit tests; the
    delivery itself is tested with a chain)."""
    from yimen.node.projections import refresh
    doc_id = f"{home}-D2026-{seq:06d}"
    d = SpaceDocument(doc_type=doc_type, title="收入证明", citizen_id=citizen_id, citizen_name="陈美玲", issuer=home,
                      issuer_name="另一村", issued_on="2026-10-01", source="result",
                      deposited_at="2026-10-01T09:00:00+08:00", clerk_id="x01", case_id=f"{home}-2026-{seq:06d}")
    with node.store.transaction():
        doc = node.store.new_doc(doc_id, "space_doc", home)
        doc.update("space", d.space_map())
        doc.update("files", {})
        node.store.save(doc, node.node_id)
        refresh(node.store, doc, node.calendar, new=True)
    return doc_id
