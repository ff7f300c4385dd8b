"""The outside anchor of a node's audit log: at each sync round the node sends its parent
its log head as a signed checkpoint with a consistency proof from the last checkpoint the
parent countersigned (RFC 6962, `pymerkle`), on its own signed route `/v1/checkpoint`
after the push. The parent checks that the new checkpoint extends the one it holds,
countersigns it, keeps it (`audit_children`) and answers it; the node keeps the
countersigned checkpoint (`audit_checkpoints`), against which `yimen audit verify` checks
the log. A node that rewrote its log, even with its own key, cannot prove that the new
head extends the old one: the parent refuses it, records the refusal (its own audit log
and `yimen status`), and the rest of the round is not affected.

Its own route rather than a step of the sync session: the log is the node's, not a
replicated document, and `sync/` stays ignorant of it. A bundle carries no checkpoint:
the bundle format is the session's, and a checkpoint waits for the next online round.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pymerkle import ConsistencyProof, InvalidProof, verify_consistency

from yimen.node.audit import log, note
from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.schema import region
from yimen.sync.transports.wire import WireError

logger = logging.getLogger("yimen.audit")


class CheckpointRefused(NodeError):
    """The child's audit checkpoint does not extend the one this node countersigned before."""

    code = "checkpoint_refused"


def origin(node_id: str) -> str:
    """A node's log origin, which is also the name of its key on its checkpoints."""
    return f"yimen.audit/{node_id}"


def parent_key_name(parent_id: str) -> str:
    return f"yimen.node/{parent_id}"


def parent_of(node: Node) -> tuple[str, bytes] | None:
    """(parent id, its public key) when the node is enrolled under a parent."""
    parent = region.parent_code(node.node_id)
    key = node.store.keys.public_key(parent) if parent else None
    return (parent, key) if key else None


def last_kept(node: Node) -> int:
    return node.store.conn.execute("SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints").fetchone()[0]


def offer(node: Node, since: int | None = None) -> dict[str, Any] | None:
    """What the node sends: its head signed, and a proof that it extends size `since`
    (default: the last countersigned size). None when the parent already holds the head."""
    tree = log.tree(node.store)
    size = tree.get_size()
    if since is None:
        since = last_kept(node)
        if size == since:
            return None
    if size == 0 or since > size:
        return None if size == 0 else {"checkpoint": _head(node, size), "since": since, "proof": None}
    proof = tree.prove_consistency(since, size).serialize() if since else None
    return {"checkpoint": _head(node, size), "since": since, "proof": proof}


def _head(node: Node, size: int) -> str:
    return note.make(origin(node.node_id), size, log.tree(node.store).get_root(size), node.keys.signing).note()


def keep(node: Node, sent: str, answer: Any) -> int:
    """Keep the parent's countersigned checkpoint (the one sent, with the parent's
    signature added); returns its size."""
    parent = parent_of(node)
    cp = note.parse(answer)
    if parent is None or cp.text != note.parse(sent).text or not cp.signed_by(parent_key_name(parent[0]), parent[1]):
        raise note.BadNote("上级的审计检查点会签无效", "the parent's countersignature on the audit checkpoint is invalid")
    with node.store.transaction():
        node.store.conn.execute("INSERT OR IGNORE INTO audit_checkpoints (size, note, kept_at) VALUES (?, ?, ?)",
                                (cp.size, cp.note(), node.now()))
        node.store.delete_meta(REFUSED)
    return cp.size


def _held(node: Node, child: str) -> note.Checkpoint | None:
    row = node.store.conn.execute("SELECT note FROM audit_children WHERE child = ?", (child,)).fetchone()
    return note.parse(row[0]) if row else None


def _extends(held: note.Checkpoint | None, cp: note.Checkpoint, proof: Any) -> str:
    """Why `cp` does not extend `held` ("" when it does)."""
    if held is None:
        return ""
    if cp.size < held.size:
        return f"it holds {cp.size} entries, fewer than the {held.size} countersigned before"
    if cp.size == held.size:
        return "" if cp.root == held.root else f"its root at {cp.size} entries differs from the one countersigned"
    try:
        verify_consistency(held.root, cp.root, ConsistencyProof.deserialize(proof), prior_size=held.size,
                           later_size=cp.size, algorithm="sha256")
    except InvalidProof:
        return f"it does not prove that it extends the {held.size} entries countersigned before"
    return ""


