"""Enrollment: how a child node and its parent learn each other's keys.

The parent's admin allows a child either with a one-time invitation code for online
enrollment (`invite`, then the child's `POST /v1/enroll`) or by admitting the child's
request file (`admit`). Admitting issues the child's certificate (`yimen.sync.certs`) and
writes the child's *node record*: a `node` document of the child's scope, authored by the
parent, carrying the certificate, which flows to the city and from there to every node of
the city (the trust list). The answer gives the child its certificate and the chain of
certificates up to the root, which the child pins. A node with no parent that admits its
first child issues its own certificate and writes its own record: it is the root.

A region whose node's key was revoked may enroll again, with a new key and a new approval
(an invitation code or an admitted request file); a revoked key is refused.

A request is checked for its form first (`MalformedEnrollment`: types, lengths, and for
an online body its size and nesting before it is parsed), then against the node's state
(`EnrollmentRefused`: the code, the region, a node already enrolled there). Online, a
refusal of the second kind is answered alike whatever its reason (`REFUSED_EN`), since
each reason tells a stranger something; the admin sees the reason in the node's log.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import timedelta
from typing import Any

from base64 import b64decode, b64encode

from pyrage import x25519

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.projections import refresh
from yimen.personal_space import citizen
from yimen.node.replication import engine
from yimen.node.services import audit
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import certs
from yimen.sync.certs import Certificate
from yimen.sync.engine import public_bytes

PROTOCOL = 1
MAX_BODY = 16 << 10  # a request is a few hundred bytes
MAX_DEPTH = 3  # {"request": {...}} is 2 deep
MAX_FILE, MAX_FILE_DEPTH = 1 << 20, 8  # an answer with its chain and ancestry is a few KB, 3 deep
MAX_CODE, MAX_NAME, MAX_ADDRESS = 128, 100, 300
_KEY_HEX = re.compile(r"[0-9a-fA-F]{64}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
MAX_AGE_KEY = 100  # an age X25519 recipient is 62 characters
MAX_INVITE_HOURS = 30 * 24
CERT_DAYS = 5 * 365  # a node's certificate; `yimen key rotate` renews it
ROOT_DAYS = 20 * 365
REFUSED_ZH = "请与上级管理员核对邀请码和本节点的区划代码（原因已记入上级的日志）"
REFUSED_EN = "check the invitation code and this node's region code with the parent's admin (the parent's log holds the reason)"


class EnrollmentRefused(NodeError):
    """The parent does not admit this child (bad code, wrong region, already enrolled)."""

    code = "enrollment_refused"


class MalformedEnrollment(EnrollmentRefused):
    """An enrollment request that is not well formed (which says nothing of the parent)."""

    code = "bad_request"


def refused_by_parent(answer: Any) -> EnrollmentRefused:
    """The parent's error answer to an online enrollment, in both languages (an answer
    without `message_zh`, from an older node, has only the English text to show)."""
    answer = answer if isinstance(answer, dict) else {}
    en = str(answer.get("message") or answer.get("error") or "?")
    return EnrollmentRefused(f"上级拒绝注册：{answer.get('message_zh') or en}", f"the parent refused: {en}")


def split_code(code: str) -> tuple[str, str | None]:
    """An invitation code's secret and the parent's TLS pin it carries (`secret.pin`; a
    code of an older Yimen has no pin). The secret's alphabet (URL-safe base64) has no dot."""
    secret, _, pin = code.strip().partition(".")
    return secret, pin.lower() or None


def _hash(code: str) -> str:
    return hashlib.sha256(split_code(code)[0].encode()).hexdigest()


def invite(node: Node, child_region: str, hours: int = 72, by: str | None = None) -> dict[str, Any]:
    """Make a one-time invitation code for the child node of `child_region` (`by`: the
    admin, for the audit log). The code carries this node's TLS certificate pin after a
    dot, so that the child's very first contact (`POST /v1/enroll`) is pinned too; only the
    part before the dot is secret."""
    if not 1 <= hours <= MAX_INVITE_HOURS:
        raise EnrollmentRefused(f"邀请码的有效时间须为 1–{MAX_INVITE_HOURS} 小时",
                                f"an invitation is valid for 1 to {MAX_INVITE_HOURS} hours")
    child = _check_child(node, child_region)
    secret = secrets.token_urlsafe(12)
    expires = (node.clock() + timedelta(hours=hours)).isoformat(timespec="seconds")
    with node.store.transaction():
        node.store.conn.execute("INSERT INTO invitations VALUES (?, ?, ?, ?, NULL)",
                                (_hash(secret), child, expires, node.now()))
        audit.record(node, "invite", by, region=child, expires_at=expires)
    return {"code": f"{secret}.{node.keys.tls_fingerprint}", "region": child, "expires_at": expires,
            "tls_fingerprint": node.keys.tls_fingerprint}


