"""Bundles: replication by file (a USB stick) where a node has no link to its peer.

A bundle drives the same engine as the HTTP transport. `export_bundle` seals this node's
pending changes and writes, for one recipient, every seal of the feed it may see and has
not acknowledged; `import_bundle` verifies the whole file, then imports every batch in one
SQLite transaction: a bundle is imported whole or not at all, and importing it twice only
counts duplicates.

The acknowledgement travels back in the next bundle. A bundle's header carries `ack`: how
far its sender holds the recipient's feed (the sender's `recv_upto` for it). When the
recipient later exports a bundle to the sender, that bundle's `ack` tells the sender what
arrived, and the sender records it as its `sent_upto` for the recipient (in the import's
transaction). A bundle always starts at `sent_upto`, so until the acknowledgement comes
back every export repeats what is not yet known to have arrived: a lost or unimported
stick costs nothing, and an old bundle imported late only adds duplicates (its older `ack`
never moves a position back: only the newest bundle from a sender, by its `created_at`,
may lower one, as a restored sender's does). A bundle holding no seals is still worth
carrying: it carries the acknowledgement.

The header is checked like a hello (`yimen.sync.positions`): an `ack` that cannot be true
is noticed (the import's `notice`) and the next bundle restates our feed (`rewind`); the
header's `last_seal` and `numbers` tell a restored recipient where its numbering goes on.

    village                                  town
    export --to town   ── seals 1..40 ──▶    import   (town holds village's feed to 40)
    import             ◀── ack 40, seals ──  export --to village
    export --to town   ── seals 41.. ──▶     ...      (1..40 are not sent again)

Bundles are signed by their sender as a whole and then encrypted to their recipient's age
key (see `yimen.sync.transports.bundle`): the header's `ack` and the batch positions cannot
be forged on the way, and a found stick shows only who wrote it for whom. Exporting needs
the recipient's encryption key (learnt at enrollment or from its node record).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import catch_up_all, engine, signing_key
from yimen.node.services import Progress, audit, bundle_files, no_progress, space_delivery
from yimen.schema import region
from yimen.sync.transports import bundle as framing
from yimen.sync.engine import Batch, OutOfOrder, Receipt
from yimen.sync import positions
from yimen.sync.positions import Holding, Resume
from yimen.sync.session import Inbound, Outbound

BATCH_BYTES = 1 << 20
# Room left under the file bound for framing (a few bytes per seal) and the end record.
_FRAMING_ROOM = 8 * 1024 * 1024


class UnknownPeer(NodeError):
    """No key is known for that node: it is not enrolled with this one."""

    code = "unknown_peer"


class WrongRecipient(NodeError):
    """The bundle is addressed to another node."""

    code = "wrong_recipient"


class NoEncryptionKey(NodeError):
    """The recipient's encryption key is unknown here, so no bundle can be encrypted to it."""

    code = "no_encryption_key"


def _known_key(node: Node, node_id: str) -> bytes:
    """The key of a node this one exchanges bundles with: an ancestor or a descendant (the
    trust list holds every key of the city, a sibling's too, but siblings never meet)."""
    key = node.store.keys.public_key(node_id)
    if key is None or node_id == node.node_id or not (
            region.is_within(node_id, node.node_id) or region.is_within(node.node_id, node_id)):
        raise UnknownPeer(f"未知节点 {node_id}：它不是本节点的上级或已注册的下级",
                          f"unknown node {node_id}: it is neither above this node nor enrolled below it")
    return key


