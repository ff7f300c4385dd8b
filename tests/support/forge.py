"""What a stolen key can sign: documents with any id and any body, sealed under any header
and signed with the key, and seal bodies taken apart and put back together. Shared by the
stolen-key suite and the mutators of the fuzz suites (`support.mutate`).

Every document is made with Loro like a real one (its change span is real, so a receiver's
span check passes): only what the thief chose to write is false. `bad_case` stores, as a
node's own change, a case no projection can list (what a faulty build might sign).
"""

from __future__ import annotations

import zlib
from typing import Any, Iterable

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from support import id_number
from yimen.node import home
from yimen.node.home import Node
from yimen.schema import case as lifecycle
from yimen.schema.case import Event
from yimen.sync import seal as seals
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.seal import SealedChange

SealPair = tuple[bytes, bytes]  # (body, signature), as batches carry seals


def change_of(doc: Doc) -> SealedChange:
    """Commit `doc`'s pending edits and return them as a seal carries them."""
    ch = doc.commit()
    assert ch is not None, "nothing to commit"
    return SealedChange(doc.doc_id, doc.kind, ch.peer, ch.counter_start, ch.counter_end, doc.export_change(ch))


def case_doc(case_id: str, scope: str, peer: int | None = None, *, claims: str | None = None,
             applicant_name: Any = "伪造申请人", item: tuple[str, str, int] = ("440600000000", "T-IMM", 1),
             events: Iterable[Event] = ()) -> Doc:
    """A case document as `record` makes one, with whatever the thief puts in it:
    `claims` is the node its body names (by default the region in its id)."""
    node = claims or case_id.split("-")[0]
    doc = Doc.new(case_id, "case", scope, peer if peer is not None else new_peer_id())
    doc.update("meta", {"doc_id": case_id, "kind": "case", "scope": node})
    doc.update("case", {"case_id": case_id, "item_publisher": item[0], "item_code": item[1], "item_version": item[2],
                        "applicant_id": "440608199001010011", "applicant_name": applicant_name,
                        "applicant_phone": "", "node": node})
    doc.update("materials", {})
    for ev in events:
        doc.append("history", ev.to_dict())
    return doc


def refusal(node: str, at: str, reason: str = "伪造的不予受理") -> Event:
    """A window refusal (不予受理): what a weekly supervision report lists."""
    return Event("not_accepted", "c01", "社保", node, at, reason=reason)


def decision(held: Doc, event: Event, peer: int | None = None) -> SealedChange:
    """An event appended to a copy of a case held at the thief's node, by a Loro peer of
    the thief's (a change that depends on the copy, as a real decision does)."""
    doc = Doc.from_bytes(held.doc_id, held.kind, held.scope, held.oplog(), peer or new_peer_id())
    doc.append("history", event.to_dict())
    return change_of(doc)


def sealed(key: Ed25519PrivateKey, author: str, seq: int, scope: str, changes: list[SealedChange],
           down: bool = False) -> SealPair:
    s = seals.make(key, author, seq, scope, down, changes)
    return s.body, s.signature


def unpack_body(body: bytes) -> list[Any]:
    """A seal body as its array: [protocol, author, seq, scope, down, rows]."""
    return msgpack.unpackb(zlib.decompress(body), raw=False, strict_map_key=False)


def pack_body(fields: list[Any]) -> bytes:
    """An array back into a seal body, whatever it holds (no check: a thief makes none)."""
    return zlib.compress(msgpack.packb(fields, use_bin_type=True), 6)


def next_receipts(node: Node, n: int) -> list[str]:
    """The receipt numbers `node` will give its next `n` cases."""
    year = node.clock().year
    done = int(node.store.meta(f"seq:case:{year}") or 0)
    return [f"{node.region_code}-{year}-{k:06d}" for k in range(done + 1, done + 1 + n)]


# (field, value) pairs SQLite cannot bind or no column holds
UNBINDABLE = [("applicant_name", ["陈", "美玲"]), ("applicant_id", {"n": 1}), ("item_version", 2**70),
              ("item_code", "x" * 300), ("applicant_name", "名" * 30_000)]


def bad_case(node: home.Node, field: str, value: Any) -> str:
    """Store a case under `node`'s next receipt number whose `field` holds `value`, as
    `node`'s own change (not projected here); returns its id."""
    store, year = node.store, node.clock().year
    with store.transaction():
        case_id = f"{node.region_code}-{year}-{store.next_sequence(f'case:{year}'):06d}"
        doc = store.new_doc(case_id, "case", node.region_code)
        doc.update("case", {"case_id": case_id, "item_publisher": "440600000000", "item_code": "T-IMM", "item_version": 1,
                            "applicant_id": id_number(9),
                            "applicant_name": "陈", "node": node.node_id, field: value})
        doc.append("history", lifecycle.Event("accept", "c01", "社保", node.node_id, node.now()).to_dict())
        store.save(doc, node.node_id)
    return case_id
