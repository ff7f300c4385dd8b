"""The sync engine: seals own changes, says what a peer may receive next, imports what a
peer sent. It knows nothing of HTTP or files (transports drive it through
`yimen.sync.session`) and no SQL (the store's repositories hold that).

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
- A seal is checked whole before any of it is imported (see `admission`). A bad seal goes
  to quarantine with its reason and never blocks the others; its bytes delivered again are
  a duplicate (quarantine is bounded, see `store.repos.Quarantine`).
- The `on_imported` hook's failure is not the seal's: the documents are imported all the
  same, only the hook's writes are undone (see `_project`).
- A change whose dependencies are missing is kept in `pending` and applied when they come.
- `next_batch` never offers a peer a seal it may not see, nor one that came from it or
  that it authored; it is bounded in bytes; its `next` position lets the peer resume.
- A peer's word on how far it holds our feed is recorded only once checked against our
  feed (`acknowledged`, see `yimen.sync.positions`); a received batch moves the peer's
  position forward only, unless it restates the peer's feed (`Batch.rewind`).
- Seal numbers grow per author and never fall below `seal_floor()` (the wall clock).
- Every time the engine stamps (feed, quarantine, peers) comes from its clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from itertools import groupby
from typing import Callable, Iterable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.schema import region
from yimen.sync import admission, certs, on_demand, positions
from yimen.sync import seal as seals
from yimen.sync.apply import OnImported, Receipt, apply_seal
from yimen.sync.batch import Batch, OutOfOrder
from yimen.sync.docs import Change, Doc, LoroError, encode_version
from yimen.sync.seal import BadSeal, Seal, SealedChange
from yimen.sync.sealing import chunks, merge_runs
from yimen.sync.store import Store, database_failure, driver
from yimen.sync.store.repos import seal_digest
from yimen.sync.visibility import SPACE, UP, visible

log = logging.getLogger("yimen.sync")
DEFAULT_BATCH_BYTES = 1 << 20
SEAL_PAGE = 20_000  # unsealed change rows read at a time
SCAN = 512  # feed rows looked at a time by next_batch

__all__ = ["Engine", "Batch", "Receipt", "OutOfOrder", "public_bytes", "DEFAULT_BATCH_BYTES"]

def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _seal_group(row: tuple) -> tuple[int, str, str]:
    """Own changes that go in one seal: one flow and one scope; a space document's go alone
    (a hub hands that seal on, by itself, to a node holding the citizen's consent)."""
    return row[6], row[2], row[0] if row[6] == SPACE else ""


class Engine:
    def __init__(self, store: Store, node_id: str, key: Ed25519PrivateKey,
                 on_imported: OnImported = lambda docs: None, clock: Callable[[], str] = utc_now,
                 seal_floor: Callable[[], int] = positions.wall_us):
        self.store, self.node_id, self.key = store, node_id, key
        self.on_imported, self.clock = on_imported, clock
        self.on_feed: Callable[[], None] = lambda: None  # a seal was appended (a server wakes pulls)
        # Seal numbers never fall below `seal_floor()` (the wall clock in microseconds: no
        # number is given before its time), so a node restored from an older copy does not
        # give again the numbers it gave after the copy was made.
        self.seal_floor = seal_floor
        self._own_key = public_bytes(key)

    # -- own changes -> seals --------------------------------------------------------------
    def seal_pending(self, max_seals: int | None = None) -> int:
        """Sign unsealed own changes into seals (one scope and direction each, bounded in
        size and count): all of them, or the first `max_seals` seals' worth (a sender seals
        a batch ahead while the last one travels). Returns the number of seals made.

        Contiguous unsealed changes of one peer in one document travel as one change: they
        were never sent apart, so no receiver knows them apart, and the `changes` rows are
        merged to match. Down documents go first (a catalog item before the cases that use
        it); rows are read a page at a time and seals made one at a time, so memory stays
        bounded."""
        made = 0
        with self.store.transaction():
            while rows := self.store.changes.unsealed_page(SEAL_PAGE):
                if len(rows) == SEAL_PAGE:  # the last document may go on past the page: next time
                    rows = [r for r in rows if r[0] != rows[-1][0]] or rows
                for (flow, scope, _), group in groupby(rows, key=_seal_group):
                    for chunk in chunks(self._sealed_changes(group)):
                        self._seal(scope, flow, chunk)
                        made += 1
                        if made == max_seals:
                            return made
        return made

    def _sealed_changes(self, rows: Iterable[tuple]) -> Iterator[SealedChange]:
        saves = [r[:6] for r in rows]
        for run in merge_runs(saves):
            blob = self._change_bytes(*run)
            if len(blob) <= seals.MAX_CHANGE_BYTES:
                yield SealedChange(run[0], run[1], run[3], run[4], run[5], blob)
                continue
            # Saves that merged would be a change larger than a seal may carry: they go as
            # they were saved (each one fits, see `Store.save`).
            for r in saves:
                if (r[0], r[3]) == (run[0], run[3]) and run[4] <= r[4] < run[5]:
                    yield SealedChange(r[0], r[1], r[3], r[4], r[5], self._change_bytes(*r))

    def _change_bytes(self, doc_id: str, kind: str, scope: str, peer: int, start: int, end: int) -> bytes:
        """A document whose whole history is this one span is sent as its stored oplog,
        without loading it into Loro."""
        oplog, vv = self.store.oplog(doc_id)
        if start == 0 and vv == encode_version({peer: end}):
            return oplog
        doc = Doc.from_bytes(doc_id, kind, scope, oplog, self.store.peer)
        return doc.export_change(Change(doc_id, kind, scope, peer, start, end))

    def _seal(self, scope: str, flow: int, changes: list[SealedChange]) -> None:
        seq = self.store.next_sequence("seal", at_least=self.seal_floor())
        s = seals.make(self.key, self.node_id, seq, scope, flow, changes)
        self.store.keys.bind_peers((c.peer for c in changes), self.node_id)
        self.store.feed.append(s, None, self.clock())
        self.on_feed()
        self.store.changes.mark_sealed([(c.doc_id, c.kind, c.peer, c.start, c.end) for c in changes],
                                       scope, self.node_id, seq)

    # -- what a peer gets next ---------------------------------------------------------------
    def next_batch(self, peer: str, since: int, max_bytes: int = DEFAULT_BATCH_BYTES) -> Batch:
        """Seals after feed position `since` that `peer` may see and did not send us. (Only
        the seals sent are read whole: a hub's feed is mostly seals a child gave it.)"""
        picked: list[int] = []
        size, pos, more = 0, since, False
        while not more:
            rows = self.store.feed.scan(pos, SCAN)
            for local_seq, author, scope, flow, came_from, n in rows:
                if author == peer or came_from == peer or not visible(scope, flow, peer):
                    pos = local_seq
                    continue
                if picked and size + n > max_bytes:
                    more = True
                    break
                picked.append(local_seq)
                size += n
                pos = local_seq
            if len(rows) < SCAN:
                break
        return Batch(self.node_id, since, pos, self.store.feed.bodies(picked), more=more)

    def feed_head(self) -> int:
        return self.store.feed.head()

    # -- a peer's batch -> our store ------------------------------------------------------------
    def receive(self, peer: str, batch: Batch, defer: bool = False) -> Receipt:
        """Verify and import a batch from `peer` in one transaction (see the invariants).

        With `defer` (a hub taking pushes from its children), seals of documents that flow
        up are verified, stored in the feed and acknowledged, and applied to documents and
        projections later by `catch_up`: store and forward, so the link is not held while
        this node indexes what it relays. Down and city-wide seals (catalog items, node
        records and revocations, whose keys and cuts later seals need) are applied at once."""
        if not (positions.is_count(batch.start) and batch.start <= batch.next < positions.LIMIT):
            raise positions.BadPosition("批次位置无效：结束位置须不小于起始位置",
                                        f"a batch cannot end ({batch.next}) before it starts ({batch.start})")
        with self.store.transaction():
            held = self.positions(peer)[0]
            if batch.start > held:
                raise OutOfOrder(f"批次不连续：本节点已收到 {held}，批次从 {batch.start} 开始",
                                 f"the batch starts at {batch.start} but we hold only up to {held}: resend from {held}",
                                 held)
            receipt = Receipt(recv_upto=held)
            for body, sig in batch.seals:
                self._take(peer, body, sig, receipt, defer)
            receipt.recv_upto = self.store.peers.received(peer, batch.next, receipt.imported, batch.size,
                                                          self.clock(), rewind=batch.rewind)
        return receipt

    def receive_on_demand(self, peer: str, given: list[tuple[bytes, bytes]]) -> Receipt:
        """Space seals `peer` gave outside the stream, kept outside the feed (see `on_demand`)."""
        return on_demand.receive(self, peer, given)

    def _take(self, peer: str, body: bytes, sig: bytes, receipt: Receipt, defer: bool) -> None:
        """Admit one seal or quarantine it. Bytes quarantined already are a duplicate (a
        replay, a bundle exported again before its acknowledgement came back); bytes that
        were quarantined and go in now (their author's key came meanwhile) leave quarantine."""
        digest = seal_digest(body, sig)
        error = self._admit(peer, body, sig, receipt, defer)
        if error is None:
            self.store.quarantine.release(digest)
        elif self._quarantine(peer, body, sig, error, digest):
            receipt.refused[digest] = error.en
        else:
            receipt.duplicates += 1

    def _admit(self, peer: str, body: bytes, sig: bytes, receipt: Receipt, defer: bool) -> BadSeal | None:
        """Check one seal and store it (and apply it, unless deferred); return why it was
        refused, or None."""
        try:
            s = seals.decode(body, sig)
            if self.store.feed.has(s.author, s.seq):
                receipt.duplicates += 1
                return None
            admission.check(self.store, s)
        except BadSeal as e:
            return e
        deferred, part = defer and s.flow in (UP, SPACE), Receipt(recv_upto=0)
        error, records = self._in_part(lambda: self._store_seal(peer, s, deferred, part))
        if error is not None:
            return error
        self._set_aside(part.misfits)
        receipt.add(part)
        receipt.imported += 1
        receipt.deferred += deferred
        # A node record vouches for keys: seals by that node later in this batch, or
        # quarantined earlier for want of them, can now be checked. A revocation cuts keys.
        for doc in records:
            if self._learn(doc):
                self._retry_quarantined(doc.scope, receipt)
        return None

    def _store_seal(self, peer: str, s: Seal, deferred: bool, receipt: Receipt) -> list[Doc]:
        self.store.keys.bind_peers((c.peer for c in s.changes), s.author)
        local_seq = self.store.feed.append(s, peer, self.clock())
        self.on_feed()
        if deferred:
            self.store.feed.mark_unapplied(local_seq)
            return []
        return apply_seal(self.store, s, receipt, self._project)

    def _project(self, docs: list[Doc]) -> None:
        """Run the `on_imported` hook in a savepoint of its own. Its failure is not the
        seal's: the documents stay imported (they are the truth, and projections are
        rebuilt from them), only the hook's writes are undone, and the error is logged. A
        failing database still ends the whole transaction."""
        try:
            with self.store.savepoint():
                self.on_imported(docs)
        except Exception as e:  # noqa: BLE001 (whatever the hook raised; logged in full)
            if isinstance(e, driver.Error) and database_failure(e):
                raise
            log.exception("projecting %s failed; the documents are stored but not projected",
                          ", ".join(d.doc_id for d in docs[:20]))

    def _in_part(self, work: Callable[[], list[Doc]]) -> tuple[BadSeal | None, list[Doc]]:
        """Run `work` for one seal in a savepoint: if it fails, only that seal's writes are
        undone, and the reason is returned. A seal that passed every check and still cannot
        be applied is refused like a bad one, so it never blocks the rest: whatever a
        library raised on its bytes, a database error its content caused included (a value
        SQLite cannot bind). Only a failing database (disk full, busy, corrupt, closed) is
        not the seal's fault: that error ends the whole transaction."""
        try:
            with self.store.savepoint():
                return None, work()
        except BadSeal as e:
            return e, []
        except LoroError as e:
            return BadSeal("变更内容无法解析", e.en), []
        except Exception as e:  # noqa: BLE001 (whatever a library raised on these bytes)
            if isinstance(e, driver.Error) and database_failure(e):
                raise
            return BadSeal(f"签封无法导入：{type(e).__name__}", f"seal could not be applied: {e!r:.300}"), []

    def _set_aside(self, refused: list[tuple[str, int, str, str]]) -> None:
        """Quarantine, for the admin, the seals whose waiting changes did not fit their
        document (see `apply`); they stay in the feed, their other changes applied."""
        for author, seq, reason, reason_zh in refused:
            held = self.store.feed.seal(author, seq)
            if held is not None:
                self.store.quarantine.add(None, self.clock(), author, seq, reason, held[2], held[3],
                                          seal_digest(held[2], held[3]), reason_zh=reason_zh)

    def _retry_quarantined(self, author: str, receipt: Receipt) -> None:
        """Check again the seals by `author` that waited for its key. One that goes in is no
        longer reported quarantined to this batch's sender; one refused again is recorded
        with its new reason."""
        for qid, came_from, body, sig, digest in self.store.quarantine.waiting_for(author, admission.UNKNOWN_AUTHOR):
            error = self._admit(came_from, body, sig, receipt, defer=False)
            self.store.quarantine.remove(qid)
            if error is None:
                receipt.refused.pop(digest, None)
            else:
                self._quarantine(came_from, body, sig, error, digest)
                if digest in receipt.refused:
                    receipt.refused[digest] = error.en

    def catch_up(self, max_seals: int = 2, receipt: Receipt | None = None) -> int:
        """Apply up to `max_seals` of the seals `receive(defer=True)` stored, oldest first,
        in one transaction; return how many (and count what moved in `receipt`). Such a
        seal was verified when it came; if it no longer fits what this node holds (another
        seal meanwhile made one of its documents with another kind or scope) or cannot be
        applied, it is recorded in quarantine and marked applied all the same: no seal is
        tried twice, so none can hold up the ones behind it. Only a failing database
        raises (and then nothing of this call is written)."""
        with self.store.transaction():
            rows = self.store.feed.unapplied(max_seals)
            for local_seq, came_from, body, sig in rows:
                part = Receipt(recv_upto=0)
                error, _ = self._in_part(
                    lambda: apply_seal(self.store, seals.decode(body, sig), part, self._project))
                if error is not None:
                    self._quarantine(came_from, body, sig, error)
                else:
                    self._set_aside(part.misfits)
                    if receipt is not None:
                        receipt.add(part)
                self.store.feed.mark_applied(local_seq)
        return len(rows)

    def set_aside_oldest(self, reason: str) -> bool:
        """Quarantine the oldest seal waiting to be applied and mark it applied (what a
        caller does when applying it fails other than by the database failing: one seal must
        never hold up the ones behind it for ever); False if none waits."""
        with self.store.transaction():
            rows = self.store.feed.unapplied(1)
            for local_seq, came_from, body, sig in rows:
                self._quarantine(came_from, body, sig, BadSeal(f"签封无法导入：{reason}",
                                                               f"seal could not be applied: {reason}"))
                self.store.feed.mark_applied(local_seq)
        return bool(rows)

    def backlog(self) -> int:
        """Received seals not yet applied (see `catch_up`)."""
        return self.store.feed.backlog()

    def _learn(self, doc: Doc) -> bool:
        """Record what a trust list document vouches for: the certificates of a node record
        that verify here (a revoked key's too: its seals before the cut stay valid), the cuts
        of a revocation. True if a key of the document's node is new here."""
        if doc.kind == "revocation":
            for kid, cut, reason in admission.revocations(doc):
                self.store.keys.cut(kid, region.normalize(doc.scope), cut, "revoked", admission.revoked_reason(reason))
            return False
        new = False
        for raw in admission.certificates(doc):
            try:
                cert = certs.verify(raw, self.store.keys, self.unix_now(), self.store.keys.revoked)
            except certs.CertificateRevoked:
                cert = certs.parse(raw)
            except certs.BadCertificate as e:
                log.warning("a certificate in %s is not taken: %s", doc.doc_id, e.en)
                continue
            if cert.region == region.normalize(doc.scope):
                new = self.store.keys.add(cert) or new
        return new

    def unix_now(self) -> int:
        """The engine's clock in Unix seconds (certificates' validity)."""
        return int(datetime.fromisoformat(self.clock()).timestamp())

    def _quarantine(self, peer: str | None, body: bytes, sig: bytes, e: BadSeal, digest: bytes | None = None) -> bool:
        """Record why a seal was refused; False if these bytes were quarantined already.
        Only a seal that may yet go in (its author's key is not known here) keeps its bytes."""
        try:
            s = seals.decode(body, sig)
            author, seq = s.author, s.seq
        except BadSeal as d:
            author, seq = d.author, d.seq
        return self.store.quarantine.add(peer, self.clock(), author, seq, e.en, body, sig,
                                         digest or seal_digest(body, sig),
                                         keep_body=e.en.startswith(admission.UNKNOWN_AUTHOR), reason_zh=e.zh)

    # -- positions (checked in `yimen.sync.positions`) -------------------------------------
    def acknowledged(self, peer: str, held: positions.Holding, newer: bool = True) -> positions.Resume:
        """`peer` says it holds `held` of our feed (a hello answer, a push's answer, a pull,
        a bundle's header): check it against our feed, record it, say where to send from."""
        return positions.acknowledged(self.store, self.node_id, peer, held, self.clock(), newer)

    def set_sent(self, peer: str, upto: int) -> int:
        """Record that `peer` holds our feed up to `upto`, unchecked but for being a
        position of our feed; returns it."""
        if not (positions.is_count(upto) and upto <= self.feed_head()):
            raise positions.BadPosition(f"位置 {upto} 不在本节点数据流中", f"{upto} is not a position of our feed")
        with self.store.transaction():
            self.store.peers.acknowledged(peer, upto, self.clock())
        return upto

    def count_sent(self, peer: str, seals: int, size: int) -> None:
        """Count seals and bytes sent to `peer`."""
        with self.store.transaction():
            self.store.peers.sent(peer, seals, size, self.clock())

    def positions(self, peer: str) -> tuple[int, int]:
        """(recv_upto, sent_upto) for `peer`."""
        return self.store.peers.positions(peer)

    def public_key(self, node_id: str) -> bytes | None:
        return self._own_key if node_id == self.node_id else self.store.keys.public_key(node_id)
