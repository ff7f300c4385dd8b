"""One sync session between two nodes, written once; every transport drives it.

The exchange, in the words of the protocol:

1. **Hello.** The initiator learns how far the peer holds its feed, in the peer's own
   word (`Outbound.start`): an acknowledgement lost with a broken link last time is learnt
   here, and the word is capped at our feed's head (an ack beyond it can only come from a
   node that knew a feed we lost).
2. **Push.** Seal before sending, then send from the last acknowledged position, a bounded
   batch at a time (`Outbound.prepare`); record each acknowledgement (`Outbound.sent`);
   if the peer holds another position than the batch ended at, resend from there.
3. **Pull.** Ask for the peer's feed from what we hold of it (`Inbound.position`) and take
   each batch in one transaction (`Inbound.take`) until the peer says there is no more.

`Session` is the initiating side over a `Transport` (the far end as HTTP, memory, ...);
`Responder` is the answering side that a server (or the in-memory transport) calls. A
bundle is the same exchange carried by hand: its header is the hello (`ack`), its batches
the push, and importing it is the responder's side (see `transports.bundle_exchange`).
Reconcile's repairs are batches outside the stream (`Batch.repair`).

Invariants: a position is only recorded in the transaction that stored what it covers
(the engine's); a batch is sent again until acknowledged (a bundle is never acknowledged
on the way: its acknowledgement comes back in the next bundle); nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from yimen.sync.engine import Batch, Engine, Receipt

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


class Transport(Protocol):
    """The far end of a session, as one transport reaches it (see tests/contracts)."""

    peer: str

    async def hello(self) -> int:
        """How far the peer holds our feed."""

    async def push(self, batch: Batch) -> Ack:
        """Give the peer a batch of our feed (or a repair batch)."""

    async def pull(self, since: int, max_bytes: int, wait: float) -> Batch:
        """The peer's next batch after `since`, waiting up to `wait` s for one."""


class Outbound:
    """Our feed toward one peer."""

    def __init__(self, engine: Engine, peer: str, batch_bytes: int | None = None):
        self.engine, self.peer, self.batch_bytes = engine, peer, batch_bytes or BATCH_BYTES

    def acknowledged(self, held: int) -> int:
        """The peer says it holds our feed up to `held` (in a hello, an answer to a push,
        a pull's `since`, a bundle's `ack`): record it; returns where to send from."""
        return self.engine.set_sent(self.peer, held)

    def seal(self, ahead: int | None = None) -> bool:
        """Seal before sending: `ahead` seals' worth (all, with None); say whether changes
        are left unsealed."""
        made = self.engine.seal_pending(max_seals=ahead)
        return ahead is not None and made == ahead

    def next(self, since: int) -> Batch:
        """The next batch of what the peer may see after `since`."""
        return self.engine.next_batch(self.peer, since, self.batch_bytes)

    def prepare(self, since: int, ahead: int | None = SEALS_AHEAD) -> tuple[Batch, bool]:
        """`seal(ahead)`, then `next(since)`, in one call (one trip to a database thread)."""
        unsealed = self.seal(ahead)
        return self.next(since), unsealed

    def sent(self, batch: Batch, ack: int | None = None) -> int:
        """Count a batch sent and record the acknowledgement that came back (None: a pull's
        answer, acknowledged by the next pull's `since`); returns the position to go on from."""
        with self.engine.store.transaction():
            self.engine.count_sent(self.peer, len(batch.seals), batch.size)
            return batch.next if ack is None else self.acknowledged(ack)


class Inbound:
    """The peer's feed toward us."""

    def __init__(self, engine: Engine, peer: str):
        self.engine, self.peer = engine, peer

    def position(self) -> int:
        return self.engine.positions(self.peer)[0]

    def take(self, batch: Batch, defer: bool = False) -> Receipt:
        return self.engine.receive(self.peer, batch, defer)


class Responder:
    """The answering side of sessions with any peer (sync calls: a server runs them on
    its database thread)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def hello(self, peer: str) -> dict[str, Any]:
        recv, sent = self.engine.positions(peer)
        return {"node": self.engine.node_id, "recv_upto": recv, "sent_upto": sent}

    def push(self, peer: str, batch: Batch, defer: bool = False) -> Receipt:
        return Inbound(self.engine, peer).take(batch, defer)

    def pull(self, peer: str, since: int, max_bytes: int) -> Batch:
        """The batch after `since`, which is the peer's word on what it holds of our feed."""
        out = Outbound(self.engine, peer, max_bytes)
        out.acknowledged(since)
        batch, _ = out.prepare(since, None)
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
        since = await self.run(self.outbound.acknowledged, await self.transport.hello())
        await self.push(since, stats)
        await self.pull(stats, wait)
        return stats

    async def push(self, since: int, stats: RoundStats) -> None:
        """While one batch travels and the peer stores it, the next is sealed and read here
        (on two cores, the two ends overlap)."""
        upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, since, FIRST_AHEAD))
        try:
            while True:
                batch, unsealed = await upcoming
                if not batch.seals and batch.next == since and not unsealed:
                    return
                sending = asyncio.ensure_future(self.transport.push(batch))
                upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, batch.next))
                ack = await sending
                since = await self.run(self.outbound.sent, batch, ack.recv_upto)
                stats.pushed += ack.imported
                stats.bytes_out += batch.size
                stats.quarantined += ack.quarantined
                if since != batch.next:  # the peer holds another position: resend from it
                    await upcoming
                    upcoming = asyncio.ensure_future(self.run(self.outbound.prepare, since))
        finally:
            if not upcoming.done():
                await asyncio.wait([upcoming])
            if not upcoming.cancelled():
                upcoming.exception()  # retrieved: the error that ended the push is the one raised

    async def pull(self, stats: RoundStats, wait: float = 0) -> None:
        while True:
            since = await self.run(self.inbound.position)
            batch = await self.transport.pull(since, self.batch_bytes, wait)
            receipt = await self.run(self.inbound.take, batch)
            stats.pulled += receipt.imported
            stats.bytes_in += batch.size
            stats.quarantined += receipt.quarantined
            if not batch.more:
                return
            wait = 0
