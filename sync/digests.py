"""Anti-entropy: compare what two nodes hold, scope by scope, and find what to repair.

Each side computes, per scope, a digest of the sorted `(doc_id, version vector)` pairs of
the documents both may see. Scopes whose digests differ are listed in full and compared:
documents only here, only there, or held by both at different versions (diverged). The
repair re-sends the seals that carry those documents' changes (repair batches, see
`Batch.repair`); importing a seal twice is a no-op, so repairing too much is harmless.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync.errors import SyncError
from yimen.sync.seal import valid_doc_id
from yimen.sync.store import Store
from yimen.sync.visibility import flow, visible

Listing = dict[str, dict[str, bytes]]  # scope -> doc_id -> encoded version vector
MAX_SCOPES = 100_000  # scopes one node compares with its parent (a city has a few thousand)
MAX_DOCS = 1000  # document ids asked for at a time
MAX_SEALS_BYTES = 8 << 20  # seals answered at a time (a wire body expands to at most 32 MiB)


class MalformedReconcile(SyncError):
    """A reconcile request or answer is malformed; nothing was changed."""

    code = "bad_request"


def _bad(zh: str, en: str) -> MalformedReconcile:
    return MalformedReconcile(f"对账{zh}格式错误", f"malformed reconcile {en}")


def _scope(s: Any) -> bool:
    """A scope as nodes write them (a region code, no more than 12 digits)."""
    if type(s) is not str or not 0 < len(s) <= region.CODE_LEN:
        return False
    try:
        return s in (region.normalize(s), region.prefix(s))
    except YimenError:
        return False


def check_digests(theirs: Any) -> dict[str, str]:
    """A peer's per-scope digests as it sent them: at most MAX_SCOPES region codes, each
    to a SHA-256 in hex (raises MalformedReconcile)."""
    if not (isinstance(theirs, dict) and len(theirs) <= MAX_SCOPES and all(
            _scope(s) and type(d) is str and len(d) == 64 for s, d in theirs.items())):
        raise _bad("请求", "request")
    return theirs


def check_listing(answer: Any) -> Listing:
    """A parent's listing of the scopes that differ (raises MalformedReconcile)."""
    if not (isinstance(answer, dict) and len(answer) <= MAX_SCOPES and all(
            _scope(s) and isinstance(docs, dict) and all(valid_doc_id(d) and type(v) is bytes for d, v in docs.items())
            for s, docs in answer.items())):
        raise _bad("应答", "answer")
    return answer


def check_doc_ids(docs: Any) -> list[str]:
    """Document ids asked for: a list of at most MAX_DOCS well-formed ids."""
    if not (isinstance(docs, list) and len(docs) <= MAX_DOCS and all(valid_doc_id(d) for d in docs)):
        raise MalformedReconcile("请求格式错误", f"docs must be a list of at most {MAX_DOCS} document ids")
    return docs


def check_seals(seals: Any, bad: Callable[[], Exception] = lambda: _bad("应答", "answer")) -> list[tuple[bytes, bytes]]:
    """Seals answered: a list of [body, signature] byte pairs (else `bad()` is raised: a
    reconcile answer's error unless the caller names its own)."""
    if not (isinstance(seals, list) and all(
            isinstance(p, list) and len(p) == 2 and all(type(x) is bytes for x in p) for p in seals)):
        raise bad()
    return [(b, s) for b, s in seals]


def listing(store: Store, for_node: str | None = None) -> Listing:
    """Documents held here (only those `for_node` may see, if given), by scope. Space
    documents held on demand (under a consent, outside the stream) are never compared: no
    peer holds them in the stream, so they are no difference to repair."""
    out: Listing = {}
    on_demand = set(store.on_demand.doc_ids())
    for doc_id, kind, scope, vv in store.versions():
        if doc_id in on_demand:
            continue
        if for_node is None or visible(scope, flow(kind), for_node):
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


def seals_for(store: Store, doc_ids: Iterable[str], visible_to: str,
              max_bytes: int = MAX_SEALS_BYTES) -> list[tuple[bytes, bytes]]:
    """Feed seals carrying changes of `doc_ids` that `visible_to` may see, oldest author
    and number first, up to about `max_bytes` (what is left over is repaired by the next
    reconcile: it compares again)."""
    out, size = [], 0
    for author, seq in sorted(store.changes.seals_of(doc_ids)):
        row = store.feed.seal(author, seq)
        if row and visible(row[0], row[1], visible_to):
            if out and size + len(row[2]) > max_bytes:
                break
            out.append((row[2], row[3]))
            size += len(row[2]) + len(row[3])
    return out
