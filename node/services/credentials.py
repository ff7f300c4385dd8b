"""E-certificates (电子证照) at a node: issuing one for a deposited result, showing it,
verifying one with no link (the trust list held here), revoking one.

Formats: `yimen.personal_space.credential` (the YM1 text, the QR code); checks:
`yimen.personal_space.credential_check`. A certificate's revocation is an entry of the
city-wide document `credential_revocation:<issuer region>` (map `revoked`: certificate id
-> {reason, at, by}), written by the issuing node or an ancestor; it spreads like a key
revocation, so every node of the city refuses the certificate once the document reached it.
"""

from __future__ import annotations

import datetime
from typing import Any, Mapping

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import engine
from yimen.node.services import audit
from yimen.personal_space import citizen, credential, credential_check, credential_qr
from yimen.personal_space.credential import BadCredential, Claims
from yimen.personal_space.credential_check import Verdict
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import admission, certs, visibility
from yimen.sync.certs import Certificate

KIND = "credential_revocation"
MAX_REASON = admission.MAX_REASON
_CACHE = "_credential_cache"  # on the Node: doc id -> (version, parsed map)


class UnknownCertificate(NodeError):
    """No e-certificate of that id is held here."""

    code = "unknown_certificate"


class NotTheIssuer(NodeError):
    """Only the issuing node or one of its ancestors may revoke an e-certificate."""

    code = "not_the_issuer"


class NoRevocationReason(NodeError):
    """A certificate's revocation needs a reason, of a bounded length."""

    code = "invalid_input"


def revocation_id(issuer: str) -> str:
    return f"{KIND}:{issuer}"


def unix(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso).timestamp())


# -- issuing -----------------------------------------------------------------------------------
def issue(node: Node, doc_id: str, space: Mapping[str, Any]) -> bytes:
    """The COSE_Sign1 credential of space document `doc_id` (its `space` map's fields:
    doc_type, citizen_id, citizen_name, issued_on, valid_until, case_id), signed by this
    node, which issues it (the claims' issuer is this node's region, whatever `issuer` the
    map names: the key that signs is this node's)."""
    try:
        claims = credential.claims_for(doc_id, node.node_id, str(space["doc_type"]), str(space["citizen_name"]),
                                       str(space["citizen_id"]), str(space.get("case_id") or ""),
                                       unix(node.now()), str(space["issued_on"]), str(space.get("valid_until") or ""),
                                       city_key=citizen.key(node.store))
    except KeyError as e:
        raise BadCredential(f"缺少证照字段 {e.args[0]}", f"the certificate needs the field {e.args[0]}") from e
    return credential.sign(claims, node.keys.signing)


issue_for = issue  # the name the contract gives it


# -- reading what is held -----------------------------------------------------------------------
def _held_map(node: Node, doc_id: str, name: str) -> dict[str, Any]:
    """The root map `name` of a held document, parsed once per version of it."""
    version = node.store.version(doc_id)
    if version is None:
        return {}
    cache = vars(node).setdefault(_CACHE, {})
    hit = cache.get(doc_id)
    if hit is None or hit[0] != version:
        doc = node.store.get(doc_id)
        held = doc.value().get(name) if doc is not None else None
        hit = cache[doc_id] = (version, held if isinstance(held, dict) else {})
    return hit[1]


class NodeTrust:
    """`credential_check.Trust` over a node's store."""

    def __init__(self, node: Node):
        self.node, self.keys = node, node.store.keys

    def certificate(self, kid: bytes) -> Certificate | None:
        return self.keys.certificate(kid)

    def key_revoked_at(self, node_id: str, kid: bytes) -> tuple[int | None, str, str] | None:
        if not self.keys.revoked(kid, node_id):
            return None
        held = self.keys.for_seal(node_id, kid)
        times = [unix(e["at"]) for name, e in _held_map(self.node, f"revocation:{node_id}", "revoked").items()
                 if name.startswith(kid.hex() + "@") and isinstance(e, dict) and _is_time(e.get("at"))]
        return (min(times) if times else None, (held[3] or "") if held else "", (held[2] or "") if held else "")

    def key_cut(self, node_id: str, kid: bytes) -> int | None:
        held = self.keys.for_seal(node_id, kid)
        return held[1] if held else None

    def carrying_seals(self, doc_id: str, author: str) -> list[int] | None:
        if not self.node.store.exists(doc_id):
            return None
        return [seq for who, seq in self.node.store.changes.seals_of([doc_id]) if who == author]

    def credential_revoked(self, issuer: str, cert_id: str) -> dict[str, Any] | None:
        entry = _held_map(self.node, revocation_id(issuer), "revoked").get(cert_id)
        return entry if isinstance(entry, dict) else None

    def data_as_of(self) -> int | None:
        own = self.keys.certificate(certs.key_id(self.node.keys.public_key))
        if own is None or own.self_issued:  # the chain's root: the trust list starts here
            return unix(self.node.now())
        contact = next((p["last_contact"] for p in self.node.store.peers.rows() if p["peer"] == own.issuer), None)
        return unix(contact) if _is_time(contact) else None


