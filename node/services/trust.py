"""The trust list at work: revoking a node's key and rotating this node's own.

Revocation (`revoke`, at any ancestor of the node): a `revocation:<region>` document names
the node's current key and the last seal of it the revoker accepts, its highest seal
number of that node held here ("cut after seq N": no clock of a stolen machine matters).
It flows to the city and down to every node (the trust list); everywhere, that key's
seals after the cut are refused with the reason, the earlier ones stay valid, and the
node's signed requests are refused at once (`revoked_node`). The region may enroll again
with a new key and a new approval (see `enrollment`).

Rotation (`yimen key rotate`): the node seals what it holds with its old key, makes a new
signing key (the old one kept as `retiring` until the parent answers) and asks its parent,
in a request signed with the old key, for a certificate of the new one. The certificate
names the old key and its last seal (`retires`): that key's earlier seals stay valid, a
later one is refused. The request goes online over the signed request path
(`POST /v1/rotate`) or as a file admitted at the parent (`yimen key admit`).
"""

from __future__ import annotations

import re
from base64 import b64encode
from dataclasses import replace
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.node import identity
from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import engine
from yimen.node.services import audit, enrollment
from yimen.node.services.enrollment import EnrollmentRefused
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import admission, certs

PROTOCOL = 1
ROTATE_CONTEXT = b"yimen/rotate/v1\x00"
MAX_REASON = admission.MAX_REASON
_HEX = re.compile(r"[0-9a-f]+")
LAST_OLD_SEAL = "rotation:last_seal"  # meta: the last own seal signed with the retiring key


class NotAnAncestor(NodeError):
    """Only an ancestor of a node may revoke it."""

    code = "not_an_ancestor"


class UnknownNode(NodeError):
    """No key of that node is known here."""

    code = "unknown_node"


class NoReason(NodeError):
    """A revocation needs a reason, of a bounded length."""

    code = "invalid_input"


class RotationRefused(NodeError):
    """A key rotation request or answer is not taken."""

    code = "rotation_refused"