# -- export ---------------------------------------------------------------------------------
def export_bundle(node: Node, to_node: str, path: Path | str, progress: Progress = no_progress,
                  files: str = "with") -> dict[str, Any]:
    """Write to `path` every seal `to_node` may see and has not acknowledged. Returns a
    summary: seals, batches, bytes, file, and `complete` (false when the size bound cut the
    bundle short: export again once the recipient's acknowledgement has come back). A bundle
    is a session carried by hand: its header is the hello (`ack`, what we hold of the
    recipient's feed), its batches the push from the last acknowledged position. `files`:
    carry file chunks after the seals (`with`), none (`without`), or only them (`only`: the
    chunks a `with` bundle would carry, no seals); see `bundle_files`."""
    to_node = region.normalize(to_node)
    if to_node == node.node_id:
        raise WrongRecipient("不能给本节点自己导出数据包", "a bundle cannot be addressed to this node itself")
    _known_key(node, to_node)
    recipient = _encryption_key(node, to_node)
    eng = engine(node)
    outbound, held = Outbound(eng, to_node, BATCH_BYTES), Inbound(eng, to_node).holding()
    outbound.seal()
    resume = outbound.resume()
    only = files == "only"
    space, served = space_delivery.bundle_header(node, to_node)
    header = {"protocol": framing.PROTOCOL, "from": node.node_id, "to": to_node,
              "created_at": node.clock().isoformat(timespec="microseconds"), "ack": held.upto, **held.wire(),
              "rewind": resume.rewind and not only, "wanted": bundle_files.header_wanted(node),
              **space}
    state = {"complete": True, "upto": resume.since, "total": max(0, eng.feed_head() - resume.since), "size": 0,
             "chunks": 0, "files_complete": True}
    docs = bundle_files.docs_in_header(header)
    batches = _batches(outbound, resume, state, progress, docs)
    chunks = () if files == "without" else bundle_files.export_chunks(
        node, to_node, docs, state, framing.MAX_BUNDLE_BYTES - _FRAMING_ROOM, progress)
    counts = framing.write_bundle(path, header, _none_of(batches) if only else batches, signing_key(node),
                                  recipient, chunks)
    # The one place a bundle has left this node (an audit entry of the export belongs here).
    with node.store.transaction():  # once the file is whole on the stick
        eng.count_sent(to_node, counts["seals"], 0 if only else state["size"])
        audit.record(node, "bundle_export", None, to=to_node, seals=counts["seals"], chunks=counts["chunks"],
                     file=Path(path).name)
        if resume.rewind and not only:
            positions.restated(eng.store, to_node, state["upto"])
        space_delivery.record_served(node, to_node, served)
    return {"file": str(path), "to": to_node, "seals": counts["seals"], "batches": counts["batches"],
            "bytes": counts["bytes"], "since": resume.since, "upto": state["upto"], "ack": held.upto,
            "rewind": resume.rewind, "complete": state["complete"], "files": files, "chunks": counts["chunks"],
            "files_complete": state["files_complete"]}


def _none_of(batches: Iterator[Batch]) -> Iterator[Batch]:
    """Run through the batches (they name the documents whose files go) and write none."""
    for _ in batches:
        pass
    yield from ()


def _encryption_key(node: Node, to_node: str) -> str:
    transit = node.store.keys.transit(to_node)
    if transit is None:
        raise NoEncryptionKey(f"本节点没有 {to_node} 的加密公钥，无法为它加密数据包：请让 {to_node} 用本版本重新注册，"
                              "或先同步一次以收到它的节点记录",
                              f"this node holds no encryption key for {to_node}, so no bundle can be encrypted to it: "
                              f"enroll {to_node} again with this version, or sync once to receive its node record")
    return transit[0]


def _batches(outbound: Outbound, resume: Resume, state: dict[str, Any], progress: Progress,
             docs: list[str]) -> Iterator[Batch]:
    """The session's batches from `resume.since` on, as long as they fit in one file (the
    first restating our feed, with `resume.rewind`); the space documents they carry are
    added to `docs`."""
    budget = framing.MAX_BUNDLE_BYTES - _FRAMING_ROOM
    since = start = resume.since
    rewind = resume.rewind
    while True:
        batch = outbound.next(since, rewind)
        budget -= batch.size + 16 * len(batch.seals)
        if budget < 0:
            state["complete"] = False
            return
        if batch.seals or batch.next > batch.start or rewind:
            docs.extend(bundle_files.space_docs_in(batch))
            yield batch
        progress("export", batch.next - start, state["total"])
        state["size"] += batch.size
        state["upto"] = since = batch.next  # one-way: acknowledged when a bundle comes back
        rewind = False
        if not batch.more:
            return


