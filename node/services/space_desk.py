"""What `yimen space` does at the window: a citizen's space as this node holds it (`show`),
a scan added with its type (`add_scan`), a consent given with the citizen present
(`give_consent`) and withdrawn (`withdraw`). Every read of a space leaves an audit entry;
every write goes through `space`, the one writer of space documents and consents."""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.services import audit, clerks, space, space_files
from yimen.node.services.space_reuse import city_key
from yimen.personal_space import citizen
from yimen.personal_space.documents import MAX_FILES, MAX_TEXT, Consent, SpaceDocument, covers, live
from yimen.schema import region
from yimen.schema.doc_types import DOC_TYPES
from yimen.schema.errors import SchemaError
from yimen.schema.idnumber import mask, validate_id_number
from yimen.schema.words import code_of


class ConsentTooLong(NodeError):
    """A consent may run at most `consent_max_days` days."""

    code = "consent_too_long"


class ConsentNotHere(NodeError):
    """A consent given at another window is withdrawn there (or at one of its ancestors)."""

    code = "consent_not_here"


def doc_type_of(text: str) -> str:
    """A document type named by its code or its Chinese name (`残疾人证`)."""
    return code_of(text, DOC_TYPES, DOC_TYPES, "证照类型", "document type")


def doc_types_of(text: str) -> tuple[str, ...]:
    """A list of document types, separated by commas (, ， or 、)."""
    parts = [p for p in re.split(r"[,，、]", text) if p.strip()]
    if not parts:
        raise SchemaError("请至少指定一种证照类型", "name at least one document type")
    return tuple(sorted({doc_type_of(p) for p in parts}))


def _citizen(node: Node, id_number: str, name: str | None = None) -> tuple[str, str]:
    number = validate_id_number(id_number, today=node.clock().date())
    if name is not None and (not name.strip() or len(name.strip()) > MAX_TEXT):
        raise SchemaError("姓名不能为空，也不能超过 200 个字", "the name must be given, in 200 characters or fewer")
    return number, (name or "").strip()


def _state(row: dict[str, Any], now: str) -> str:
    if row["withdrawn_at"]:
        return "withdrawn"
    return "live" if live(row["expires_at"], "", now) else "expired"