def _is_time(v: object) -> bool:
    try:
        return isinstance(v, str) and unix(v) >= 0
    except (ValueError, OverflowError):
        return False


# -- the services -----------------------------------------------------------------------------
def verify(node: Node, text_or_bytes: str | bytes) -> Verdict:
    """The verdict on a YM1 text (as typed, scanned, or the bytes of one), from what this
    node holds, with no link. Reads nothing personal from the store: no audit entry."""
    return credential_check.verify(text_or_bytes, NodeTrust(node), unix(node.now()))


def _space(node: Node, cert_id: str) -> dict[str, Any]:
    doc = node.store.get(cert_id) if isinstance(cert_id, str) and len(cert_id) <= credential.MAX_ID else None
    space = doc.value().get("space") if doc is not None and doc.kind == "space_doc" else None
    if not isinstance(space, dict) or type(space.get("credential")) is not bytes:
        raise UnknownCertificate(f"本节点没有编号为 {cert_id} 的电子证照", f"no e-certificate {cert_id!r} is held here")
    return space


def is_holder(node: Node, verdict: Verdict, id_number: str) -> bool:
    """Is `id_number` (the card the bearer shows) the holder's? Checked against the salted
    hash under the city key, which this node holds if it is of the issuer's city."""
    return verdict.claims is not None and credential.holder_matches(verdict.claims, id_number, citizen.key(node.store))


def show(node: Node, cert_id: str, clerk: str | None = None) -> dict[str, Any]:
    """A held certificate: its YM1 text, claims and this node's verdict on it. It shows
    a citizen's data: an audit entry (`cert_show`) names the certificate and the person."""
    space = _space(node, cert_id)
    text = credential.to_text(space["credential"])
    verdict = verify(node, text)
    person = space.get("citizen_id") if isinstance(space.get("citizen_id"), str) else None
    case = verdict.claims.case_id if verdict.claims and verdict.claims.case_id else None
    audit.record(node, "cert_show", clerk, case, person, cert_id=cert_id)
    return {"cert_id": cert_id, "text": text, "chars": len(text), "qr_version": credential_qr.qr(text).version,
            "title": space.get("title"), "verdict": verdict}


def revoke(node: Node, cert_id: str, reason: str, clerk: str | None = None) -> dict[str, Any]:
    """Revoke certificate `cert_id` (this node issued it, or is an ancestor of its issuer):
    an entry in `credential_revocation:<issuer>`, sealed at once, with an audit entry."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON:
        raise NoRevocationReason(f"吊销须写明原因（不超过 {MAX_REASON} 字）",
                                 f"a revocation needs a reason of at most {MAX_REASON} characters")
    issuer = _issuer_of(node, cert_id)
    if not region.is_within(issuer, node.node_id):
        raise NotTheIssuer(f"电子证照 {cert_id} 由 {issuer} 签发，本节点（{node.node_id}）不能吊销",
                           f"e-certificate {cert_id} was issued by {issuer}: this node ({node.node_id}) cannot revoke it")
    with node.store.transaction():
        doc = node.store.get(revocation_id(issuer)) or node.store.new_doc(revocation_id(issuer), KIND, issuer)
        held = doc.value().get("revoked", {}).get(cert_id)
        if isinstance(held, dict):
            return {"cert_id": cert_id, "issuer": issuer, "already": True, **held}
        entry = {"reason": reason, "at": node.now(), "by": node.node_id}
        doc.put("revoked", cert_id, entry)
        node.store.save(doc, node.node_id)
        engine(node).seal_pending()
        audit.record(node, "cert_revoke", clerk, None, None, cert_id=cert_id, reason=reason)
    return {"cert_id": cert_id, "issuer": issuer, "already": False, **entry}


def _issuer_of(node: Node, cert_id: str) -> str:
    """The issuer a certificate's claims name, when it is held; else the region its id names."""
    try:
        return credential.parse(_space(node, cert_id)["credential"]).claims.issuer
    except (UnknownCertificate, BadCredential):
        pass
    owner = visibility.owner(cert_id, "space_doc") if isinstance(cert_id, str) else None
    if owner is None:
        raise UnknownCertificate(f"“{cert_id}”不是电子证照编号", f"{cert_id!r} is not an e-certificate id")
    try:
        return region.normalize(owner)
    except YimenError as e:
        raise UnknownCertificate(e.zh, e.en) from e


__all__ = ["issue", "issue_for", "show", "verify", "revoke", "NodeTrust", "Claims", "UnknownCertificate", "NotTheIssuer"]
