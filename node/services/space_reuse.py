"""My Space at the window: a completed case's result deposited in the applicant's space,
the space looked up when a case is accepted (materials satisfied by reference), the scans
handed in kept with the citizen's agreement. `cases` calls these inside its own
transactions, so a case and what it deposits or reuses are written together or not at all.

The e-certificate a result carries is made by `yimen.node.services.credentials.issue`
with the document's id, before the document is saved (see `credential_maker`)."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Any, Callable, Mapping

from yimen.node.home import Node
from yimen.node.services import audit, space, space_files
from yimen.personal_space import citizen
from yimen.personal_space import reuse
from yimen.personal_space.documents import SpaceDocument, read_space_doc
from yimen.schema import region
from yimen.schema.catalog import CatalogItem
from yimen.schema.doc_types import DOC_TYPES
from yimen.schema.idnumber import validate_id_number

_HELD = "doc_id, doc_type, source, issued_on, valid_until, deposited_at"


def credential_maker(node: Node) -> Callable[[str, dict[str, Any]], bytes]:
    """`credentials.issue` bound to `node` (imported when first used: the COSE and CBOR
    libraries are not loaded by commands that issue nothing)."""
    def issue(doc_id: str, space_map: dict[str, Any]) -> bytes:
        from yimen.node.services import credentials
        return credentials.issue(node, doc_id, space_map)
    return issue


def deposited(node: Node, case_id: str) -> str | None:
    """The space document a case's result was deposited as, if any."""
    # `case_id != ''` lets SQLite use the partial index on case_id (scans have none)
    row = node.store.conn.execute("SELECT doc_id FROM space_docs WHERE case_id = ? AND case_id != ''"
                                  " AND source = 'result' LIMIT 1", (case_id,)).fetchone()
    return row[0] if row else None


def deposit(node: Node, item: CatalogItem, case_id: str, applicant_id: str, applicant_name: str,
            clerk_id: str) -> str | None:
    """Deposit a completed case's result in the applicant's space (in the caller's
    transaction) if its item version names a `result_type`; once per case. Returns the
    new document's id, or None."""
    if not item.result_type or deposited(node, case_id):
        return None
    d = SpaceDocument(
        doc_type=item.result_type, title=DOC_TYPES[item.result_type], citizen_id=applicant_id,
        citizen_name=applicant_name, issuer=node.node_id, issuer_name=node.config.name,
        issued_on=node.clock().date().isoformat(), source="result", deposited_at=node.now(),
        clerk_id=clerk_id, case_id=case_id)
    return space.write_document(node, d, credential=credential_maker(node))


def city_key(node: Node) -> bytes | None:
    """The key subjects are derived with, without making one: a node that holds none has
    no space document either (projecting one needs the key), and a lookup writes nothing."""
    store = node.store
    if store.meta(citizen.KEY_META) is None and store.meta(citizen.PROVISIONAL_META) is None:
        return None
    return citizen.key(store)


def held(node: Node, id_number: str, types: set[str]) -> list[reuse.Held]:
    """The documents of `types` the citizen's space holds here and this window may use:
    this node's own and its subtree's, and another's under a consent given at this window
    or below that is live now (one withdrawn or expired may linger until it is purged,
    but is used no more)."""
    key = city_key(node)
    if key is None or not types:
        return []
    subject = citizen.subject(key, id_number)
    marks = ",".join("?" * len(types))
    rows = node.store.conn.execute(f"SELECT {_HELD}, home FROM space_docs WHERE subject = ? AND doc_type IN ({marks})",
                                   (subject, *sorted(types))).fetchall()
    allowed: dict[str, bool] = {}

    def usable_here(home: str, doc_type: str) -> bool:
        if region.is_within(home, node.node_id):
            return True
        if doc_type not in allowed:
            allowed[doc_type] = any(region.is_within(n, node.node_id)
                                    for n in space.consent_nodes(node, subject, doc_type))
        return allowed[doc_type]
    return [reuse.Held(*r[:-1]) for r in rows if usable_here(r[-1], r[1])]