# -- import ---------------------------------------------------------------------------------
def import_bundle(node: Node, path: Path | str, progress: Progress = no_progress) -> dict[str, Any]:
    """Verify the whole bundle at `path`, then store it in one transaction and record the
    acknowledgement it carries; nothing is written if any part is refused. Then apply what
    it brought to documents and projections, a few seals per transaction (a crash there
    loses nothing: what is left is applied by the next import, `serve` or `rebuild`)."""

    def sender_key(header: dict[str, Any]) -> bytes:
        if header["to"] != node.node_id:
            raise WrongRecipient(f"这个数据包是给 {header['to']} 的，不是给本节点（{node.node_id}）的",
                                 f"the bundle is addressed to {header['to']}, not to this node ({node.node_id})")
        return _known_key(node, header["from"])

    header, batches = framing.read_bundle(path, sender_key, node.keys.encryption)
    sender, eng = header["from"], engine(node)
    # The one place a bundle enters this node (an audit entry of the import belongs in this transaction).
    with node.store.transaction():
        total, reasons = _store_batches(Inbound(eng, sender), batches, progress, header.get("rewind", False))
        newer = _newest_from(node, sender, header["created_at"])
        resume = Outbound(eng, sender).resume(Holding.from_wire(header, "ack"), newer)
        if newer:
            bundle_files.remember_wanted(node, sender, header)
        audit.record(node, "bundle_import", None, sender=sender, seals=batches.seals, chunks=batches.chunks,
                     file=Path(path).name)
        space = space_delivery.from_bundle(node, sender, header.get("space"), newer)
    applied = Receipt(recv_upto=0)
    catch_up_all(node, progress, applied)
    total["changes"] += applied.changes
    total.update(bundle_files.import_chunks(node, batches, progress))  # after the seals: their documents list them
    return {"file": str(path), "from": sender, "created_at": header["created_at"],
            "seals": batches.seals, **total, "pending": node.store.changes.pending_count(),
            "quarantine_reasons": reasons, "ack": header["ack"],
            "recv_upto": eng.positions(sender)[0], "notice": resume.notice and resume.notice._asdict(),
            "space": space}


def _newest_from(node: Node, sender: str, created_at: str) -> bool:
    """Is this the newest bundle imported from `sender` (by its own clock)? Only then may
    its acknowledgement move our position back (the sender was restored); an older
    bundle imported late must not."""
    key = f"bundle:newest_from:{sender}"
    try:
        mine = datetime.fromisoformat(created_at)
        last = node.store.meta(key)
        if last and mine <= datetime.fromisoformat(last):
            return False
    except (TypeError, ValueError):  # a time that does not compare (no offset, garbled)
        return False
    node.store.set_meta(key, created_at)
    return True


def _store_batches(inbound: Inbound, batches: framing.Batches, progress: Progress,
                   rewind: bool) -> tuple[dict[str, int], list[str]]:
    """Take every batch (stored and acknowledged, applied later; the first restating the
    sender's feed, with `rewind`), counting what moved."""
    total = {"imported": 0, "duplicates": 0, "changes": 0, "quarantined": 0}
    reasons: list[str] = []
    done = 0

    def take(batch: Batch) -> None:
        nonlocal rewind, done
        try:
            receipt = inbound.take(replace(batch, rewind=rewind), defer=True)
            rewind = False
        except OutOfOrder as e:
            raise _gap(inbound, batch) from e
        for k in ("imported", "duplicates", "changes"):
            total[k] += getattr(receipt, k)
        total["quarantined"] += len(receipt.quarantined)
        reasons.extend(receipt.quarantined)
        done += len(batch.seals)
        progress("import", done, batches.seals)
    batches.each(take)
    return total, reasons


def _gap(inbound: Inbound, batch: Batch) -> OutOfOrder:
    held, sender = inbound.position(), inbound.peer
    return OutOfOrder(
        f"数据包缺少前面的数据：本节点只收到 {sender} 的 {held}，数据包从 {batch.start} 开始；"
        f"请先导入更早的数据包，或用 yimen bundle export --to {sender} 带回确认后请对方重新导出",
        f"the bundle starts at {batch.start} of {sender}'s feed but this node holds only up to "
        f"{held}: import the earlier bundle first, or carry back `yimen bundle export --to "
        f"{sender}` (its acknowledgement) and ask for a new bundle", held)
