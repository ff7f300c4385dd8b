"""On-demand delivery of space documents under a citizen's consent.

A consent written at window X flows up (X and its ancestors hold it). A node N holding a
live consent whose node is N or below it wants the documents it covers, which the stream
never brings it (N is not their home nor an ancestor). In every sync round (and for
`yimen space fetch`: `request_documents`) N asks its parent on the signed route `ROUTE`:
"documents under these consents; I hold these seals already" (`wanted`). The parent
answers (`answer`) with the original space seals, byte for byte (each holds one document),
of the covered documents it holds, from its feed if it is their home or an ancestor, or
from what it holds on demand itself (a town relays down to its village), minus those
the requester holds; bounded in bytes, with `more`. So the nearest ancestor holding the
documents (at worst the city) serves them down one level per round, to X only.

The parent serves only what `consent_rule.covered` allows: each consent named must be held
there (else `not_found`) with its node inside the requester's subtree (else
`consent_refused`: a node asking for another's consent); one held there as no longer live
is skipped and named in `not_live`. The requester stores what it gets outside its feed
(`Engine.receive_on_demand`) and sweeps (`space_purge`). Every document handed on is in
the answering node's audit log (`space_serve`). By bundle the request rides in the
child's header and the answer in the parent's next bundle (`bundle_header`, `from_bundle`).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from yimen.node.home import Node
from yimen.node.services import audit, space_purge
from yimen.personal_space.consent_rule import HeldConsent, HeldDoc, covered
from yimen.schema import region
from yimen.sync import digests
from yimen.sync.errors import SyncError
from yimen.sync.seal import valid_doc_id
from yimen.sync.transports.bundle_records import bad
from yimen.sync.transports.wire import WireError

log = logging.getLogger("yimen.sync")
ROUTE = "/v1/space/documents"
MAX_CONSENTS = 200  # consents named in one request
MAX_HELD = 20_000  # seals the requester says it holds
MAX_ANSWER_BYTES = 4 << 20
MAX_CALLS = 50  # requests in one fetch (each answer up to MAX_ANSWER_BYTES)


class Caller(Protocol):
    peer: str

    async def call(self, path: str, message: dict[str, Any]) -> dict[str, Any]: ...


def _bad(en: str) -> WireError:
    return WireError("bad_request", "个人空间文档请求格式错误", f"malformed space document request: {en}")


# -- the requester's side ---------------------------------------------------------------
def wanted(node: Node) -> dict[str, Any] | None:
    """What this node asks for: its live consents whose node is it or below it, and the
    seals it holds on demand already. None when it holds no such consent."""
    now = node.now()
    rows = node.store.conn.execute(
        "SELECT consent_id, node, expires_at, withdrawn_at FROM space_consents ORDER BY granted_at DESC").fetchall()
    ids = [cid for cid, at, expires, withdrawn in rows
           if region.is_within(at, node.node_id) and HeldConsent(cid, "", at, (), expires, withdrawn or "").live(now)]
    if not ids:
        return None
    return {"consents": ids[:MAX_CONSENTS], "held": [[a, s] for a, s in node.store.on_demand.keys(MAX_HELD)]}


def take(node: Node, peer: str, seals: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Store seals given on demand (outside the feed), then sweep what may not be kept."""
    receipt = engine_of(node).receive_on_demand(peer, seals)
    purged = space_purge.sweep(node)
    return {"received": receipt.imported, "duplicates": receipt.duplicates, "refused": receipt.quarantined,
            "purged": len(purged)}


def engine_of(node: Node):
    from yimen.node.replication import engine  # (it imports the services)
    return engine(node)


def check_seals(seals: Any) -> list[tuple[bytes, bytes]]:
    """An answer's seals: a list of [body, signature] byte pairs."""
    return digests.check_seals(seals, lambda: WireError("bad_request", "上级应答格式错误",
                                                        "malformed space documents answer"))


