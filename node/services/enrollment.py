"""Enrollment: how a child node and its parent learn each other's keys.

The parent's admin allows a child either with a one-time invitation code for online
enrollment (`invite`, then the child's `POST /v1/enroll`) or by admitting the child's
request file (`admit`). Admitting writes the child's *node record*: a `node` document of the
child's scope, authored by the parent, which flows up to every ancestor (so they can verify
the child's seals) and down to the child. The answer gives the child the keys of the parent
and of every ancestor the parent knows. A node with no parent that admits its first child
writes its own record: it is the root of the chain.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import engine
from yimen.schema import region
from yimen.sync.engine import public_bytes

PROTOCOL = 1


class EnrollmentRefused(NodeError):
    """The parent does not admit this child (bad code, wrong region, already enrolled)."""

    code = "enrollment_refused"


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def invite(node: Node, child_region: str, hours: int = 72) -> dict[str, Any]:
    """Make a one-time invitation code for the child node of `child_region`."""
    child = _check_child(node, child_region)
    code = secrets.token_urlsafe(12)
    expires = (node.clock() + timedelta(hours=hours)).isoformat(timespec="seconds")
    with node.store.transaction():
        node.store.conn.execute("INSERT INTO invitations VALUES (?, ?, ?, ?, NULL)",
                                (_hash(code), child, expires, node.now()))
    return {"code": code, "region": child, "expires_at": expires}


def _check_child(node: Node, child_region: str) -> str:
    child = region.normalize(child_region)
    if region.parent_code(child) != node.region_code:
        raise EnrollmentRefused(f"{child} 不是本节点（{node.node_id}）的直接下级",
                                f"{child} is not a direct child of {node.node_id}")
    return child


def request(node: Node, address: str = "") -> dict[str, Any]:
    """This node's enrollment request (sent online or carried as a file)."""
    return {"type": "enroll_request", "protocol": PROTOCOL, "region": node.node_id,
            "name": node.config.name, "public_key": node.public_key_hex(), "address": address}


def admit(node: Node, req: dict[str, Any], code: str | None = None) -> dict[str, Any]:
    """Admit a child: check the request (and the invitation code, online), write the
    child's node record and seal it, and return the answer for the child."""
    child, key_hex = _validate(node, req)
    with node.store.transaction():
        if code is not None:
            _use_invitation(node, child, code)
        if node.store.get(f"node:{node.node_id}") is None and not node.config.parent_url \
                and not _knows_parent(node):
            _write_record(node, node.node_id, node.config.name, node.public_key_hex(), "", "")
        _write_record(node, child, str(req.get("name", "")), key_hex, str(req.get("address", "")), node.node_id)
        node.store.keys.trust(child, bytes.fromhex(key_hex))
        engine(node).seal_pending()
    return {"type": "enroll_answer", "protocol": PROTOCOL, "parent": node.node_id,
            "child": child, "nodes": known_ancestry(node)}


def _validate(node: Node, req: dict[str, Any]) -> tuple[str, str]:
    if not isinstance(req, dict) or req.get("type") != "enroll_request" or req.get("protocol") != PROTOCOL:
        raise EnrollmentRefused("注册申请格式错误或协议版本不符", "malformed enrollment request or wrong protocol")
    child = _check_child(node, str(req.get("region", "")))
    key_hex = str(req.get("public_key", ""))
    try:
        if len(bytes.fromhex(key_hex)) != 32:
            raise ValueError
    except ValueError:
        raise EnrollmentRefused("注册申请中的公钥无效", "the request's public key is not an Ed25519 key")
    known = node.store.keys.public_key(child)
    if known and known.hex() != key_hex:
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


def _write_record(node: Node, rc: str, name: str, key_hex: str, address: str, parent: str) -> None:
    doc = node.store.get(f"node:{rc}") or node.store.new_doc(f"node:{rc}", "node", rc)
    doc.update("node", {"region": rc, "name": name, "public_key": key_hex, "address": address,
                        "parent": parent, "admitted_at": node.now()})
    node.store.save(doc, node.node_id)
    node.store.keys.learn(rc, bytes.fromhex(key_hex))


def known_ancestry(node: Node) -> list[dict[str, Any]]:
    """This node and every ancestor it knows: region, key and address."""
    out = [{"region": node.node_id, "name": node.config.name, "public_key": node.public_key_hex(),
            "address": ""}]
    for rc in region.ancestors(node.node_id):
        rec = node.store.get(f"node:{rc}")
        key = node.store.keys.public_key(rc)
        if key is None:
            continue
        info = rec.value().get("node", {}) if rec else {}
        out.append({"region": rc, "name": info.get("name", ""), "public_key": key.hex(),
                    "address": info.get("address", "")})
    return out


def apply_answer(node: Node, answer: dict[str, Any]) -> list[str]:
    """At the child: trust the keys the parent sent. Returns the regions learnt."""
    if not isinstance(answer, dict) or answer.get("type") != "enroll_answer" or \
            answer.get("child") != node.node_id or answer.get("parent") != region.parent_code(node.node_id):
        raise EnrollmentRefused("注册答复不是给本节点的", "the enrollment answer is not for this node")
    learnt = []
    with node.store.transaction():
        for n in answer.get("nodes", []):
            rc = region.normalize(n["region"])
            if rc not in region.ancestors(node.node_id):
                raise EnrollmentRefused(f"答复中的 {rc} 不是本节点的上级", f"{rc} in the answer is not an ancestor")
            node.store.keys.trust(rc, bytes.fromhex(n["public_key"]))
            learnt.append(rc)
    return learnt


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, indent=2)


__all__ = ["invite", "request", "admit", "apply_answer", "known_ancestry", "public_bytes"]
