"""Replicated documents: a Loro document with its id, kind and scope.

This is the only module besides the (future) engine that touches Loro, so the CRDT could
be swapped. A document carries its own id, kind and scope in a `meta` map written by its
first commit, so a copy received from another node describes itself.

Stored form: the full oplog (`ExportMode.Updates` from the empty version), about half the
size of a Loro snapshot for a case and as fast to load for documents this small.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

import msgpack
from loro import CounterSpan, ExportMode, IdSpan, LoroDoc, LoroMap, VersionVector

from yimen.sync.errors import SyncError

T = TypeVar("T")
KINDS = ("catalog_item", "case", "space_doc", "consent", "node", "revocation", "credential_revocation", "audit",
         "rating")


class LoroError(SyncError, ValueError):
    """Bytes given as a Loro update or document history could not be read."""

    code = "not_loro"


def _read(what: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, with whatever the Loro binding raises on bytes it cannot read turned
    into LoroError. The binding raises a bare BaseException (which `except Exception`
    misses), so everything is caught but what stops the interpreter. (A call, not a
    context manager: it runs for every change received.)"""
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 (the binding's own error types, see above)
        raise LoroError(f"不是 Loro 数据（{what}）", f"not a Loro {what}: {str(e)[:200]}") from e


def change_spans(blob: bytes) -> dict[int, tuple[int, int]]:
    """peer -> (start, end) counters of the ops an update blob holds (raises LoroError if
    the bytes are not a Loro update)."""
    meta = _read("update", LoroDoc.decode_import_blob_meta, blob, True)
    starts = meta.partial_start_vv.to_spans().inner()
    ends = meta.partial_end_vv.to_spans().inner()
    return {p: (starts.get(p, (0, 0))[1], ends[p][1]) for p in ends}


def encode_version(ends: dict[int, int]) -> bytes:
    """Canonical bytes of a version vector given as peer -> next counter."""
    return msgpack.packb(sorted(ends.items()))


def new_peer_id() -> int:
    """A fresh random Loro peer id: one per node process start (never reused by a restored
    backup, since it is never stored)."""
    return secrets.randbits(63) | 1


@dataclass(frozen=True)
class Change:
    """One local commit: exactly its own span of one document's oplog."""

    doc_id: str
    kind: str
    scope: str
    peer: int
    counter_start: int
    counter_end: int


class Doc:
    """A replicated document. Edit with `update`, `put` and `append`, then `commit`."""

    def __init__(self, doc_id: str, kind: str, scope: str, loro: LoroDoc):
        if kind not in KINDS:
            raise ValueError(f"unknown document kind {kind!r}")
        self.doc_id, self.kind, self.scope = doc_id, kind, scope
        # An empty root map exists only in the live document (no op records it), so hide
        # them: every replica must show the same value.
        loro.set_hide_empty_root_containers(True)
        self._loro = loro
        self.fresh = False  # True for a document this node is receiving for the first time
        # Loro counts uncommitted ops in oplog_vv, so remember where the last commit ended.
        self._base = self._next_counter(loro.peer_id)

    @classmethod
    def new(cls, doc_id: str, kind: str, scope: str, peer: int) -> Doc:
        loro = LoroDoc()
        loro.peer_id = peer
        doc = cls(doc_id, kind, scope, loro)
        doc.update("meta", {"doc_id": doc_id, "kind": kind, "scope": scope})
        return doc

    @classmethod
    def empty(cls, doc_id: str, kind: str, scope: str, peer: int) -> Doc:
        """A document about to receive its first changes from elsewhere."""
        loro = LoroDoc()
        loro.peer_id = peer
        doc = cls(doc_id, kind, scope, loro)
        doc.fresh = True
        return doc

    @classmethod
    def from_bytes(cls, doc_id: str, kind: str, scope: str, oplog: bytes, peer: int) -> Doc:
        loro = LoroDoc()
        _read("document history", loro.import_, oplog)
        loro.peer_id = peer
        return cls(doc_id, kind, scope, loro)

    def value(self) -> dict[str, Any]:
        """The document as plain Python data."""
        return self._loro.get_deep_value()

    def update(self, map_name: str, fields: Mapping[str, Any]) -> None:
        m = self._loro.get_map(map_name)
        for k, v in fields.items():
            m.insert(k, v)

    def put(self, map_name: str, key: str, value: Any) -> None:
        self._loro.get_map(map_name).insert(key, value)

    def append(self, list_name: str, entry: Mapping[str, Any]) -> None:
        lst = self._loro.get_list(list_name)
        m = lst.insert_container(len(lst), LoroMap())
        for k, v in entry.items():
            m.insert(k, v)

    def commit(self) -> Change | None:
        """Commit pending edits; return the change they made, or None if there were none."""
        peer = self._loro.peer_id
        start = self._base
        self._loro.commit()
        end = self._base = self._next_counter(peer)
        if end == start:
            return None
        return Change(self.doc_id, self.kind, self.scope, peer, start, end)

    def _next_counter(self, peer: int) -> int:
        last = self._loro.oplog_vv.get_last(peer)
        return 0 if last is None else last + 1

    def oplog(self) -> bytes:
        return self._loro.export(ExportMode.Updates(VersionVector()))

    def version(self) -> bytes:
        """The version vector in a canonical encoding (peers sorted), so equal versions
        have equal bytes whatever order a replica learnt its peers in."""
        spans = self._loro.oplog_vv.to_spans().inner()
        return encode_version({peer: end for peer, (_, end) in spans.items()})

    def export_change(self, change: Change) -> bytes:
        """The bytes of one change span, as a seal will carry them."""
        span = IdSpan(change.peer, CounterSpan(change.counter_start, change.counter_end))
        return self._loro.export(ExportMode.UpdatesInRange([span]))

    def import_blob(self, blob: bytes) -> None:
        """Import change bytes; changes whose dependencies are missing wait inside Loro
        (and are not exported by `oplog`) until those dependencies arrive. Raises LoroError
        if the bytes are not a Loro update."""
        _read("update", self._loro.import_, blob)

    def has_change(self, peer: int, end: int) -> bool:
        """Has this document applied peer's ops up to counter `end` (exclusive)?"""
        last = self._loro.oplog_vv.get_last(peer)
        return last is not None and last >= end - 1

    def merge(self, other: Doc) -> None:
        """Import everything `other` has (used to join diverged copies)."""
        self._loro.import_(other.oplog())


def peers(doc: Doc) -> set[int]:
    """The Loro peers with an op in the document (read from its version: cheap)."""
    return set(doc._loro.oplog_vv.to_spans().inner())


def writers(doc: Doc, maps: tuple[str, ...], entries: str) -> tuple[set[int], list[set[int]]]:
    """Who last wrote what, as Loro peer ids: the peers that last wrote a key of one of the
    root maps `maps`, and for each element of the root list `entries` the peers that
    inserted it or last wrote one of its keys. (Raises ValueError if Loro fails.)"""
    try:
        content: set[int] = set()
        for name in maps:
            m = doc._loro.get_map(name)
            content.update(m.get_last_editor(k) for k in m.keys())
        lst, out = doc._loro.get_list(entries), []
        for i in range(len(lst)):
            who, entry = {lst.get_id_at(i).peer}, getattr(lst.get(i), "container", None)
            if isinstance(entry, LoroMap):  # (not `is_container()`: it answers False for a map)
                who.update(entry.get_last_editor(k) for k in entry.keys())
            out.append(who)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 (the binding raises bare BaseException)
        raise ValueError(f"cannot read who wrote {doc.doc_id}: {e}") from e
    return content, out


def entry_ids(doc: Doc, entries: str) -> list[str]:
    """A stable reference (`counter@peer` of the op that inserted it) for each element of
    the root list `entries`: unlike its position, a merge never changes it. (Raises
    ValueError if Loro fails.)"""
    lst = doc._loro.get_list(entries)
    try:
        return [f"{i.counter}@{i.peer}" for i in map(lst.get_id_at, range(len(lst)))]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 (the binding raises bare BaseException)
        raise ValueError(f"cannot read the entries of {doc.doc_id}: {e}") from e


def unseen_before(doc: Doc, entries: str) -> list[list[int]]:
    """For each element of the root list `entries`, the indexes of the elements before it
    that its writer had not seen when inserting it: concurrent inserts, placed before it by
    a merge (empty for every element of a history written in one line). (Raises ValueError
    if Loro fails.)"""
    lst, loro = doc._loro.get_list(entries), doc._loro
    try:
        ids = [lst.get_id_at(i) for i in range(len(lst))]
        seen = [loro.frontiers_to_vv(loro.get_change(i).deps) for i in ids]
        return [[j for j in range(k) if not (ids[j].peer == ids[k].peer and ids[j].counter < ids[k].counter
                                            or seen[k].includes_id(ids[j]))]
                for k in range(len(ids))]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 (the binding raises bare BaseException)
        raise ValueError(f"cannot read the entries of {doc.doc_id}: {e}") from e