async def fetch(node: Node, link: Caller) -> dict[str, Any]:
    """Ask `link` (the parent, or the ancestor that answered) for the documents this node's
    consents cover, until it has no more; returns what moved."""
    from yimen.node.replication import in_db
    stats: dict[str, Any] = {"peer": link.peer, "consents": 0, "received": 0, "duplicates": 0, "refused": [],
                             "purged": 0, "not_live": []}
    for _ in range(MAX_CALLS):
        message = await in_db(node, wanted, node)
        if message is None:
            break
        stats["consents"] = len(message["consents"])
        answer = await link.call(ROUTE, message)
        got = await in_db(node, take, node, link.peer, check_seals(answer.get("seals")))
        for k in ("received", "duplicates", "purged"):
            stats[k] += got[k]
        stats["refused"] += got["refused"]
        stats["not_live"] = [c for c in answer.get("not_live", []) if isinstance(c, str)][:MAX_CONSENTS]
        if not answer.get("more") or not got["received"]:
            break
    stats["purged"] += len(await in_db(node, space_purge.sweep, node))
    return stats


async def request_documents(node: Node) -> dict[str, Any]:
    """`yimen space fetch`: one fetch from the first ancestor that answers."""
    from yimen.node.services.uplink import with_first_ancestor  # (it imports this module)
    return await with_first_ancestor(node, lambda link: fetch(node, link))


async def after_round(node: Node, link: Caller) -> dict[str, Any] | None:
    """A sync round's last step (after the pull: the consents here are the newest): fetch.
    Nothing here fails the round; a failure is logged and returned as None."""
    from yimen.sync.transports.http import LINK_ERRORS
    try:
        stats = await fetch(node, link)
    except (SyncError, *LINK_ERRORS) as e:
        log.warning("space documents not fetched from %s: %s", link.peer, getattr(e, "en", e))
        return None
    if stats["received"] or stats["purged"]:
        log.info("space documents from %s: %d received, %d purged", link.peer, stats["received"], stats["purged"])
    return stats


# -- the answering side -----------------------------------------------------------------
def read_request(message: Any) -> tuple[list[str], set[tuple[str, int]]]:
    """The consent ids and held seals of a request (raises WireError `bad_request`)."""
    if not isinstance(message, dict):
        raise _bad("the request is not a map")
    ids, held = message.get("consents"), message.get("held", [])
    if not (isinstance(ids, list) and 0 < len(ids) <= MAX_CONSENTS and all(valid_doc_id(c) for c in ids)):
        raise _bad(f"consents must be a list of 1 to {MAX_CONSENTS} ids")
    if not (isinstance(held, list) and len(held) <= MAX_HELD and all(
            isinstance(h, list) and len(h) == 2 and type(h[0]) is str and len(h[0]) <= 12 and type(h[1]) is int
            and 0 <= h[1] < 1 << 63 for h in held)):
        raise _bad(f"held must be a list of at most {MAX_HELD} [author, seq] pairs")
    return list(dict.fromkeys(ids)), {(a, s) for a, s in held}


def answer(node: Node, requester: str, message: dict[str, Any], record: bool = True) -> dict[str, Any]:
    """The seals of the documents `requester` may be handed under the consents it names
    and does not hold yet (see the module docstring for what is refused), and `sent`, the
    documents they carry: in the audit log at once unless not `record` (a bundle records
    them once its file is whole)."""
    ids, held = read_request(message)
    store, now = node.store, node.now()
    named = {c.consent_id: c for c in space_purge.held_consents(store, ids, by="consent_id")}
    for cid in ids:
        c = named.get(cid)
        if c is None:
            raise WireError("not_found", f"本节点没有编号为 {cid} 的同意书",
                            f"no consent {cid} is held here")
        if not region.is_within(c.node, requester):
            raise WireError("consent_refused", f"同意书 {cid} 不是给节点 {requester} 或其下级的",
                            f"consent {cid} is not for node {requester} nor below it")
    everyone = space_purge.held_consents(store, {c.subject for c in named.values()})
    docs: set[str] = set()
    for c in named.values():
        docs.update(covered(c, _docs_of(node, c), requester, everyone, now))
    seals, sent, more = _seals(node, sorted(docs), held)
    if record:
        record_served(node, requester, sent)
    return {"seals": seals, "more": more, "not_live": sorted(c for c in ids if not named[c].live(now)), "sent": sent}


