"""One sync session between two nodes, written once; every transport drives it.

The exchange, in the words of the protocol:

1. **Hello.** The initiator learns how far the peer holds its feed and its numbering, in
   the peer's own word (a `Holding`), and checks it against its feed (`Outbound.resume`,
   see `yimen.sync.positions`): an acknowledgement lost with a broken link last time is
   learnt here; a word that cannot be true (past our feed's end, or naming an own seal we
   lack) is noticed, said (`RoundStats.notices`) and answered by restating our feed
   (a `rewind` batch); a node restored from an older copy continues its numbering here.
2. **Push.** Seal before sending, then send from the last acknowledged position, a bounded
   batch at a time (`Outbound.prepare`); record each acknowledgement (`Outbound.sent`);
   if the peer holds another position than the batch ended at (or refuses a gap, naming
   the position it holds), resend from there.
3. **Pull.** Ask for the peer's feed from what we hold of it (`Inbound.holding`; the
   peer checks it the same way and may restate its feed) and take each batch in one
   transaction (`Inbound.take`) until the peer says there is no more.

`Session` is the initiating side over a `Transport` (the far end as HTTP, memory, ...);
`Responder` is the answering side that a server (or the in-memory transport) calls. A
bundle is the same exchange carried by hand: its header is the hello (`ack` and the
numbering), its batches the push, and importing it is the responder's side (see
`yimen.node.services.bundles`). Reconcile's repairs are batches outside the stream
(`Batch.repair`).

Invariants: a position is only recorded in the transaction that stored what it covers
(the engine's), and a peer's word on our feed only once checked against it; a batch is
sent again until acknowledged (a bundle is never acknowledged on the way: its
acknowledgement comes back in the next bundle); nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from yimen.sync.engine import Batch, Engine, OutOfOrder, Receipt
from yimen.sync import positions
from yimen.sync.positions import Holding, Resume

BATCH_BYTES = 1 << 20
SEALS_AHEAD = 24  # about a batch: a seal of cases is ~50 KB
FIRST_AHEAD = 2  # a small first batch, so the peer starts storing while the rest is sealed

T = TypeVar("T")
Run = Callable[..., Awaitable[Any]]


async def direct(fn: Callable[..., T], *args: Any) -> T:
    """Run an engine call in place (a node with one thread)."""
    return fn(*args)


@dataclass
class Ack:
    """A peer's answer to a pushed batch."""

    recv_upto: int
    imported: int = 0
    duplicates: int = 0
    quarantined: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, receipt: Receipt) -> Ack:
        return cls(receipt.recv_upto, receipt.imported, receipt.duplicates, list(receipt.quarantined))


@dataclass
class RoundStats:
    peer: str = ""
    url: str = ""
    pushed: int = 0
    pulled: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    quarantined: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # impossible words of the peer noticed (en)

    def notice(self, resume: Resume) -> Resume:
        if resume.notice is not None:
            self.notices.append(resume.notice.en)
        return resume


class Transport(Protocol):
    """The far end of a session, as one transport reaches it (see tests/contracts)."""

    peer: str

    async def hello(self) -> Holding:
        """How far the peer holds our feed and our numbering."""

    async def push(self, batch: Batch) -> Ack:
        """Give the peer a batch of our feed (or a repair batch); a gap is refused with
        `OutOfOrder` naming the position the peer holds."""

    async def pull(self, held: Holding, max_bytes: int, wait: float) -> Batch:
        """The peer's next batch after `held.upto`, waiting up to `wait` s for one."""


class Outbound:
    """Our feed toward one peer."""

    def __init__(self, engine: Engine, peer: str, batch_bytes: int | None = None):
        self.engine, self.peer, self.batch_bytes = engine, peer, batch_bytes or BATCH_BYTES

    def resume(self, held: Holding | None = None, newer: bool = True) -> Resume:
        """The peer says it holds `held` of our feed (in a hello, a pull, a bundle's
        header): check and record it; returns where to send from. None: no new word
        (a bundle's export goes on from the recorded position)."""
        if held is None:
            return positions.resume(self.engine.store, self.peer)
        return self.engine.acknowledged(self.peer, held, newer)

    def seal(self, ahead: int | None = None) -> bool:
        """Seal before sending: `ahead` seals' worth (all, with None); say whether changes
        are left unsealed."""
        made = self.engine.seal_pending(max_seals=ahead)
        return ahead is not None and made == ahead

    def next(self, since: int, rewind: bool = False) -> Batch:
        """The next batch of what the peer may see after `since` (restating our feed from
        there, with `rewind`)."""
        batch = self.engine.next_batch(self.peer, since, self.batch_bytes)
        return replace(batch, rewind=True) if rewind else batch

    def prepare(self, since: int, ahead: int | None = SEALS_AHEAD, rewind: bool = False) -> tuple[Batch, bool]:
        """`seal(ahead)`, then `next(since, rewind)`, in one call (one trip to a database thread)."""
        unsealed = self.seal(ahead)
        return self.next(since, rewind), unsealed

    def sent(self, batch: Batch, ack: int | None = None) -> Resume:
        """Count a batch sent and record the acknowledgement that came back (None: a pull's
        answer, acknowledged by the next pull); returns where to go on from."""
        with self.engine.store.transaction():
            self.engine.count_sent(self.peer, len(batch.seals), batch.size)
            if batch.rewind:
                positions.restated(self.engine.store, self.peer, batch.next)
            return Resume(batch.next) if ack is None else self.resume(Holding(ack))


