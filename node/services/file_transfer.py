"""Which file chunks this node wants, which it may give or take, and moving them with its
parent (the rule is `yimen.personal_space.transfer`; the HTTP routes are
`yimen.node.server.chunk_routes`, the client `yimen.sync.transports.chunks`).

- This node *wants* every chunk of every space document it holds (`space_files`) that
  `store.chunks` lacks.
- A chunk moves between this node and a peer P only if a space document held here lists it
  and P may hold that document (its home and ancestors; a node holding the citizen's live
  consent for its type, and that node's ancestors).

In each sync round, after the session (`uplink.sync_once` calls `round_step`), the node
pushes its parent the chunks the parent lacks (so a hub ends up holding every file of its
subtree), then fetches the chunks it wants that the parent may give; both bounded by one
`Budget` (bytes and seconds), so files never hold up cases for long: the rest goes next
round. Chunks travel one per request, each stored when whole. `file_fetch.fetch_files` is the same
fetch run until nothing more comes (`yimen space fetch`)."""

from __future__ import annotations

import json
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.services import audit, space, space_purge
from yimen.personal_space.transfer import Budget, Holder, may_move, missing, slices
from yimen.schema import region
from yimen.schema.text import Text
from yimen.sync.errors import SyncError
from yimen.sync.store import Store
from yimen.sync.transports.chunks import ChunkLink
from yimen.sync.transports.http import LINK_ERRORS, HttpTransport

log = logging.getLogger("yimen.files")
ROUND_BYTES = 8 << 20  # what one sync round moves at most, each way together
ROUND_SECONDS = 3.0
_FEW = 8  # up to this many hashes are looked up with `instr`, more by one pass over the rows


class ChunkRefused(NodeError):
    """The peer may not have that chunk, or no document held here lists it."""

    code = "chunk_refused"


class ChunkNotHere(NodeError):
    """The chunk may be given but is not held here yet (this node fetches it in its own rounds)."""

    code = "chunk_not_here"


# What each peer is known to hold, learnt from its answers since this process started
# (so a hub does not offer its parent every chunk it holds each round; a new process
# offers them once). Keyed by the store, so two nodes in one process never share it.
_PEER_HOLDS: weakref.WeakKeyDictionary[Store, dict[str, set[str]]] = weakref.WeakKeyDictionary()


def peer_holds(node: Node, peer: str) -> set[str]:
    return _PEER_HOLDS.setdefault(node.store, {}).setdefault(peer, set())


# The part of a chunk that came down before a link was cut (kept in memory only: a new
# process resumes from the last whole chunk), per node and peer.
_PARTIALS: weakref.WeakKeyDictionary[Store, dict[str, dict[str, bytes]]] = weakref.WeakKeyDictionary()


def chunk_link(node: Node, transport: HttpTransport) -> ChunkLink:
    """The chunk routes of `transport`'s node, with what came of cut chunks kept between links."""
    return ChunkLink(transport, partials=_PARTIALS.setdefault(node.store, {}).setdefault(transport.peer, {}))


# -- the rule, over this node's tables ------------------------------------------------------
def _rows(node: Node, hashes: list[str] | None) -> Iterable[tuple[str, str, str, str, list[str]]]:
    """(doc_id, home, subject, doc_type, chunks) of the held files listing any of `hashes` (all: None)."""
    sql = ("SELECT f.doc_id, d.home, d.subject, d.doc_type, f.chunks FROM space_files f"
           " JOIN space_docs d ON d.doc_id = f.doc_id")
    args: list[str] = []
    if hashes is not None and not hashes:
        return
    if hashes is not None and len(hashes) <= _FEW:
        sql += " WHERE " + " OR ".join("instr(f.chunks, ?) > 0" for _ in hashes)
        args = list(hashes)
    for doc_id, home, subject, doc_type, chunks in node.store.conn.execute(sql, args):
        yield doc_id, home, subject, doc_type, json.loads(chunks)


def _holder(node: Node, doc_id: str, home: str, subject: str, doc_type: str) -> Holder:
    return Holder(doc_id, home, lambda: space.consent_nodes(node, subject, doc_type))