# -- revocation -------------------------------------------------------------------------------
def revoke(node: Node, target: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """Revoke the current key of descendant `target`, cut after the highest seal number of
    it held here; write the revocation, seal it, and return what was written (`by`: the
    admin, for the audit log)."""
    try:
        target = region.normalize(target)
    except YimenError as e:
        raise UnknownNode(e.zh, e.en) from e
    reason = reason.strip()
    if not 0 < len(reason) <= MAX_REASON:
        raise NoReason(f"吊销须写明原因（不超过 {MAX_REASON} 字）", f"a revocation needs a reason of at most {MAX_REASON} characters")
    if target == node.node_id or not region.is_within(target, node.node_id):
        raise NotAnAncestor(f"{target} 不是本节点（{node.node_id}）的下级，不能吊销",
                            f"{target} is not below this node ({node.node_id}): it cannot revoke it")
    key = node.store.keys.public_key(target)
    if key is None:
        raise UnknownNode(f"本节点不知道 {target} 的密钥", f"no key of {target} is known here")
    kid = certs.key_id(key)
    with node.store.transaction():
        cut = node.store.feed.last_seq(target)
        entry = {"cut": cut, "reason": reason, "revoker": node.node_id, "at": node.now()}
        doc = node.store.get(f"revocation:{target}") or node.store.new_doc(f"revocation:{target}", "revocation", target)
        doc.put("revoked", f"{kid.hex()}@{node.node_id}", entry)
        node.store.save(doc, node.node_id)
        node.store.keys.cut(kid, target, cut, "revoked", admission.revoked_reason(reason))
        engine(node).seal_pending()
        written = {"node": target, "key_id": kid.hex(), **entry}
        revocation_written(node, written, by)
    return written


def revocation_written(node: Node, revocation: dict[str, Any], by: str | None = None) -> None:
    """Called once per revocation written at this node, inside its transaction: the audit
    log's entry."""
    audit.record(node, "revoke", by, revoked=revocation["node"],
                 **{k: v for k, v in revocation.items() if k != "node"})


# -- rotation, at the child -----------------------------------------------------------------------
def _signed_bytes(req: dict[str, Any]) -> bytes:
    return ROTATE_CONTEXT + msgpack.packb([req["region"], req["public_key"], req["encryption_key"],
                                           req["tls_fingerprint"], req["retires"], req["last_seal"]])


def rotation_request(node: Node) -> dict[str, Any]:
    """Seal what this node holds with its current key, switch to a new signing key (the old
    one kept to sign this request) and return the request for the parent. Asked again
    before the answer came, the same request is made again."""
    if node.keys.retiring is None:
        engine(node).seal_pending()
        with node.store.transaction():  # the last seal the old key signs, and the new key, at once
            node.store.set_meta(LAST_OLD_SEAL, str(node.store.feed.last_seq(node.node_id)))
            identity.save(node.store, replace(node.keys, signing=Ed25519PrivateKey.generate(),
                                              retiring=node.keys.signing))
        _reload(node)
    old = node.keys.retiring
    assert old is not None
    req = {"type": "rotate_request", "protocol": PROTOCOL, "region": node.node_id, **node.keys.public(),
           "retires": certs.key_id(identity.raw_public(old)).hex(), "last_seal": int(node.store.meta(LAST_OLD_SEAL) or 0)}
    return {**req, "signature": old.sign(_signed_bytes(req)).hex()}


def apply_rotation(node: Node, answer: dict[str, Any]) -> str:
    """At the child: hold the parent's certificate of the new key and let the old one go.
    Returns the new key id."""
    if node.keys.retiring is None:
        raise RotationRefused("本节点没有待完成的密钥更换", "this node has no key rotation waiting")
    if not isinstance(answer, dict) or answer.get("type") != "rotate_answer" or answer.get("child") != node.node_id:
        raise RotationRefused("密钥更换答复不是给本节点的", "the rotation answer is not for this node")
    raw = enrollment.decoded(answer.get("certificate"), RotationRefused)
    with node.store.transaction():
        try:
            cert = certs.verify(raw, node.store.keys, engine(node).unix_now(), node.store.keys.revoked)
        except certs.BadCertificate as e:
            raise RotationRefused(f"密钥更换答复中的证书未通过检查：{e.zh}", f"the rotation certificate: {e.en}") from e
        retiring = certs.key_id(identity.raw_public(node.keys.retiring))
        if cert.region != node.node_id or cert.signing_key != node.keys.public_key or \
                cert.retires is None or cert.retires[0] != retiring:
            raise RotationRefused("答复中的证书不是本节点新密钥的", "the certificate in the answer is not for this node's new key")
        node.store.keys.add(cert, "pinned")
        node.store.delete_meta(LAST_OLD_SEAL)
        identity.save(node.store, replace(node.keys, retiring=None))
    _reload(node)
    return cert.key_id.hex()


def _reload(node: Node) -> None:
    """Forget the keys and engine cached on the node (they hold the old signing key)."""
    vars(node).pop("_keys", None)
    vars(node).pop("_engine", None)


# -- rotation, at the parent ----------------------------------------------------------------------
def certify_rotation(node: Node, req: Any, sender: str | None = None, by: str | None = None) -> dict[str, Any]:
    """At the parent: check a child's rotation request (signed with its current key, which
    must not be revoked), certify its new key retiring the old one after its last seal, write
    the child's node record and seal it (`by`: the admin certifying a request file, for the
    audit log). Returns the answer for the child."""
    child, old = _check_rotation(node, req, sender)
    new_key = bytes.fromhex(req["public_key"])
    known = node.store.keys.certificate(certs.key_id(new_key))
    if known is None:
        public = {k: req[k] for k in ("public_key", "encryption_key", "tls_fingerprint")}
        with node.store.transaction():
            known = enrollment.issue(node, child, old.name, public, retires=(old.key_id, req["last_seal"]))
            enrollment.write_record(node, known)
            engine(node).seal_pending()
            audit.record(node, "key_certify", by, child=child, key_id=known.key_id.hex(), online=sender is not None)
    elif known.region != child:
        raise RotationRefused("新密钥已属于其他节点", "the new key belongs to another node")
    return {"type": "rotate_answer", "protocol": PROTOCOL, "child": child,
            "certificate": b64encode(known.raw).decode()}


def _check_rotation(node: Node, req: Any, sender: str | None) -> tuple[str, certs.Certificate]:
    if not isinstance(req, dict) or req.get("type") != "rotate_request" or req.get("protocol") != PROTOCOL:
        raise RotationRefused("密钥更换申请格式错误或协议版本不符", "malformed key rotation request or wrong protocol")
    try:
        enrollment._check_form({**req, "type": "enroll_request"})
    except EnrollmentRefused as e:
        raise RotationRefused(e.zh, e.en) from e
    child = region.normalize(req["region"])
    if region.parent_code(child) != node.node_id or (sender is not None and sender != child):
        raise RotationRefused(f"{child} 不是本节点的直接下级", f"{child} is not a direct child of this node")
    kid, last, sig = req.get("retires"), req.get("last_seal"), req.get("signature")
    if not (isinstance(kid, str) and len(kid) == 2 * certs.KEY_ID_BYTES and _HEX.fullmatch(kid)
            and type(last) is int and 0 <= last < 2**63 and isinstance(sig, str) and len(sig) == 128
            and _HEX.fullmatch(sig)):
        raise RotationRefused("密钥更换申请的字段不合规", "a field of the key rotation request is out of bounds")
    old = node.store.keys.certificate(bytes.fromhex(kid))
    if old is None or old.region != child or node.store.keys.public_key(child) != old.signing_key:
        raise RotationRefused(f"申请中的旧密钥不是 {child} 的当前密钥", f"the old key named is not {child}'s current key")
    if node.store.keys.revoked(old.key_id, child):
        raise RotationRefused(f"{child} 的密钥已被吊销，须重新注册", f"the key of {child} has been revoked: it must enroll again")
    try:
        Ed25519PublicKey.from_public_bytes(old.signing_key).verify(bytes.fromhex(sig), _signed_bytes(req))
    except InvalidSignature as e:
        raise RotationRefused("密钥更换申请的签名无效", "bad signature on the key rotation request") from e
    if node.store.keys.revoked(certs.key_id(bytes.fromhex(req["public_key"])), child):
        raise RotationRefused("新密钥已被吊销", "the new key has been revoked")
    return child, old


async def rotate_online(node: Node, url: str) -> str:
    """Rotate this node's key with its parent at `url` (the request signed with the old
    key over the signed request path); returns the new key id."""
    import aiohttp  # only this command needs the HTTP client
    from yimen.sync.errors import SyncError
    from yimen.sync.transports.http import LINK_ERRORS, HttpTransport

    req = rotation_request(node)
    parent = region.parent_code(node.node_id) or ""
    try:
        async with aiohttp.ClientSession() as session:
            answer = await HttpTransport(session, url, parent, node.node_id, node.keys.retiring).call(
                "/v1/rotate", {"request": req})
    except SyncError as e:
        raise RotationRefused(f"上级拒绝更换密钥：{e.zh}", f"the parent refused the rotation: {e.en}") from e
    except LINK_ERRORS as e:
        raise RotationRefused(f"无法连接上级 {url}：{e}", f"cannot reach the parent at {url}: {e}") from e
    return apply_rotation(node, answer)


def known_keys(node: Node) -> list[dict[str, Any]]:
    """Every key of the trust list held here: node, key id, where it came from, its cut."""
    return [{"node": n, "key_id": kid.hex(), "source": source, "state": kind or "valid", "cut": cut, "reason": reason,
             "reason_zh": reason_zh} for n, kid, source, kind, cut, reason, reason_zh in node.store.keys.known()]
