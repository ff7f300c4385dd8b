"""Applying a checked seal: import its changes into their documents, keep those whose
dependencies are missing in `pending`, retry what waited for them, and save (and, through
the `on_imported` hook, project) every document that moved.

A change waits in `pending` before anyone here knows what its document is; when the
document arrives, a waiting change goes in only if its seal gave it the document's kind
and scope (the rule `admission.check_held` applies on arrival; the seal's author was
checked against that kind and scope then). One that does not fit is dropped from
`pending` and reported in `Receipt.misfits`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from yimen.sync.admission import check_held
from yimen.sync.docs import Doc
from yimen.sync.seal import Seal, SealedChange, decode
from yimen.sync.sealing import groups
from yimen.sync.store import Store
from yimen.sync.visibility import CITY_KINDS

APPLY_DOCS = 100  # documents loaded at a time when applying a seal
OnImported = Callable[[list[Doc]], None]


@dataclass
class Receipt:
    """What `receive` did: the acknowledgement returned to the sender."""

    recv_upto: int
    imported: int = 0
    duplicates: int = 0
    changes: int = 0
    docs: int = 0
    deferred: int = 0  # stored and acknowledged, applied later by `catch_up`
    # waiting changes that did not fit their document: (author, seq, reason) of their seal
    misfits: list[tuple[str, int, str, str]] = field(default_factory=list)  # author, seq, en, zh
    # seal digest -> why it was refused (a seal that goes in later in the batch leaves it)
    refused: dict[bytes, str] = field(default_factory=dict)
    # (doc_id, peer, counter_start) of the changes of the documents moved that still wait
    # for their dependencies, and of those waiting before that no longer do
    waiting: set[tuple] = field(default_factory=set)
    settled: set[tuple] = field(default_factory=set)

    @property
    def quarantined(self) -> list[str]:
        """The reasons of the seals refused, in the order they came."""
        return list(self.refused.values())

    @property
    def pending(self) -> int:
        """Changes of the documents moved still waiting for their dependencies, each once."""
        return len(self.waiting)

    def add(self, other: Receipt) -> None:
        """Count what `other` (one seal's part) moved."""
        self.changes += other.changes
        self.docs += other.docs
        self.misfits += other.misfits
        self.waiting = (self.waiting - other.settled) | other.waiting
        self.settled |= other.settled


def apply_seal(store: Store, s: Seal, receipt: Receipt, on_imported: OnImported) -> list[Doc]:
    """Apply a checked seal; returns the trust list's documents (node records, revocations)
    among the documents it moved."""
    check_held(store, s)
    records: list[Doc] = []
    # a group of documents at a time: a seal may touch a thousand large documents
    for group in groups(s.changes, APPLY_DOCS):
        docs = _apply_group(store, s, group, receipt)
        on_imported(docs)
        records += [d for d in docs if d.kind in CITY_KINDS]
    return records


def _apply_group(store: Store, s: Seal, changes: list[SealedChange], receipt: Receipt) -> list[Doc]:
    ids = {c.doc_id for c in changes}
    held = store.get_many(ids)
    known, waiting = store.changes.known(ids)
    touched: dict[str, Doc] = {}
    incoming: dict[str, list[tuple]] = {}
    for c in changes:
        if (c.doc_id, c.peer, c.start) in known:
            continue
        known.add((c.doc_id, c.peer, c.start))
        doc = touched.get(c.doc_id) or held.get(c.doc_id) or Doc.empty(c.doc_id, c.kind, s.scope, store.peer)
        touched[c.doc_id] = doc
        doc.import_blob(c.blob)
        incoming.setdefault(c.doc_id, []).append((c.peer, c.start, c.end, s.author, s.seq, c.blob))
        receipt.changes += 1
    docs = _settle(store, touched, incoming, waiting, receipt)
    receipt.docs += len(docs)
    return docs


def _settle(store: Store, touched: dict[str, Doc], incoming: dict[str, list[tuple]],
            waiting: dict[str, list[tuple]], receipt: Receipt) -> list[Doc]:
    """Retry changes that waited for dependencies, then record what is applied, keep what
    still waits in `pending`, and save every document that moved."""
    saved: list[Doc] = []
    still_rows, applied_rows, done_rows, put = [], [], [], []
    kinds: dict[tuple[str, int], dict[tuple[str, int, int], tuple[str, str]]] = {}
    for doc_id, doc in touched.items():
        waited = []
        for w in waiting.get(doc_id, []):
            if _sealed_as(store, kinds, w[3], w[4]).get((doc_id, w[0], w[1])) == (doc.kind, doc.scope):
                waited.append(w)
                doc.import_blob(w[5])
            else:
                done_rows.append((doc_id, w[0], w[1]))
                receipt.misfits.append((w[3], w[4], f"change {doc_id}@{w[0]} of seal {w[3]}#{w[4]} does not"
                                                    f" fit document {doc_id} ({doc.kind} of {doc.scope})",
                                        f"签封 {w[3]}#{w[4]} 中的变更与文档 {doc_id} 的类型或范围不符"))
        arrived = incoming.get(doc_id, [])
        applied = [w for w in waited + arrived if doc.has_change(w[0], w[2])]
        receipt.settled |= {(doc_id, w[0], w[1]) for w in waited if doc.has_change(w[0], w[2])}
        receipt.waiting = (receipt.waiting - receipt.settled) | \
            {(doc_id, w[0], w[1]) for w in waited + arrived if not doc.has_change(w[0], w[2])}
        still_rows += [(doc_id, *w) for w in arrived if not doc.has_change(w[0], w[2])]
        if not applied:
            continue
        done_rows += [(doc_id, w[0], w[1]) for w in applied]
        applied_rows += [(doc_id, w[0], w[1], w[2], doc.kind, doc.scope, w[3], w[4]) for w in applied]
        # A new document made of one change from counter 0: its bytes are its history.
        whole = doc.fresh and len(applied) == 1 and not waited and applied[0][1] == 0
        put.append((doc, applied[0][5] if whole else None))
        saved.append(doc)
    store.changes.settle(still_rows, done_rows, applied_rows)
    store.put_docs(put)
    return saved


def _sealed_as(store: Store, cache: dict, author: str, seq: int) -> dict[tuple[str, int, int], tuple[str, str]]:
    """(doc_id, peer, start) -> (kind, scope) of every change the seal `author#seq` carries."""
    if (author, seq) not in cache:
        held = store.feed.seal(author, seq)  # (it was decoded and checked when it came)
        held = held[2:] if held else store.on_demand.seal(author, seq)  # (or held on demand)
        s = decode(held[-2], held[-1]) if held else None
        cache[author, seq] = {(c.doc_id, c.peer, c.start): (c.kind, s.scope) for c in s.changes} if s else {}
    return cache[author, seq]