def fingerprint(node: Node, doc_id: str) -> str:
    """What a case records of a document it reuses: the SHA-256 of its first file (by
    hash, the order of its `files` map), else of its e-certificate, else of its id."""
    row = node.store.conn.execute("SELECT min(file_hash) FROM space_files WHERE doc_id = ?", (doc_id,)).fetchone()
    if row and row[0]:
        return row[0]
    doc = node.store.get(doc_id)
    credential = read_space_doc(doc.value()).credential if doc is not None else None
    return hashlib.sha256(credential if credential is not None else doc_id.encode()).hexdigest()


def offers(node: Node, applicant_id: str, item: CatalogItem, scanned: set[str]) -> dict[str, dict[str, Any]]:
    """The item's materials the applicant's space satisfies (see `reuse.satisfied`), as the
    case records them: material name -> {status "reused", doc_id, sha256, doc_type}."""
    docs = held(node, applicant_id, {m.doc_type for m in item.materials if m.doc_type})
    if not docs:
        return {}
    chosen = reuse.satisfied([(m.name, m.doc_type) for m in item.materials], docs,
                             node.clock().date().isoformat(), scanned)
    return {name: {"status": "reused", "doc_id": d.doc_id, "sha256": fingerprint(node, d.doc_id),
                   "doc_type": d.doc_type} for name, d in chosen.items()}


def offered(node: Node, clerk_id: str, applicant_id: str, item: CatalogItem) -> dict[str, dict[str, Any]]:
    """What `offers` would reuse for a case of `item` accepted now, looked up at the window
    before accepting (read in the audit trail as `space_offers` when it finds any)."""
    number = validate_id_number(applicant_id, today=node.clock().date())
    found = offers(node, number, item, set())
    if found:
        audit.record(node, "space_offers", clerk_id, None, number, item=item.code,
                     docs={name: r["doc_id"] for name, r in found.items()})
    return found


def keep_scans(node: Node, item: CatalogItem, applicant_id: str, applicant_name: str, clerk_id: str,
               scans: Mapping[str, Path]) -> dict[str, str]:
    """Keep the scans handed in (material name -> file) in the applicant's space, the
    citizen having agreed, one scan document each (in the caller's transaction). A material
    the catalog gives no document type cannot be found again, so it is not kept. Returns
    material name -> document id."""
    types = {m.name: m.doc_type for m in item.materials}
    kept: dict[str, str] = {}
    for name, path in scans.items():
        if not types.get(name):
            continue
        ref = space_files.store_file(node, path, mime=mimetypes.guess_type(str(path))[0] or "")
        kept[name] = space.write_document(node, SpaceDocument(
            doc_type=types[name], title=name, citizen_id=applicant_id, citizen_name=applicant_name,
            issuer=node.node_id, issuer_name=node.config.name, issued_on=node.clock().date().isoformat(),
            source="scan", deposited_at=node.now(), clerk_id=clerk_id, files=(ref,)), action="space_keep")
    return kept


def after_accept(node: Node, case_id: str, item: CatalogItem, applicant_id: str, applicant_name: str,
                 clerk_id: str, reused: Mapping[str, dict[str, Any]], keep: Mapping[str, Path]) -> dict[str, Any]:
    """What an accepted case adds to the space, in its transaction: one audit entry for the
    documents reused (the lookup read them), the scans kept."""
    if reused:
        audit.record(node, "space_reuse", clerk_id, case_id, applicant_id,
                     docs={name: r["doc_id"] for name, r in reused.items()})
    kept = keep_scans(node, item, applicant_id, applicant_name, clerk_id, keep) if keep else {}
    return {"reused": dict(reused), "kept_in_space": kept, "not_kept": sorted(set(keep) - set(kept))}
