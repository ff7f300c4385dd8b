"""The in-memory transport: the far end is another engine in this process, answered by
its `Responder` directly. Used by tests (the chain of real SQLite nodes) and the contract
tests; it runs the same session as HTTP with no network in between."""

from __future__ import annotations

from dataclasses import replace

from yimen.sync.engine import Batch
from yimen.sync.positions import Holding
from yimen.sync.session import Ack, Responder


class MemoryTransport:
    """`me` talks to the node behind `responder`; `defer` is how that node takes pushes
    (a hub defers bulk, as its server does)."""

    def __init__(self, responder: Responder, me: str, defer: bool = False):
        self.responder, self.me, self.defer = responder, me, defer
        self.peer = responder.engine.node_id

    async def hello(self) -> Holding:
        return Holding.from_wire(self.responder.hello(self.me), "recv_upto")

    async def push(self, batch: Batch) -> Ack:
        return Ack.of(self.responder.push(self.me, batch, self.defer))

    async def pull(self, held: Holding, max_bytes: int, wait: float) -> Batch:
        return replace(self.responder.pull(self.me, held, max_bytes), sender=self.peer)