def holders(node: Node, hashes: list[str]) -> dict[str, list[Holder]]:
    """The documents held here listing each of `hashes` (absent: none lists it)."""
    wanted, out = set(hashes), {}
    for doc_id, home, subject, doc_type, chunks in _rows(node, hashes):
        for c in wanted.intersection(chunks):
            out.setdefault(c, []).append(_holder(node, doc_id, home, subject, doc_type))
    return out


def movable(node: Node, peer: str, hashes: list[str], giving: bool = False) -> set[str]:
    """Of `hashes`, those that may move between this node and `peer` (the rule above):
    taken from it, or with `giving`, given to it."""
    down = giving and _below(node, peer)
    return {h for h, docs in holders(node, hashes).items() if may_move(docs, peer, down)}


def _below(node: Node, peer: str) -> bool:
    return peer != node.node_id and region.is_within(peer, node.node_id)


def wanted(node: Node) -> list[str]:
    """Every chunk of a held space document that is not held here, in file order."""
    listed = [c for *_, chunks in _rows(node, None) for c in chunks]
    return missing(listed, node.store.chunks.held(listed))


def offered(node: Node, peer: str) -> list[str]:
    """Chunks held here of documents `peer` may hold, not known to be held by it."""
    known, out = peer_holds(node, peer), []
    for doc_id, home, subject, doc_type, chunks in _rows(node, None):
        if may_move([_holder(node, doc_id, home, subject, doc_type)], peer, _below(node, peer)):
            out.extend(c for c in chunks if c not in known)
    out = list(dict.fromkeys(out))
    held = node.store.chunks.held(out)
    return [c for c in out if c in held]


# -- the answering side (the routes call these on the database thread) ---------------------
def answer_want(node: Node, peer: str, hashes: list[str]) -> dict[str, list[str]]:
    """Of `hashes` (from `peer`), which this node lacks and would take from it, and which it
    holds and would give it."""
    takes, gives = movable(node, peer, hashes), movable(node, peer, hashes, giving=True)
    held = node.store.chunks.held(takes | gives)
    return {"lacks": [h for h in hashes if h in takes and h not in held],
            "gives": [h for h in hashes if h in gives and h in held]}


def accept(node: Node, peer: str, digest: str, data: bytes) -> bool:
    """Store a chunk `peer` pushed (ChunkRefused unless the rule lets it move; BadChunk if
    the bytes are not `digest`); True if it was not held before."""
    if digest not in movable(node, peer, [digest]):
        raise _refused(digest)
    with node.store.transaction():
        return node.store.chunks.put(digest, data)


def serve(node: Node, peer: str, digest: str) -> bytes:
    """A chunk for `peer` (ChunkRefused unless the rule lets it move; ChunkNotHere if it may
    but is not held yet). A file's first chunk handed to a node that holds it only under a
    consent (not its home nor an ancestor) is in the audit log: a citizen's file left here."""
    docs = holders(node, [digest]).get(digest, [])
    if not may_move(docs, peer, _below(node, peer)):
        raise _refused(digest)
    data = node.store.chunks.get(digest)
    if data is None:
        raise ChunkNotHere(f"本节点尚未收到文件分块 {digest[:16]}…，稍后再试",
                           f"chunk {digest[:16]}… is not here yet: try again later")
    _audit_first(node, peer, digest, [d for d in docs if not region.is_within(d.home, peer)])
    return data


def _audit_first(node: Node, peer: str, digest: str, consented: list[Holder]) -> None:
    firsts = {doc_id for doc_id, *_, chunks in _rows(node, [digest]) if chunks[:1] == [digest]}
    with node.store.transaction():
        for d in consented:
            if d.doc_id in firsts:
                audit.record(node, "space_file_serve", None, None, space_purge.citizen_of(node.store, d.doc_id),
                             doc=d.doc_id, to=peer)


def _refused(digest: str) -> ChunkRefused:
    # one answer whether no document lists it or the peer may not see the one that does
    return ChunkRefused(f"无权获取或提交文件分块 {digest[:16]}…", f"chunk {digest[:16]}… may not move between us")


