"""Receiving space seals outside the stream: a node holding a citizen's live consent (or
above one, relaying it down) is handed the original seals of the documents it covers
(`yimen.node.services.space_delivery` asks and answers). Such a node is neither the
documents' home nor an ancestor of it, so the seals never enter its feed (append-only,
relayed up): they are kept in `store.on_demand`, and dropped with their documents when the
consent ends (`Store.purge`).

Each seal is checked like any other (`admission.check`: the author's key and cut, the
signature, `may_write`, one document per space seal), and also: it is a space seal, and
this node is not on the stream's way for it (a home or an ancestor gets it in the feed).
It is then stored and applied (`apply_seal`, projections through the engine's hook) in a
savepoint of the caller's one transaction: a seal held already is a duplicate, a refused
one is quarantined with its reason (its bytes not kept: a seal waiting for its author's key
would be retried into the feed) and never blocks the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yimen.sync import admission
from yimen.sync import seal as seals
from yimen.sync.apply import Receipt, apply_seal
from yimen.sync.seal import BadSeal, Seal
from yimen.sync.store.repos import seal_digest
from yimen.sync.visibility import SPACE, visible

if TYPE_CHECKING:
    from yimen.sync.docs import Doc
    from yimen.sync.engine import Engine

MAX_SEALS = 10_000  # seals taken in one call (an answer is bounded in bytes before that)


def receive(engine: Engine, peer: str, given: list[tuple[bytes, bytes]]) -> Receipt:
    """Check, store and apply space seals given on demand by `peer`, in one transaction."""
    receipt = Receipt(recv_upto=0)
    store = engine.store
    with store.transaction():
        for body, sig in given[:MAX_SEALS]:
            digest = seal_digest(body, sig)
            error = _admit(engine, peer, body, sig, receipt)
            if error is None:
                continue
            if _quarantine(engine, peer, body, sig, error, digest):
                receipt.refused[digest] = error.en
            else:
                receipt.duplicates += 1
    return receipt


def _admit(engine: Engine, peer: str, body: bytes, sig: bytes, receipt: Receipt) -> BadSeal | None:
    try:
        s = seals.decode(body, sig)
        if engine.store.feed.has(s.author, s.seq) or engine.store.on_demand.has(s.author, s.seq):
            receipt.duplicates += 1
            return None
        refuse_outside(engine.node_id, s)
        admission.check(engine.store, s)
    except BadSeal as e:
        return e
    part = Receipt(recv_upto=0)
    error, _ = engine._in_part(lambda: _store(engine, peer, s, part))
    if error is not None:
        return error
    receipt.add(part)
    receipt.imported += 1
    return None


def refuse_outside(node_id: str, s: Seal) -> None:
    """Raise BadSeal unless `s` is a seal a node may take on demand: a space seal (one
    document) whose home is not within this node's reach in the stream."""
    if s.flow != SPACE:
        raise BadSeal("按需送达的只能是个人空间签封", "only space seals are given on demand")
    if visible(s.scope, SPACE, node_id):
        raise BadSeal("本节点是该文档的所属节点或其上级，应从数据流收到它",
                      f"this node is the home of {s.scope}'s documents or above it: they come in the stream")


def _store(engine: Engine, peer: str, s: Seal, part: Receipt) -> list[Doc]:
    store = engine.store
    store.keys.bind_peers((c.peer for c in s.changes), s.author)
    store.on_demand.add(s, s.changes[0].doc_id, peer, engine.clock())
    return apply_seal(store, s, part, engine._project)


def _quarantine(engine: Engine, peer: str, body: bytes, sig: bytes, e: BadSeal, digest: bytes) -> bool:
    try:
        s = seals.decode(body, sig)
        author, seq = s.author, s.seq
    except BadSeal as d:
        author, seq = d.author, d.seq
    return engine.store.quarantine.add(peer, engine.clock(), author, seq, e.en, body, sig, digest,
                                       keep_body=False, reason_zh=e.zh)
