"""Projection rows of space documents and consents: pure functions of one document and
the city key (`yimen.node.projections` writes them; `yimen rebuild` reproduces them)."""

from __future__ import annotations

import json
from typing import Any

from yimen.personal_space import citizen
from yimen.personal_space.documents import read_consent, read_space_doc
from yimen.personal_space.errors import MalformedSpaceDocument
from yimen.schema.idnumber import mask
from yimen.sync.docs import Doc
from yimen.sync.visibility import owner

SPACE_DOC_COLUMNS = ("doc_id", "subject", "doc_type", "title", "citizen_name", "citizen_masked", "home", "issuer",
                     "issued_on", "valid_until", "source", "case_id", "deposited_at", "has_credential")
SPACE_FILE_COLUMNS = ("doc_id", "file_hash", "name", "mime", "size", "chunk_size", "chunks")
CONSENT_COLUMNS = ("consent_id", "subject", "node", "types", "purpose", "granted_at", "expires_at", "clerk_id",
                   "withdrawn_at")
SPACE_TABLES = ("space_docs", "space_files", "space_consents")


def space_doc_rows(doc: Doc, city_key: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `space_docs` row and the `space_files` rows of a space document
    (MalformedSpaceDocument if its body is not one, or not its owner's own)."""
    d = read_space_doc(doc.value())
    if owner(doc.doc_id, doc.kind) != doc.scope:
        raise MalformedSpaceDocument("个人空间文档编号与范围不符", f"space document {doc.doc_id} is not of its scope")
    row = {"doc_id": doc.doc_id, "subject": citizen.subject(city_key, d.citizen_id), "doc_type": d.doc_type,
           "title": d.title, "citizen_name": d.citizen_name, "citizen_masked": mask(d.citizen_id),
           "home": doc.scope, "issuer": d.issuer, "issued_on": d.issued_on, "valid_until": d.valid_until,
           "source": d.source, "case_id": d.case_id, "deposited_at": d.deposited_at,
           "has_credential": int(d.credential is not None)}
    files = [{"doc_id": doc.doc_id, "file_hash": f.hash, "name": f.name, "mime": f.mime, "size": f.size,
              "chunk_size": f.chunk_size, "chunks": json.dumps(f.chunks)} for f in d.files]
    return row, files


def consent_row(doc: Doc, city_key: bytes) -> dict[str, Any]:
    """The `space_consents` row of a consent (MalformedSpaceDocument if its body is not one,
    or names another node than its scope)."""
    c = read_consent(doc.value())
    if c.node != doc.scope:
        raise MalformedSpaceDocument("同意书所指节点与范围不符", f"consent {doc.doc_id} names node {c.node}, not its scope")
    return {"consent_id": doc.doc_id, "subject": citizen.subject(city_key, c.citizen_id), "node": c.node,
            "types": json.dumps(c.types), "purpose": c.purpose, "granted_at": c.granted_at,
            "expires_at": c.expires_at, "clerk_id": c.clerk_id, "withdrawn_at": c.withdrawn_at}