# -- the asking side ------------------------------------------------------------------------
@dataclass
class FileStats:
    """What a round's (or a fetch's) file step moved."""

    pushed: int = 0
    fetched: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    not_here: int = 0  # chunks the parent may give but does not hold yet
    failed: list[str] = field(default_factory=list)  # why a step stopped early (a cut link)


def _store(node: Node, digest: str, data: bytes) -> bool:
    with node.store.transaction():
        return node.store.chunks.put(digest, data)


async def push_up(node: Node, link: ChunkLink, budget: Budget, stats: FileStats) -> None:
    """Send the parent the chunks it lacks of documents it may hold."""
    known = peer_holds(node, link.t.peer)
    for part in slices(await in_db(node, offered, node, link.t.peer)):
        lacks, gives = await link.want(list(part))
        known.update(gives)
        for digest in lacks:
            if not budget.left():
                return
            data = await in_db(node, node.store.chunks.get, digest)
            if data is None:
                continue
            await link.put(digest, data)
            known.add(digest)
            budget.spend(len(data))
            stats.pushed, stats.bytes_up = stats.pushed + 1, stats.bytes_up + len(data)


async def fetch_down(node: Node, link: ChunkLink, budget: Budget, stats: FileStats,
                     progress: Callable[[int], None] = lambda n: None) -> None:
    """Fetch from the parent the chunks this node wants that the parent may give."""
    for part in slices(await in_db(node, wanted, node)):
        _, gives = await link.want(list(part))
        stats.not_here += len(part) - len(gives)
        for digest in gives:
            if not budget.left():
                return
            data = await link.get(digest)
            if data is None:
                stats.not_here += 1
                continue
            await in_db(node, _store, node, digest, data)
            budget.spend(len(data))
            stats.fetched, stats.bytes_down = stats.fetched + 1, stats.bytes_down + len(data)
            progress(stats.fetched)


async def round_step(node: Node, transport: HttpTransport, budget: Budget | None = None) -> FileStats:
    """The file step of a sync round with `transport`'s node: push up, then fetch down,
    within `budget`. It never fails the round: a cut link or a parent without the chunk
    routes ends the step (told in `failed` and the log); the next round goes on."""
    budget = budget or Budget(ROUND_BYTES, ROUND_SECONDS)
    stats, chunks = FileStats(), chunk_link(node, transport)
    rows = await in_db(node, _file_rows, node)
    if not _due(node, transport.peer, rows):
        return stats
    try:
        await push_up(node, chunks, budget, stats)
        await fetch_down(node, chunks, budget, stats)
    except (*LINK_ERRORS, SyncError, NodeError) as e:
        stats.failed.append(f"{type(e).__name__}: {e}")
        log.info(Text("文件分块传输中断：%s（下一轮继续）", "file chunk transfer stopped: %s (next round goes on)"), e)
    if stats.pushed or stats.fetched:
        log.info(Text("与 %s 传输文件分块：上传 %d 个，下载 %d 个", "file chunks with %s: pushed %d, fetched %d"),
                 transport.peer, stats.pushed, stats.fetched)
    _LAST_STEP.setdefault(node.store, {})[transport.peer] = (time.monotonic(), rows,
                                                              bool(stats.pushed or stats.fetched or stats.failed))
    return stats


# A hub's step reads every file row it holds (JSON lists of chunk hashes): with many, it
# runs at most every RESCAN_S seconds while nothing moved and no file row came.
SCAN_FREE_ROWS = 2000
RESCAN_S = 15.0
_LAST_STEP: weakref.WeakKeyDictionary[Store, dict[str, tuple[float, int, bool]]] = weakref.WeakKeyDictionary()


def _file_rows(node: Node) -> int:
    return node.store.conn.execute("SELECT count(*) FROM space_files").fetchone()[0]


def _due(node: Node, peer: str, rows: int) -> bool:
    last = _LAST_STEP.get(node.store, {}).get(peer)
    if rows <= SCAN_FREE_ROWS or last is None:
        return True
    when, rows_then, moved = last
    return moved or rows != rows_then or time.monotonic() - when >= RESCAN_S