def _rows(node: Node, sql: str, params: Iterable[Any]) -> list[dict[str, Any]]:
    cur = node.store.conn.execute(sql, tuple(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def _files(node: Node, doc_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in doc_ids}
    marks = ",".join("?" * len(doc_ids))
    for f in _rows(node, f"SELECT doc_id, file_hash, name, mime, size, chunks FROM space_files WHERE doc_id IN ({marks})"
                         " ORDER BY doc_id, name, file_hash", doc_ids):
        chunks = json.loads(f.pop("chunks"))
        f["complete"] = len(node.store.chunks.held(chunks)) == len(set(chunks))
        f["chunks"] = len(chunks)
        out[f.pop("doc_id")].append(f)
    return out


def _origin(node: Node, doc: dict[str, Any], consents: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a document held here came from: this node's own deposit, its subtree's (a
    space flows up to every ancestor), or a consent given at this window or below."""
    if doc["home"] == node.node_id:
        return {"from": "home"}
    if region.is_within(doc["home"], node.node_id):
        return {"from": "subtree", "home": doc["home"]}
    by = [c["consent_id"] for c in consents
          if region.is_within(c["node"], node.node_id) and covers(c["types"], doc["doc_type"])]
    return {"from": "consent", "home": doc["home"], "consents": by}


def show(node: Node, id_number: str, clerk_id: str | None) -> dict[str, Any]:
    """A citizen's space as held here: documents (with files, whether every chunk is here,
    and where each came from) and consents (live, expired or withdrawn); one audit entry."""
    number, _ = _citizen(node, id_number)
    key = city_key(node)
    docs: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    if key is not None:
        subject = citizen.subject(key, number)
        docs = _rows(node, "SELECT doc_id, doc_type, title, citizen_name, home, issuer, issued_on, valid_until, source,"
                           " case_id, deposited_at, has_credential FROM space_docs WHERE subject = ?"
                           " ORDER BY issued_on DESC, doc_id DESC", (subject,))
        consents = _rows(node, "SELECT consent_id, node, types, purpose, granted_at, expires_at, clerk_id, withdrawn_at"
                               " FROM space_consents WHERE subject = ? ORDER BY granted_at DESC, consent_id", (subject,))
    now = node.now()
    for c in consents:
        c["types"], c["state"] = json.loads(c["types"]), _state(c, now)
    files = _files(node, [d["doc_id"] for d in docs]) if docs else {}
    for d in docs:
        d["has_credential"], d["files"] = bool(d["has_credential"]), files[d["doc_id"]]
        d["origin"] = _origin(node, d, consents)
    audit.record(node, "space_show", clerk_id, None, number, docs=[d["doc_id"] for d in docs][:audit.MAX_SHOWN],
                 consents=len(consents))
    name = next((d["citizen_name"] for d in docs), "")
    return {"citizen_masked": mask(number), "citizen_name": name, "documents": docs, "consents": consents}


def add_scan(node: Node, clerk_id: str, id_number: str, name: str, doc_type: str,
             paths: list[Path]) -> dict[str, Any]:
    """A scan handed in at the window kept in the citizen's space as one document of
    `doc_type` carrying `paths` (the same content twice is one file), in one transaction."""
    number, name = _citizen(node, id_number, name)
    doc_type = doc_type_of(doc_type)
    if not 0 < len(paths) <= MAX_FILES:
        raise SchemaError(f"一份文档须有 1 到 {MAX_FILES} 个文件", f"a document carries 1 to {MAX_FILES} files")
    clerks.get(node, clerk_id)
    with node.store.transaction():
        refs = {}
        for p in paths:
            ref = space_files.store_file(node, p, mime=mimetypes.guess_type(str(p))[0] or "")
            refs.setdefault(ref.hash, ref)
        doc_id = space.write_document(node, SpaceDocument(
            doc_type=doc_type, title=DOC_TYPES[doc_type], citizen_id=number, citizen_name=name, issuer=node.node_id,
            issuer_name=node.config.name, issued_on=node.clock().date().isoformat(), source="scan",
            deposited_at=node.now(), clerk_id=clerk_id, files=tuple(refs.values())), action="space_add")
    return {"doc_id": doc_id, "doc_type": doc_type, "title": DOC_TYPES[doc_type],
            "files": [{"name": r.name, "size": r.size, "file_hash": r.hash} for r in refs.values()]}


def give_consent(node: Node, clerk_id: str, id_number: str, name: str, types: tuple[str, ...],
                 days: int | None, purpose: str) -> dict[str, Any]:
    """A consent given at this window, the citizen present, by the signed-in clerk: this
    node (and its ancestors) may hold the citizen's documents of `types` for `days` days
    (at most, and by default, the setting `consent_max_days`)."""
    number, name = _citizen(node, id_number, name)
    most = node.config.consent_max_days
    days = most if days is None else days
    if not 1 <= days <= most:
        raise ConsentTooLong(f"同意书有效期须为 1 到 {most} 天，不能是 {days} 天",
                             f"a consent runs 1 to {most} days, not {days}")
    if not purpose.strip() or len(purpose.strip()) > MAX_TEXT:
        raise SchemaError("请写明用途（不超过 200 个字）", "say what it is for (200 characters or fewer)")
    clerk = clerks.get(node, clerk_id)
    now = datetime.fromisoformat(node.now())
    c = Consent(node=node.node_id, citizen_id=number, citizen_name=name, types=tuple(types), purpose=purpose.strip(),
                granted_at=now.isoformat(timespec="seconds"),
                expires_at=(now + timedelta(days=days)).isoformat(timespec="seconds"),
                clerk_id=clerk["clerk_id"], clerk_name=clerk["name"], present=True)
    consent_id = space.write_consent(node, c)
    return {"consent_id": consent_id, "node": c.node, "types": list(c.types), "purpose": c.purpose,
            "granted_at": c.granted_at, "expires_at": c.expires_at, "days": days}


def withdraw(node: Node, clerk_id: str, consent_id: str, reason: str = "") -> dict[str, Any]:
    """Withdraw a consent given at this window or below it; withdrawing one already
    withdrawn changes nothing (`already`)."""
    consent_id = consent_id.strip()
    row = node.store.conn.execute("SELECT node, withdrawn_at FROM space_consents WHERE consent_id = ?",
                                  (consent_id,)).fetchone()
    if row is None:
        raise space.UnknownConsent(f"没有编号为 {consent_id} 的同意书", f"no consent has the id {consent_id}")
    if not region.is_within(row[0], node.node_id):
        raise ConsentNotHere(f"同意书 {consent_id} 在 {row[0]} 出具，只能在该窗口或其上级撤回",
                             f"consent {consent_id} was given at {row[0]}: it is withdrawn there or above")
    if len(reason.strip()) > MAX_TEXT:
        raise SchemaError("撤回理由不能超过 200 个字", "the reason must be 200 characters or fewer")
    clerks.get(node, clerk_id)
    if not row[1]:
        space.withdraw_consent(node, consent_id, clerk_id, reason)
    at = node.store.conn.execute("SELECT withdrawn_at FROM space_consents WHERE consent_id = ?", (consent_id,)).fetchone()
    return {"consent_id": consent_id, "withdrawn_at": at[0], "already": bool(row[1])}