def _check_child(node: Node, child_region: str) -> str:
    child = region.normalize(child_region)
    if region.parent_code(child) != node.region_code:
        raise EnrollmentRefused(f"{child} 不是本节点（{node.node_id}）的直接下级",
                                f"{child} is not a direct child of {node.node_id}")
    return child


def parse(text: str, what: tuple[str, str] = ("注册申请或答复", "enrollment request or answer")) -> Any:
    """A request or answer carried as a file or pasted into a page: JSON of at most
    `MAX_FILE` characters, nested at most `MAX_FILE_DEPTH` deep (checked before parsing)."""
    try:
        if len(text) > MAX_FILE or json_depth(text) > MAX_FILE_DEPTH:
            raise ValueError("too large or too deep")
        return json.loads(text)
    except ValueError as e:
        raise EnrollmentRefused(f"这不是{what[0]}（不是有效的 JSON）", f"this is no {what[1]} (not valid JSON)") from e


def json_depth(text: str) -> int:
    """How deeply `text`'s arrays and objects nest, counted without parsing it (the parser
    recurses: deep nesting is a RecursionError). Brackets inside strings do not count."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_online(raw: bytes) -> tuple[dict[str, Any], str]:
    """The request and the invitation code of an online enrollment body (at most
    `MAX_BODY` bytes, which the server bounds while reading)."""
    try:
        text = raw.decode("utf-8")
        if json_depth(text) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH}")
        message = json.loads(text)
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedEnrollment("注册请求不是有效的 JSON", f"the enrollment is not valid JSON: {e}") from e
    code = message.get("code") if isinstance(message, dict) else None
    if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE or not isinstance(message.get("request"), dict):
        raise MalformedEnrollment(f"注册请求须含申请和不超过 {MAX_CODE} 字的邀请码",
                                  f"an enrollment holds a request and an invitation code of at most {MAX_CODE} "
                                  "characters")
    _check_form(message["request"])
    return message["request"], code


def _check_form(req: Any) -> None:
    if not isinstance(req, dict) or req.get("type") != "enroll_request" or type(req.get("protocol")) is not int \
            or req["protocol"] != PROTOCOL:
        raise MalformedEnrollment("注册申请格式错误或协议版本不符", "malformed enrollment request or wrong protocol")
    if not isinstance(req.get("region"), str):  # (normalize's cache would fail on a list)
        raise MalformedEnrollment("注册申请的区划代码须为文字", "the request's region must be text")
    try:
        region.normalize(req["region"])
    except YimenError as e:
        raise MalformedEnrollment(f"注册申请的区划代码无效：{e.zh}", f"the request's region: {e.en}") from e
    for name, limit in (("name", MAX_NAME), ("address", MAX_ADDRESS)):
        if not isinstance(req.get(name, ""), str) or len(req.get(name, "")) > limit:
            raise MalformedEnrollment(f"注册申请的字段 {name} 须为不超过 {limit} 字的文字",
                                      f"the request's {name} must be text of at most {limit} characters")
    if not isinstance(req.get("public_key"), str) or not _KEY_HEX.fullmatch(req["public_key"]):
        raise MalformedEnrollment("注册申请中的公钥无效", "the request's public key is not an Ed25519 key")
    check_transit(req, MalformedEnrollment)


def check_transit(info: Any, error: type[EnrollmentRefused]) -> tuple[str, str]:
    """The (encryption key, TLS fingerprint) a request or an answer's node entry gives,
    checked: an age X25519 recipient and a SHA-256 hex digest."""
    enc, fp = info.get("encryption_key"), info.get("tls_fingerprint")
    if not isinstance(fp, str) or not _FINGERPRINT.fullmatch(fp):
        raise error("注册信息中的 TLS 证书指纹无效", "the TLS certificate fingerprint is not a SHA-256 hex digest")
    if not isinstance(enc, str) or len(enc) > MAX_AGE_KEY or not enc.isascii():
        raise error("注册信息中的加密公钥无效", "the encryption key is not an age X25519 recipient")
    try:
        x25519.Recipient.from_str(enc)
    except Exception as e:  # noqa: BLE001 (pyrage raises its own error types)
        raise error("注册信息中的加密公钥无效", "the encryption key is not an age X25519 recipient") from e
    return enc, fp


def request(node: Node, address: str = "") -> dict[str, Any]:
    """This node's enrollment request (sent online or carried as a file)."""
    return {"type": "enroll_request", "protocol": PROTOCOL, "region": node.node_id,
            "name": node.config.name, **node.keys.public(), "address": address}


