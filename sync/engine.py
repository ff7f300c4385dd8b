"""The sync engine: seals own changes, says what a peer may receive next, imports what a
peer sent. It knows nothing of HTTP or files; transports drive it.

Invariants:
- Nothing is written unless `receive` commits: the imported documents, the feed rows, the
  quarantine rows, the pending changes, the projections (through `on_imported`) and the
  peer's stream position are one SQLite transaction.
- A seal received with `defer` is checked just the same and stored in the feed (and may be
  relayed at once), marked `unapplied`; `catch_up` applies whole seals, oldest first, and
  removes their marks in the same transaction. Documents and projections reflect exactly
  the seals not so marked.
- A seal is identified by `(author, seq)` and a change by `(doc_id, peer, counter_start)`;
  receiving either again changes nothing.
- A seal is checked whole before any of it is imported: shape, author known, signature,
  every change of the author's own Loro peers only (peer ids bind to the first author that
  signed them), `may_write`, a kind and scope consistent with what this node holds.
  A bad seal goes to quarantine with its reason and never blocks the others.
- A change whose dependencies are missing is kept in `pending` and applied when they come.
- `next_batch` never offers a peer a seal it may not see, nor one that came from it or
  that it authored; it is bounded in bytes; its `next` position lets the peer resume.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass, field
from itertools import groupby
from typing import Callable, Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.sync import seal as seals
from yimen.sync.docs import Change, Doc, change_spans, encode_version
from yimen.sync.errors import SyncError
from yimen.sync.seal import BadSeal, Seal, SealedChange
from yimen.sync.store import Store
from yimen.sync.visibility import DOWN_SQL, flows_down, may_write, visible

DEFAULT_BATCH_BYTES = 1 << 20
SEAL_PAGE = 20_000  # unsealed change rows read at a time
APPLY_DOCS = 100  # documents loaded at a time when applying a seal
UNKNOWN_AUTHOR = "seal from unknown node"


class OutOfOrder(SyncError):
    """A batch starts past what this node holds from its sender (a gap): resend from the
    position in the answer."""

    code = "out_of_order"


@dataclass(frozen=True)
class Batch:
    """Seals from `start` (exclusive) to `next` (inclusive) of the sender's feed."""

    sender: str
    start: int
    next: int
    seals: list[tuple[bytes, bytes]]  # (body, signature)
    more: bool = False

    @property
    def size(self) -> int:
        return sum(len(b) + len(s) for b, s in self.seals)


@dataclass
class Receipt:
    """What `receive` did: the acknowledgement returned to the sender."""

    recv_upto: int
    imported: int = 0
    duplicates: int = 0
    changes: int = 0
    pending: int = 0
    quarantined: list[str] = field(default_factory=list)
    docs: int = 0
    deferred: int = 0  # stored and acknowledged, applied later by `catch_up`

    def add(self, other: Receipt) -> None:
        """Count what `other` (one seal's part) moved."""
        self.changes += other.changes
        self.pending += other.pending
        self.docs += other.docs