def _docs_of(node: Node, c: HeldConsent) -> list[HeldDoc]:
    return [HeldDoc(*r) for r in node.store.conn.execute(
        "SELECT doc_id, subject, doc_type, home FROM space_docs WHERE subject = ?"
        f" AND doc_type IN ({', '.join('?' * len(c.types))})", (c.subject, *c.types))]


def _seals(node: Node, doc_ids: list[str], held: set[tuple[str, int]]) -> tuple[list[list[bytes]], list[str], bool]:
    """The seals carrying `doc_ids` not in `held`, oldest first per document, from the feed
    or from what is held on demand here, up to about MAX_ANSWER_BYTES: (seals, the
    documents they carry, whether some were left for the next request)."""
    store = node.store
    out: list[list[bytes]] = []
    sent: list[str] = []
    size = 0
    for doc_id in doc_ids:
        for author, seq in sorted(store.changes.seals_of([doc_id]) - held):
            row = store.feed.seal(author, seq)
            pair = row[2:] if row else (store.on_demand.seal(author, seq) or (None,) * 3)[1:]
            if pair[0] is None:
                continue
            if out and size + len(pair[0]) > MAX_ANSWER_BYTES:
                return out, sent, True
            out.append(list(pair))
            size += len(pair[0]) + len(pair[1])
            if not sent or sent[-1] != doc_id:
                sent.append(doc_id)
    return out, sent, False


def record_served(node: Node, requester: str, doc_ids: list[str]) -> None:
    """One audit entry per document handed on (a citizen's document left this node)."""
    with node.store.transaction():
        for doc_id in doc_ids:
            audit.record(node, "space_serve", None, None, space_purge.citizen_of(node.store, doc_id), doc=doc_id,
                         to=requester)


# -- by bundle ----------------------------------------------------------------------------
def _want_key(child: str) -> str:
    return f"space:want:{child}"


def bundle_header(node: Node, to_node: str) -> tuple[dict[str, Any], list[str]]:
    """The header's `space` entry of a bundle for `to_node`: to an ancestor, this node's
    request (`wanted`); to a descendant, the answer to the request its last bundle carried
    (the seals, `more`); nothing when there is neither. With it, the documents the answer
    hands on (`record_served` once the file is whole)."""
    if region.is_within(node.node_id, to_node):
        want = wanted(node)
        return ({"space": {"want": want}} if want else {}), []
    raw = node.store.meta(_want_key(to_node))
    if raw is None:
        return {}, []
    try:
        got = answer(node, to_node, json.loads(raw), record=False)
    except (WireError, ValueError) as e:  # a consent withdrawn and gone, a request of an older bundle
        log.warning("space documents not answered to %s by bundle: %s", to_node, getattr(e, "en", e))
        return {}, []
    return {"space": {"seals": got["seals"], "more": got["more"], "not_live": got["not_live"]}}, got["sent"]


def from_bundle(node: Node, sender: str, space: Any, newer: bool = True) -> dict[str, Any] | None:
    """Read a bundle header's `space` entry (in the import's transaction): a descendant's
    request is kept for the next bundle to it (unless the bundle is older than the last
    one taken from it: `newer`), an ancestor's answer seals are stored like those fetched
    online. Malformed, it refuses the whole bundle."""
    below = region.is_within(sender, node.node_id)
    if below and newer and not (isinstance(space, dict) and "want" in space):
        node.store.delete_meta(_want_key(sender))  # it wants nothing now (no live consent there)
    if space is None:
        return None
    try:
        if "want" in space and below:
            read_request(space["want"])
            if newer:
                node.store.set_meta(_want_key(sender), json.dumps(space["want"]))
            return {"wanted": len(space["want"]["consents"])}
        if "seals" in space and region.is_within(node.node_id, sender):
            return take(node, sender, check_seals(space["seals"]))
    except (WireError, TypeError, KeyError) as e:
        raise bad("个人空间文档记录格式错误", f"malformed space record: {getattr(e, 'en', e)}") from e
    return None