def admit(node: Node, req: dict[str, Any], code: str | None = None, by: str | None = None) -> dict[str, Any]:
    """Admit a child: check the request (and the invitation code, online), issue its
    certificate, write its node record and seal it, and return the answer for the child
    (`by`: the admin admitting a request file, for the audit log)."""
    child, key_hex = _validate(node, req)
    with node.store.transaction():
        if code is not None:
            _use_invitation(node, child, code)
        if own_certificate(node) is None and not node.config.parent_url and not _knows_parent(node):
            _become_root(node)
        public = {"public_key": key_hex, "encryption_key": req["encryption_key"],
                  "tls_fingerprint": req["tls_fingerprint"]}
        cert = issue(node, child, req.get("name", ""), public)
        write_record(node, cert, req.get("address", ""))
        engine(node).seal_pending()
        audit.record(node, "admit", by, child=child, online=code is not None)
    return {"type": "enroll_answer", "protocol": PROTOCOL, "parent": node.node_id, "child": child,
            "certificate": b64encode(cert.raw).decode(), "chain": [b64encode(c.raw).decode() for c in chain(node)],
            "nodes": known_ancestry(node)}


def own_certificate(node: Node) -> Certificate | None:
    """This node's certificate for its current signing key, once enrolled (or root)."""
    return node.store.keys.certificate(certs.key_id(node.keys.public_key))


def issue(node: Node, child: str, name: str, public: dict[str, str],
          retires: tuple[bytes, int] | None = None) -> Certificate:
    """A certificate for `child`, signed by this node (which must hold its own)."""
    if own_certificate(node) is None:
        raise EnrollmentRefused("本节点尚未注册到上级，不能接纳下级", "this node is not enrolled itself: it cannot admit children")
    now = engine(node).unix_now()
    return certs.issue(node.keys.signing, node.node_id, child, name, public, now, now + CERT_DAYS * 86400, retires)


def _become_root(node: Node) -> None:
    now = engine(node).unix_now()
    root = certs.issue(node.keys.signing, node.node_id, node.node_id, node.config.name, node.keys.public(),
                       now, now + ROOT_DAYS * 86400)
    write_record(node, root, "", source="pinned")
    # The city key citizens are found by (`personal_space.citizen`): the root's, in its record.
    doc = node.store.get(f"node:{node.node_id}")
    if not doc.value().get("node", {}).get(citizen.RECORD_FIELD):
        doc.put("node", citizen.RECORD_FIELD, citizen.new_key())
        node.store.save(doc, node.node_id)
    refresh(node.store, doc, node.calendar)  # this node now derives subjects with it


def chain(node: Node) -> list[Certificate]:
    """This node's certificate and its issuers' up to the root."""
    out, cert = [], own_certificate(node)
    while cert is not None and len(out) <= len(region.ancestors(node.node_id)):
        out.append(cert)
        cert = None if cert.self_issued else node.store.keys.certificate(cert.issuer_key_id)
    return out


def _validate(node: Node, req: dict[str, Any]) -> tuple[str, str]:
    _check_form(req)
    child = _check_child(node, req["region"])
    key_hex = req["public_key"].lower()
    if node.store.keys.revoked(certs.key_id(bytes.fromhex(key_hex)), child):
        raise EnrollmentRefused(f"{child} 的这把密钥已被吊销，须以新密钥重新注册",
                                f"this key of {child} has been revoked: enroll again with a new key")
    known = node.store.keys.public_key(child)
    if known and known.hex() != key_hex and node.store.keys.revocation(child) is None:
        raise EnrollmentRefused(f"区划 {child} 已有节点", f"region {child} already has a node")
    return child, key_hex


def _use_invitation(node: Node, child: str, code: str) -> None:
    row = node.store.conn.execute("SELECT region, expires_at, used_by FROM invitations WHERE code_hash = ?",
                                  (_hash(code),)).fetchone()
    if row is None or row[0] != child:
        raise EnrollmentRefused("邀请码无效", "invalid invitation code")
    if row[2] is not None:
        raise EnrollmentRefused("邀请码已使用", "the invitation code was already used")
    if row[1] < node.now():
        raise EnrollmentRefused("邀请码已过期", "the invitation code has expired")
    node.store.conn.execute("UPDATE invitations SET used_by = ? WHERE code_hash = ?", (child, _hash(code)))