class Inbound:
    """The peer's feed toward us."""

    def __init__(self, engine: Engine, peer: str):
        self.engine, self.peer = engine, peer

    def position(self) -> int:
        return self.engine.positions(self.peer)[0]

    def holding(self) -> Holding:
        """What we hold of the peer's feed and numbering, as we tell it."""
        return positions.holding(self.engine.store, self.peer)

    def take(self, batch: Batch, defer: bool = False) -> Receipt:
        return self.engine.receive(self.peer, batch, defer)


class Responder:
    """The answering side of sessions with any peer (sync calls: a server runs them on
    its database thread)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def hello(self, peer: str) -> dict[str, Any]:
        held = positions.holding(self.engine.store, peer)
        return {"node": self.engine.node_id, "recv_upto": held.upto,
                "sent_upto": self.engine.positions(peer)[1], **held.wire()}

    def push(self, peer: str, batch: Batch, defer: bool = False) -> Receipt:
        return Inbound(self.engine, peer).take(batch, defer)

    def pull(self, peer: str, held: Holding, max_bytes: int) -> Batch:
        """The batch after what the peer says it holds of our feed, restating our feed
        if its word cannot be true."""
        out = Outbound(self.engine, peer, max_bytes)
        resume = out.resume(held)
        batch, _ = out.prepare(resume.since, None, resume.rewind)
        out.sent(batch)
        return batch


class Session:
    """The initiating side of one exchange with `transport.peer`. `run` runs a blocking
    engine call (on the node's database thread, for a server)."""

    def __init__(self, engine: Engine, transport: Transport, run: Run = direct, batch_bytes: int | None = None):
        self.transport, self.run, self.batch_bytes = transport, run, batch_bytes or BATCH_BYTES
        self.outbound = Outbound(engine, transport.peer, self.batch_bytes)
        self.inbound = Inbound(engine, transport.peer)

    async def round(self, wait: float = 0, stats: RoundStats | None = None) -> RoundStats:
        """Hello, push until the peer holds everything, pull until we hold everything."""
        stats = stats or RoundStats(self.transport.peer)
        resume = await self.run(self.outbound.resume, await self.transport.hello())
        await self.push(stats.notice(resume), stats)
        await self.pull(stats, wait)
        return stats

    async def push(self, resume: Resume, stats: RoundStats) -> None:
        """While one batch travels and the peer stores it, the next is sealed and read here
        (on two cores, the two ends overlap)."""
        since = resume.since
        upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, since, FIRST_AHEAD, resume.rewind))
        try:
            while True:
                batch, unsealed = await upcoming
                if not batch.seals and batch.next == since and not unsealed and not batch.rewind:
                    return
                sending = asyncio.ensure_future(self._send(batch))
                upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, batch.next))
                ack = await sending
                resume = stats.notice(await self.run(self.outbound.sent, batch, ack.recv_upto))
                since = resume.since
                stats.pushed += ack.imported
                stats.bytes_out += batch.size
                stats.quarantined += ack.quarantined
                if resume.rewind and batch.rewind and since == batch.start:
                    return  # the peer did not take the restatement: the next round tries again
                if since != batch.next or resume.rewind:  # the peer holds another position: resend from it
                    await upcoming
                    upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, since, SEALS_AHEAD,
                                                              resume.rewind))
        finally:
            if not upcoming.done():
                await asyncio.wait([upcoming])
            if not upcoming.cancelled():
                upcoming.exception()  # retrieved: the error that ended the push is the one raised

    async def _send(self, batch: Batch) -> Ack:
        """Push a batch; a gap refused is an answer too: it names the position the peer
        holds, to resend from (its feed went back since the hello)."""
        try:
            return await self.transport.push(batch)
        except OutOfOrder as e:
            return Ack(e.recv_upto)

    async def pull(self, stats: RoundStats, wait: float = 0) -> None:
        while True:
            held = await self.run(self.inbound.holding)
            batch = await self.transport.pull(held, self.batch_bytes, wait)
            receipt = await self.run(self.inbound.take, batch)
            stats.pulled += receipt.imported
            stats.bytes_in += batch.size
            stats.quarantined += receipt.quarantined
            if not batch.more:
                return
            wait = 0