def countersign_child(node: Node, child: str, message: dict[str, Any]) -> str:
    """The parent's side: check a child's checkpoint, countersign and keep it, or record
    the refusal and raise `CheckpointRefused`. A proof from another size than the one held
    is answered `checkpoint_prior` with that size (the child's last answer was lost)."""
    cp = note.parse(message.get("checkpoint"))
    key = node.store.keys.public_key(child)
    if cp.origin != origin(child) or key is None or not cp.signed_by(cp.origin, key):
        raise note.BadNote("审计检查点不是该下级签署的", f"the audit checkpoint is not signed by {child}")
    held = _held(node, child)
    if held is not None and cp.size > held.size and message.get("since") != held.size:
        raise WireError("checkpoint_prior", f"本节点持有的检查点为 {held.size} 条", f"the checkpoint held is at {held.size}",
                        held=held.size)
    why = _extends(held, cp, message.get("proof"))
    with node.store.transaction():
        if why:
            _refused(node, child, cp, held, why)
        else:
            signed = note.countersign(cp, parent_key_name(node.node_id), node.keys.signing)
            node.store.conn.execute(
                "INSERT INTO audit_children (child, size, note, kept_at, refused) VALUES (?, ?, ?, ?, NULL)"
                " ON CONFLICT (child) DO UPDATE SET size = excluded.size, note = excluded.note,"
                " kept_at = excluded.kept_at, refused = NULL", (child, cp.size, signed.note(), node.now()))
    if why:
        raise CheckpointRefused(f"下级 {child} 的审计日志与本节点会签过的检查点（{held.size} 条）不一致：其历史已被改写",
                                f"the audit log of {child} does not extend the checkpoint countersigned here "
                                f"({held.size} entries; {why}): its history was rewritten")
    return signed.note()


def _refused(node: Node, child: str, cp: note.Checkpoint, held: note.Checkpoint, why: str) -> None:
    """Note the refusal for `yimen status`, and in the audit log once per refused head
    (the child repeats it every round)."""
    from yimen.node.services import audit  # the service records; it imports this module
    row = node.store.conn.execute("SELECT refused FROM audit_children WHERE child = ?", (child,)).fetchone()
    last = json.loads(row[0]) if row and row[0] else {}
    if last.get("root") != cp.root.hex() or last.get("size") != cp.size:
        audit.record(node, "checkpoint_refused", None, child=child, size=cp.size, held=held.size, why=why)
    node.store.conn.execute("UPDATE audit_children SET refused = ? WHERE child = ?",
                            (json.dumps({"at": node.now(), "size": cp.size, "held": held.size, "why": why,
                                         "root": cp.root.hex()}), child))


def refusals(node: Node) -> list[dict[str, Any]]:
    """Children whose last checkpoint was refused (for `yimen status`)."""
    return [{"child": c, **json.loads(r)} for c, r in node.store.conn.execute(
        "SELECT child, refused FROM audit_children WHERE refused IS NOT NULL ORDER BY child")]


REFUSED = "audit:checkpoint_refused"  # meta: the parent's last refusal, until a checkpoint is kept again


async def send(node: Node, transport: Any) -> int | None:
    """The node's side, after a round's push: offer the head to the parent (one retry from
    the size the parent holds) and keep its countersignature; returns the size kept.
    Nothing here fails the round: a refusal or a failure is logged (a refusal once, until
    a checkpoint is kept again: a node restored from a backup is refused every round)."""
    from yimen.node.replication import in_db  # (it imports the services)
    from yimen.sync.transports.http import LINK_ERRORS
    parent = await in_db(node, parent_of, node)
    if parent is None or transport.peer != parent[0]:
        return None  # only the parent countersigns: it holds the checkpoints of this node
    since = None
    try:
        for _ in range(2):
            message = await in_db(node, offer, node, since)
            if message is None:
                return None
            try:
                answer = await transport.call("/v1/checkpoint", message)
            except WireError as e:
                if e.code != "checkpoint_prior" or type(e.extra.get("held")) is not int or since is not None:
                    raise
                since = e.extra["held"]
                continue
            return await in_db(node, keep, node, message["checkpoint"], answer.get("countersigned"))
    except (WireError, NodeError) as e:
        await in_db(node, _failed, node, transport.peer, e.zh, e.en)
    except LINK_ERRORS as e:
        await in_db(node, _failed, node, transport.peer, f"上级无法连接（{type(e).__name__}）", f"{type(e).__name__}: {e}")
    return None


def _failed(node: Node, peer: str, zh: str, en: str) -> None:
    """Keep the failure for `yimen status` (both languages: the reader chooses) and log it
    once."""
    text = json.dumps({"zh": zh, "en": en}, ensure_ascii=False)
    if node.store.meta(REFUSED) != text:
        logger.warning("audit checkpoint not countersigned by %s: %s", peer, en)
        with node.store.transaction():
            node.store.set_meta(REFUSED, text)


def refused_by_parent(node: Node, lang: str) -> str | None:
    """Why the parent did not countersign the last checkpoint offered (None: it did)."""
    raw = node.store.meta(REFUSED)
    return json.loads(raw)[lang] if raw else None