def _knows_parent(node: Node) -> bool:
    parent = region.parent_code(node.node_id)
    return parent is not None and node.store.keys.public_key(parent) is not None


def write_record(node: Node, cert: Certificate, address: str | None = None, source: str = "record") -> None:
    """Put a certificate this node issued into its subject's node record (seal pending) and
    hold it; `address` (the subject's URL, None: keep it) goes beside it."""
    rc = cert.region
    doc = node.store.get(f"node:{rc}") or node.store.new_doc(f"node:{rc}", "node", rc)
    info = {"region": rc, "name": cert.name, "parent": "" if cert.self_issued else node.node_id,
            "admitted_at": node.now()}
    doc.update("node", info if address is None else {**info, "address": address})
    doc.put("certificates", cert.key_id.hex(), cert.raw)
    node.store.save(doc, node.node_id)
    node.store.keys.add(cert, source)


def known_ancestry(node: Node) -> list[dict[str, Any]]:
    """This node and every ancestor it knows: region, keys (signing, encryption, TLS pin)
    and address."""
    out = [{"region": node.node_id, "name": node.config.name, **node.keys.public(), "address": ""}]
    for rc in region.ancestors(node.node_id):
        rec = node.store.get(f"node:{rc}")
        key, transit = node.store.keys.public_key(rc), node.store.keys.transit(rc)
        if key is None or transit is None:
            continue
        info = rec.value().get("node", {}) if rec else {}
        out.append({"region": rc, "name": info.get("name", ""), "public_key": key.hex(),
                    "encryption_key": transit[0], "tls_fingerprint": transit[1],
                    "address": info.get("address", "")})
    return out


def apply_answer(node: Node, answer: dict[str, Any], by: str | None = None) -> list[str]:
    """At the child: pin the chain's root, check the chain down to this node's own
    certificate, and hold them (`by`: the admin, for the audit log). Returns the regions
    learnt (parent first)."""
    if not isinstance(answer, dict) or answer.get("type") != "enroll_answer" or \
            answer.get("child") != node.node_id or answer.get("parent") != region.parent_code(node.node_id):
        raise EnrollmentRefused("注册答复不是给本节点的", "the enrollment answer is not for this node")
    given = answer.get("chain")
    if not isinstance(given, list) or not 0 < len(given) <= len(region.ancestors(node.node_id)):
        raise EnrollmentRefused("注册答复缺少证书链", "the enrollment answer holds no certificate chain")
    ancestry = [decoded(c) for c in given]
    with node.store.transaction():
        now = engine(node).unix_now()
        learnt = []
        for i, raw in enumerate(reversed(ancestry)):  # root first: each verifies against the one before
            cert = _verified(node, raw, now, pinned_root=i == 0)
            if cert.region not in region.ancestors(node.node_id) or (i == 0) != cert.self_issued:
                raise EnrollmentRefused(f"答复中的 {cert.region} 不是本节点的上级", f"{cert.region} in the answer is not an ancestor")
            node.store.keys.add(cert, "pinned")
            learnt.append(cert.region)
        own = _verified(node, decoded(answer.get("certificate")), now)
        if own.region != node.node_id or own.signing_key != node.keys.public_key or learnt[-1] != answer["parent"]:
            raise EnrollmentRefused("答复中的证书不是本节点的", "the certificate in the answer is not this node's")
        node.store.keys.add(own, "pinned")
        audit.record(node, "enroll", by, parent=answer["parent"], learnt=learnt[::-1])
    return learnt[::-1]


def decoded(text: Any, error: type[NodeError] = EnrollmentRefused) -> bytes:
    """A certificate's bytes from an answer's base64 text (bounded), else `error`."""
    try:
        if not isinstance(text, str) or len(text) > 4 * certs.MAX_CERT_BYTES:
            raise ValueError("not a certificate's text")
        return b64decode(text, validate=True)
    except ValueError as e:
        raise error("答复中的证书格式错误", "a certificate in the answer is malformed") from e


def _verified(node: Node, raw: bytes, now: int, pinned_root: bool = False) -> Certificate:
    try:
        return certs.verify(raw, node.store.keys, now, node.store.keys.revoked, pinned_root=pinned_root)
    except certs.BadCertificate as e:
        raise EnrollmentRefused(f"注册答复中的证书未通过检查：{e.zh}", f"a certificate in the enrollment answer: {e.en}") from e


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, indent=2)


__all__ = ["invite", "split_code", "request", "read_online", "admit", "apply_answer", "known_ancestry", "json_depth",
           "public_bytes", "EnrollmentRefused", "MalformedEnrollment"]