OnImported = Callable[[list[Doc]], None]


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Engine:
    def __init__(self, store: Store, node_id: str, key: Ed25519PrivateKey,
                 on_imported: OnImported = lambda docs: None):
        self.store, self.node_id, self.key = store, node_id, key
        self.on_imported = on_imported

    # -- own changes -> seals --------------------------------------------------------------
    def seal_pending(self, max_seals: int | None = None) -> int:
        """Sign unsealed own changes into seals (one scope and direction each, bounded in
        size and count): all of them, or the first `max_seals` seals' worth (a sender seals
        a batch ahead while the last one travels). Returns the number of seals made.

        Contiguous unsealed changes of one peer in one document travel as one change: they
        were never sent apart, so no receiver knows them apart, and the `changes` rows are
        merged to match. A document whose whole history is that one span is sent as its
        stored oplog, without loading it into Loro."""
        store, made = self.store, 0
        with store.transaction():
            # down documents first: a catalog item should travel before cases that use it.
            # Rows are read a page at a time (in the order of the index
            # changes_unsealed_order) and seals made one at a time, so memory stays bounded.
            while True:
                rows = store.conn.execute(
                    f"SELECT doc_id, kind, scope, peer, counter_start, counter_end, {DOWN_SQL} FROM changes"
                    f" WHERE seal_seq IS NULL ORDER BY {DOWN_SQL} DESC, scope, doc_id, peer, counter_start"
                    " LIMIT ?", (SEAL_PAGE,)).fetchall()
                if not rows:
                    return made
                if len(rows) == SEAL_PAGE:  # the last document may go on past the page: next time
                    rows = [r for r in rows if r[0] != rows[-1][0]] or rows
                for (down, scope), group in groupby(rows, key=lambda r: (r[6], r[2])):
                    changes = (SealedChange(doc_id, kind, peer, start, end,
                                            self._change_bytes(doc_id, kind, scope, peer, start, end))
                               for doc_id, kind, _, peer, start, end in _merge_runs([r[:6] for r in group]))
                    for chunk in _chunks(changes):
                        self._seal(scope, bool(down), chunk)
                        made += 1
                        if made == max_seals:
                            return made

    def _change_bytes(self, doc_id: str, kind: str, scope: str, peer: int, start: int, end: int) -> bytes:
        oplog, vv = self.store.conn.execute("SELECT oplog, vv FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        if start == 0 and vv == encode_version({peer: end}):
            return zlib.decompress(oplog)
        doc = Doc.from_bytes(doc_id, kind, scope, zlib.decompress(oplog), self.store.peer)
        return doc.export_change(Change(doc_id, kind, scope, peer, start, end))

    def _seal(self, scope: str, down: bool, changes: list[SealedChange]) -> None:
        seq = self.store.next_sequence("seal")
        s = seals.make(self.key, self.node_id, seq, scope, down, changes)
        conn = self.store.conn
        conn.executemany("INSERT OR IGNORE INTO peer_owners(peer, author) VALUES (?, ?)",
                         [(p, self.node_id) for p in {c.peer for c in changes}])
        self._append_feed(s, received_from=None)
        conn.executemany(
            "DELETE FROM changes WHERE doc_id = ? AND peer = ? AND seal_seq IS NULL"
            " AND counter_start >= ? AND counter_start < ?",
            [(c.doc_id, c.peer, c.start, c.end) for c in changes])
        conn.executemany(
            "INSERT INTO changes(doc_id, peer, counter_start, counter_end, kind, scope, author, seal_seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.doc_id, c.peer, c.start, c.end, c.kind, scope, self.node_id, seq) for c in changes])

    def _append_feed(self, s: Seal, received_from: str | None) -> int:
        return self.store.conn.execute(
            "INSERT INTO feed(author, seq, scope, down, body, signature, received_from, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, datetime('now'))",
            (s.author, s.seq, s.scope, int(s.down), s.body, s.signature, received_from),
        ).lastrowid

    # -- what a peer gets next ---------------------------------------------------------------
    def next_batch(self, peer: str, since: int, max_bytes: int = DEFAULT_BATCH_BYTES) -> Batch:
        """Seals after feed position `since` that `peer` may see and did not send us. (Only
        the seals sent are read whole: a hub's feed is mostly seals a child gave it.)"""
        picked: list[int] = []
        size, pos, more = 0, since, False
        while not more:
            rows = self.store.conn.execute(
                "SELECT local_seq, author, scope, down, received_from, length(body) + length(signature)"
                " FROM feed WHERE local_seq > ? ORDER BY local_seq LIMIT 512", (pos,)).fetchall()
            for local_seq, author, scope, down, came_from, n in rows:
                if author == peer or came_from == peer or not visible(scope, bool(down), peer):
                    pos = local_seq
                    continue
                if picked and size + n > max_bytes:
                    more = True
                    break
                picked.append(local_seq)
                size += n
                pos = local_seq
            if len(rows) < 512:
                break
        out = [tuple(r) for r in self.store.conn.execute(
            f"SELECT body, signature FROM feed WHERE local_seq IN ({', '.join('?' * len(picked))}) ORDER BY local_seq",
            picked)] if picked else []
        return Batch(self.node_id, since, pos, out, more=more)

    def feed_head(self) -> int:
        return self.store.conn.execute("SELECT coalesce(max(local_seq), 0) FROM feed").fetchone()[0]

    # -- a peer's batch -> our store ------------------------------------------------------------
    def receive(self, peer: str, batch: Batch, defer: bool = False) -> Receipt:
        """Verify and import a batch from `peer` in one transaction (see the invariants).

        With `defer` (a hub taking pushes from its children), seals of documents that flow
        up are verified, stored in the feed and acknowledged, and applied to documents and
        projections later by `catch_up`: store and forward, so the link is not held while
        this node indexes what it relays. Down seals (catalog items, node records, whose
        keys later seals need) are applied at once."""
        store = self.store
        with store.transaction():
            held = self.positions(peer)[0]
            if batch.start > held:
                raise OutOfOrder(f"批次不连续：本节点已收到 {held}，批次从 {batch.start} 开始",
                                 f"the batch starts at {batch.start} but we hold only up to {held}: resend from {held}")
            receipt = Receipt(recv_upto=held)
            for body, sig in batch.seals:
                error = self._admit(peer, body, sig, receipt, defer)
                if error is not None:
                    self._quarantine(peer, body, sig, error)
                    receipt.quarantined.append(error.en)
            receipt.recv_upto = self._advance(peer, batch, receipt)
        return receipt

    def _admit(self, peer: str, body: bytes, sig: bytes, receipt: Receipt, defer: bool) -> BadSeal | None:
        """Check one seal and store it (and apply it, unless deferred); return why it was
        refused, or None."""
        try:
            s = seals.decode(body, sig)
            if self._has_seal(s.author, s.seq):
                receipt.duplicates += 1
                return None
            self._check(s)
        except BadSeal as e:
            return e
        deferred, part = defer and not s.down, Receipt(recv_upto=0)
        error, records = self._in_part(lambda: self._store_seal(peer, s, deferred, part))
        if error is not None:
            return error
        receipt.add(part)
        receipt.imported += 1
        receipt.deferred += deferred
        # A node record vouches for a key: seals by that node later in this batch, or
        # quarantined earlier for want of it, can now be checked.
        for doc in records:
            learnt = self._learn_key(doc)
            if learnt:
                self._retry_quarantined(learnt, receipt)
        return None

    def _store_seal(self, peer: str, s: Seal, deferred: bool, receipt: Receipt) -> list[Doc]:
        self.store.conn.executemany("INSERT OR IGNORE INTO peer_owners(peer, author) VALUES (?, ?)",
                                    [(p, s.author) for p in {c.peer for c in s.changes}])
        local_seq = self._append_feed(s, received_from=peer)
        if deferred:
            self.store.conn.execute("INSERT INTO unapplied(local_seq) VALUES (?)", (local_seq,))
            return []
        return self._apply(s, receipt)

    def _in_part(self, work: Callable[[], list[Doc]]) -> tuple[BadSeal | None, list[Doc]]:
        """Run `work` for one seal in a savepoint: if it fails, only that seal's writes are
        undone, and the reason is returned. A seal that passed every check and still cannot
        be applied is refused like a bad one, so it never blocks the rest. (A failing
        database is not the seal's fault: that error ends the whole transaction.)"""
        try:
            with self.store.savepoint():
                return None, work()
        except BadSeal as e:
            return e, []
        except sqlite3.Error:
            raise
        except Exception as e:  # noqa: BLE001 (whatever a library raised on these bytes)
            return BadSeal(f"签封无法导入：{type(e).__name__}", f"seal could not be applied: {e!r}"), []

    def _retry_quarantined(self, author: str, receipt: Receipt) -> None:
        rows = self.store.conn.execute(
            "SELECT id, received_from, body, signature FROM quarantine WHERE author = ? AND reason LIKE ?",
            (author, UNKNOWN_AUTHOR + "%")).fetchall()
        for qid, came_from, body, sig in rows:
            if self._admit(came_from, body, sig, receipt, defer=False) is None:
                self.store.conn.execute("DELETE FROM quarantine WHERE id = ?", (qid,))

    def _check(self, s: Seal) -> None:
        key = self.public_key(s.author)
        if key is None:
            raise BadSeal(f"未知节点 {s.author} 的签封", f"{UNKNOWN_AUTHOR} {s.author}")
        seals.verify(s, key)
        if not may_write(s.author, s.scope):
            raise BadSeal(f"节点 {s.author} 无权写入 {s.scope}",
                          f"node {s.author} may not write documents of {s.scope}")
        owners = {p: self._owner(p) for p in {c.peer for c in s.changes}}
        for c in s.changes:
            if flows_down(c.kind) != s.down:
                raise BadSeal("签封方向与文档类型不符", f"change of kind {c.kind} in a seal with down={s.down}")
            owner = owners[c.peer]
            if owner is not None and owner != s.author:
                raise BadSeal(f"变更的 peer {c.peer} 属于 {owner}", f"peer {c.peer} belongs to {owner}, not {s.author}")
            try:
                spans = change_spans(c.blob)
            except ValueError as e:
                raise BadSeal("变更内容无法解析", str(e)) from e
            if spans != {c.peer: (c.start, c.end)}:
                raise BadSeal("变更包含他人的操作", f"change {c.doc_id}@{c.peer} holds ops {spans}")
        _check_held(s, self.store.kinds({c.doc_id for c in s.changes}))

    def _apply(self, s: Seal, receipt: Receipt) -> list[Doc]:
        """Import a checked seal's changes into their documents, keep those whose
        dependencies are missing in `pending`, retry what waited for them, and save and
        project every document that moved. Returns the node records among them."""
        _check_held(s, self.store.kinds({c.doc_id for c in s.changes}))
        records: list[Doc] = []
        # a group of documents at a time: a seal may touch a thousand large documents
        for group in _groups(s.changes, APPLY_DOCS):
            records += [d for d in self._apply_group(s, group, receipt) if d.kind == "node"]
        return records

    def _apply_group(self, s: Seal, changes: list[SealedChange], receipt: Receipt) -> list[Doc]:
        ids = {c.doc_id for c in changes}
        held = self.store.get_many(ids)
        known, waiting = self.store.known_changes(ids)
        touched: dict[str, Doc] = {}
        incoming: dict[str, list[tuple]] = {}
        for c in changes:
            if (c.doc_id, c.peer, c.start) in known:
                continue
            known.add((c.doc_id, c.peer, c.start))
            doc = touched.get(c.doc_id) or held.get(c.doc_id) or \
                Doc.empty(c.doc_id, c.kind, s.scope, self.store.peer)
            touched[c.doc_id] = doc
            doc.import_blob(c.blob)
            incoming.setdefault(c.doc_id, []).append((c.peer, c.start, c.end, s.author, s.seq, c.blob))
            receipt.changes += 1
        docs = self._settle(touched, incoming, waiting, receipt)
        receipt.docs += len(docs)
        self.on_imported(docs)
        return docs

    def _settle(self, touched: dict[str, Doc], incoming: dict[str, list[tuple]],
                waiting: dict[str, list[tuple]], receipt: Receipt) -> list[Doc]:
        """Retry changes that waited for dependencies, then record what is applied, keep
        what still waits in `pending`, and save every document that moved."""
        conn, saved = self.store.conn, []
        still_rows, applied_rows, done_rows, put = [], [], [], []
        for doc_id, doc in touched.items():
            waited = waiting.get(doc_id, [])
            for w in waited:
                doc.import_blob(w[5])
            arrived = incoming.get(doc_id, [])
            applied = [w for w in waited + arrived if doc.has_change(w[0], w[2])]
            receipt.pending += len(waited) + len(arrived) - len(applied)
            still_rows += [(doc_id, *w) for w in arrived if not doc.has_change(w[0], w[2])]
            if not applied:
                continue
            done_rows += [(doc_id, w[0], w[1]) for w in applied]
            applied_rows += [(doc_id, w[0], w[1], w[2], doc.kind, doc.scope, w[3], w[4]) for w in applied]
            # A new document made of one change from counter 0: its bytes are its history.
            whole = doc.fresh and len(applied) == 1 and not waited and applied[0][1] == 0
            put.append((doc, applied[0][5] if whole else None))
            saved.append(doc)
        conn.executemany(
            "INSERT INTO pending(doc_id, peer, counter_start, counter_end, author, seal_seq, blob)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", still_rows)
        conn.executemany("DELETE FROM pending WHERE doc_id = ? AND peer = ? AND counter_start = ?", done_rows)
        conn.executemany(
            "INSERT OR IGNORE INTO changes(doc_id, peer, counter_start, counter_end, kind, scope,"
            " author, seal_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", applied_rows)
        self.store.put_docs(put)
        return saved

    def catch_up(self, max_seals: int = 2, receipt: Receipt | None = None) -> int:
        """Apply up to `max_seals` of the seals `receive(defer=True)` stored, oldest first,
        in one transaction; return how many (and count what moved in `receipt`). Such a
        seal was verified when it came; if it no longer fits what this node holds (another
        seal meanwhile made one of its documents with another kind or scope) or cannot be
        applied, it is recorded in quarantine and skipped."""
        with self.store.transaction():
            rows = self.store.conn.execute(
                "SELECT u.local_seq, f.received_from, f.body, f.signature FROM unapplied u"
                " JOIN feed f USING (local_seq) ORDER BY u.local_seq LIMIT ?", (max_seals,)).fetchall()
            for local_seq, came_from, body, sig in rows:
                part = Receipt(recv_upto=0)
                error, _ = self._in_part(lambda: self._apply(seals.decode(body, sig), part))
                if error is not None:
                    self._quarantine(came_from, body, sig, error)
                elif receipt is not None:
                    receipt.add(part)
                self.store.conn.execute("DELETE FROM unapplied WHERE local_seq = ?", (local_seq,))
        return len(rows)

    def backlog(self) -> int:
        """Received seals not yet applied (see `catch_up`)."""
        return self.store.conn.execute("SELECT count(*) FROM unapplied").fetchone()[0]

    def _learn_key(self, doc: Doc) -> str | None:
        """Record the key a node document vouches for; return the node if it is new here."""
        rec = doc.value().get("node", {})
        try:
            key = bytes.fromhex(rec.get("public_key", ""))
        except ValueError:
            return None
        if rec.get("region") != doc.scope or len(key) != 32:
            return None
        cur = self.store.conn.execute(
            "INSERT OR IGNORE INTO node_keys(node_id, public_key, source) VALUES (?, ?, 'record')",
            (doc.scope, key))
        return doc.scope if cur.rowcount else None

    def _advance(self, peer: str, batch: Batch, receipt: Receipt) -> int:
        conn = self.store.conn
        conn.execute("INSERT OR IGNORE INTO peers(node_id) VALUES (?)", (peer,))
        conn.execute(
            "UPDATE peers SET recv_upto = max(recv_upto, ?), last_contact = datetime('now'),"
            " seals_in = seals_in + ?, bytes_in = bytes_in + ? WHERE node_id = ?",
            (batch.next, receipt.imported, batch.size, peer))
        return conn.execute("SELECT recv_upto FROM peers WHERE node_id = ?", (peer,)).fetchone()[0]

    # -- small lookups -----------------------------------------------------------------------------
    def public_key(self, node_id: str) -> bytes | None:
        if node_id == self.node_id:
            return public_bytes(self.key)
        row = self.store.conn.execute("SELECT public_key FROM node_keys WHERE node_id = ?", (node_id,)).fetchone()
        return row[0] if row else None

    def _owner(self, peer: int) -> str | None:
        row = self.store.conn.execute("SELECT author FROM peer_owners WHERE peer = ?", (peer,)).fetchone()
        return row[0] if row else None

    def _has_seal(self, author: str, seq: int) -> bool:
        return self.store.conn.execute(
            "SELECT 1 FROM feed WHERE author = ? AND seq = ?", (author, seq)).fetchone() is not None

    def _quarantine(self, peer: str, body: bytes, sig: bytes, e: BadSeal) -> None:
        author = seq = None
        try:
            s = seals.decode(body, sig)
            author, seq = s.author, s.seq
        except BadSeal:
            pass
        self.store.conn.execute(
            "INSERT INTO quarantine(received_from, received_at, author, seq, reason, body, signature)"
            " VALUES (?, datetime('now'), ?, ?, ?, ?, ?)", (peer, author, seq, e.en, body, sig))

    def set_sent(self, peer: str, upto: int) -> None:
        """Record that `peer` holds our feed up to `upto` (as it says)."""
        with self.store.transaction():
            self.store.conn.execute("INSERT OR IGNORE INTO peers(node_id) VALUES (?)", (peer,))
            # The peer's word is authoritative, even when lower: a peer restored from a
            # backup must be sent again what it lost.
            self.store.conn.execute(
                "UPDATE peers SET sent_upto = min(?, (SELECT coalesce(max(local_seq), 0) FROM feed)),"
                " last_contact = datetime('now') WHERE node_id = ?", (upto, peer))

    def positions(self, peer: str) -> tuple[int, int]:
        """(recv_upto, sent_upto) for `peer`."""
        row = self.store.conn.execute("SELECT recv_upto, sent_upto FROM peers WHERE node_id = ?", (peer,)).fetchone()
        return (row[0], row[1]) if row else (0, 0)


def _check_held(s: Seal, held: dict[str, tuple[str, str]]) -> None:
    """Every change of a document has the kind and scope the document has here, and one
    kind per document within the seal."""
    kinds = dict(held)
    for c in s.changes:
        if kinds.setdefault(c.doc_id, (c.kind, s.scope)) != (c.kind, s.scope):
            raise BadSeal(f"文档 {c.doc_id} 的类型或范围不符", f"document {c.doc_id} kind/scope mismatch")


def _merge_runs(rows: list[tuple]) -> list[tuple]:
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


def _groups(changes: Iterable[SealedChange], n: int) -> Iterable[list[SealedChange]]:
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


def _chunks(changes: Iterable[SealedChange]) -> Iterable[list[SealedChange]]:
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
