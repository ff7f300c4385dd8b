"""Anti-entropy: compare what two nodes hold, scope by scope, and find what to repair.

Each side computes, per scope, a digest of the sorted `(doc_id, version vector)` pairs of
the documents both may see. Scopes whose digests differ are listed in full and compared:
documents only here, only there, or held by both at different versions (diverged). The
repair re-sends the seals that carry those documents' changes (repair batches, see
`Batch.repair`); importing a seal twice is a no-op, so repairing too much is harmless.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from yimen.sync.store import Store
from yimen.sync.visibility import flows_down, visible

Listing = dict[str, dict[str, bytes]]  # scope -> doc_id -> encoded version vector


def listing(store: Store, for_node: str | None = None) -> Listing:
    """Documents held here (only those `for_node` may see, if given), by scope."""
    out: Listing = {}
    for doc_id, kind, scope, vv in store.versions():
        if for_node is None or visible(scope, flows_down(kind), for_node):
            out.setdefault(scope, {})[doc_id] = vv
    return out


def digests(lst: Listing) -> dict[str, str]:
    out = {}
    for scope, docs in lst.items():
        h = hashlib.sha256()
        for doc_id in sorted(docs):
            h.update(doc_id.encode() + b"\x00" + docs[doc_id] + b"\x01")
        out[scope] = h.hexdigest()
    return out


def mismatched(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    return sorted(s for s in set(mine) | set(theirs) if mine.get(s) != theirs.get(s))


def compare(here: dict[str, bytes], there: dict[str, bytes]) -> dict[str, list[str]]:
    """Documents of one scope: here only, there only, diverged."""
    return {
        "here_only": sorted(set(here) - set(there)),
        "there_only": sorted(set(there) - set(here)),
        "diverged": sorted(d for d in set(here) & set(there) if here[d] != there[d]),
    }


def seals_for(store: Store, doc_ids: Iterable[str], visible_to: str) -> list[tuple[bytes, bytes]]:
    """Feed seals carrying changes of `doc_ids` that `visible_to` may see."""
    out = []
    for author, seq in sorted(store.changes.seals_of(doc_ids)):
        row = store.feed.seal(author, seq)
        if row and visible(row[0], row[1], visible_to):
            out.append((row[2], row[3]))
    return out
