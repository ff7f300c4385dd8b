"""The files a bundle carries (`yimen bundle export --files with|without|only`): chunk
records after the seals (`yimen.sync.transports.bundle`, protocol 3), chosen by the same
rule as over HTTP (`file_transfer.movable`: a chunk of a document held here that the
recipient may hold).

What the exporter sends, as far as it knows the recipient lacks it: the chunks of the
space documents whose seals are in this bundle, in its batches or in the header's answer
to a consent holder's request (`space_delivery`; `--files only`: those the seals of a
`with` bundle would be, without the seals), and the chunks the recipient asked for in the
header (`wanted`) of the last bundle it sent here. What the importer keeps: every whole
chunk that a document it holds lists, once the seals of the same bundle went in (so a
document and its file arrive on one stick); the rest is skipped, counted."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator

from yimen.node.home import Node
from yimen.node.services import Progress
from yimen.node.services.file_transfer import movable, peer_holds, wanted
from yimen.sync import seal as seals
from yimen.sync.engine import Batch
from yimen.sync.transports import bundle as framing
from yimen.sync.transports.bundle_records import MAX_WANTED
from yimen.sync.visibility import SPACE

FILES = ("with", "without", "only")
_WANTED_BY = "bundle:wanted_by:"  # meta key: the chunks a peer's newest bundle asked for


def header_wanted(node: Node) -> list[str]:
    """The chunks this node lacks, for its bundle's header (the first MAX_WANTED)."""
    return wanted(node)[:MAX_WANTED]


def remember_wanted(node: Node, sender: str, header: dict[str, Any]) -> None:
    """Keep what the sender's bundle asked for (in the import's transaction)."""
    node.store.set_meta(_WANTED_BY + sender, json.dumps(header.get("wanted", [])))


def asked_by(node: Node, peer: str) -> list[str]:
    raw = node.store.meta(_WANTED_BY + peer)
    return json.loads(raw) if raw else []


def space_docs_in(batch: Batch) -> list[str]:
    """The space documents a batch's seals carry (seals from our own feed: decoded as is)."""
    return docs_of_seals(batch.seals)


def docs_in_header(header: dict[str, Any]) -> list[str]:
    """The space documents the header's on-demand answer carries (`space_delivery`)."""
    space = header.get("space")
    return docs_of_seals(space.get("seals", [])) if isinstance(space, dict) else []


def docs_of_seals(pairs: Iterable[Any]) -> list[str]:
    out = []
    for body, signature in pairs:
        s = seals.decode(body, signature)
        if s.flow == SPACE:
            out.extend(c.doc_id for c in s.changes)
    return out


def chunks_of(node: Node, doc_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(doc_ids))
    out: list[str] = []
    for (chunks,) in node.store.rows("SELECT chunks FROM space_files", ids):
        out.extend(json.loads(chunks))
    return out


def export_chunks(node: Node, to_node: str, doc_ids: list[str], state: dict[str, Any], room: int,
                  progress: Progress) -> Iterator[bytes]:
    """The chunks to carry to `to_node`, after the batches (so `doc_ids` is whole by the time
    this runs): held here, movable to it, not known to be held there, within `room` bytes
    less the batches' (`state["size"]`; past it `state["files_complete"]` turns False)."""
    state["room"] = room - state["size"]
    candidates = list(dict.fromkeys(chunks_of(node, doc_ids) + asked_by(node, to_node)))
    known = peer_holds(node, to_node)
    ok = movable(node, to_node, [c for c in candidates if c not in known], giving=True)
    held = node.store.chunks.held(ok)
    send = [c for c in candidates if c in held]
    for i, digest in enumerate(send):
        data = node.store.chunks.get(digest)
        if data is None:
            continue
        state["room"] -= len(data) + 16
        if state["room"] < 0:
            state["files_complete"] = False
            return
        state["chunks"] += 1
        yield data
        progress("export_files", i + 1, len(send))


def import_chunks(node: Node, batches: framing.Batches, progress: Progress) -> dict[str, int]:
    """Store the bundle's chunks that a document held here lists and the sender may hold
    (one transaction; the bundle was verified whole before)."""
    counts = {"chunks": 0, "chunks_held": 0, "chunks_refused": 0}
    if not batches.chunks:
        return counts
    seen = 0

    def take(data: bytes) -> None:
        nonlocal seen
        digest = hashlib.sha256(data).hexdigest()
        seen += 1
        if digest not in movable(node, batches.sender, [digest]):
            counts["chunks_refused"] += 1
        elif node.store.chunks.put(digest, data):
            counts["chunks"] += 1
        else:
            counts["chunks_held"] += 1
        progress("import_files", seen, batches.chunks)
    with node.store.transaction():
        batches.each(None, take)
    return counts
