"""How own changes are grouped into seals and received changes into apply groups: pure
functions over rows and changes, no I/O."""

from __future__ import annotations

from typing import Iterable

from yimen.sync import seal as seals
from yimen.sync.seal import SealedChange


def merge_runs(rows: list[tuple]) -> list[tuple]:
    """Join contiguous spans of one peer in one document (rows sorted by document, peer
    and counter)."""
    runs: dict[tuple[str, int], list[list]] = {}
    order: list[list] = []
    for doc_id, kind, scope, peer, start, end in rows:
        spans = runs.setdefault((doc_id, peer), [])
        if spans and spans[-1][5] == start:
            spans[-1][5] = end
        else:
            run = [doc_id, kind, scope, peer, start, end]
            spans.append(run)
            order.append(run)
    return [tuple(r) for r in order]


def groups(changes: Iterable[SealedChange], n: int) -> Iterable[list[SealedChange]]:
    """The changes, in order, in groups touching at most `n` documents each. (Seals hold a
    document's changes together; changes of one document split between groups apply as if
    they came in two seals.)"""
    group: list[SealedChange] = []
    ids: set[str] = set()
    for c in changes:
        if c.doc_id not in ids and len(ids) == n:
            yield group
            group, ids = [], set()
        group.append(c)
        ids.add(c.doc_id)
    if group:
        yield group


def chunks(changes: Iterable[SealedChange]) -> Iterable[list[SealedChange]]:
    """The changes, in order, in seal-sized runs (bounded in count and bytes)."""
    chunk: list[SealedChange] = []
    size = 0
    for c in changes:
        n = len(c.blob) + len(c.doc_id) + 32
        if chunk and (len(chunk) >= seals.MAX_SEAL_CHANGES or size + n > seals.MAX_SEAL_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(c)
        size += n
    if chunk:
        yield chunk
