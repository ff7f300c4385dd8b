"""When received seals get applied: the `Materializer` applies what pushes stored, only
while the node is otherwise idle, so relaying goes first (store and forward)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from typing import AsyncIterator, Iterator

from aiohttp import web

from yimen.node.home import Node
from yimen.node.replication import engine, in_db
from yimen.node.server.supervisor import Supervisor

log = logging.getLogger("yimen.http")


class Materializer:
    """Applies the seals that pushes stored, one per transaction on the database thread,
    only when the node is otherwise idle: no push being received, and none received nor
    anything written by another process (a `sync`, a clerk's command) for a short grace.
    So a child's push is acknowledged as soon as it is verified and stored, and relaying
    goes first. Starts by draining what a previous run left; `drained` is set whenever
    nothing is left to apply."""

    GRACE_S = 1.0  # a pipelining child pushes again sooner; a real pause lasts longer
    PAUSE_S = 0.005  # between seals applied (other writers retry every 2 ms, see Store)
    INLINE_SEALS = 4  # a push this small, with nothing waiting, is applied at once

    def __init__(self, node: Node):
        self.node = node
        self.wake, self.quiet, self.drained = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.wake.set()
        self.quiet.set()
        self.pushes, self.last_activity, self.seen = 0, 0.0, 0

    @contextmanager
    def receiving(self) -> Iterator[None]:
        self.pushes += 1
        self.quiet.clear()
        try:
            yield
        finally:
            self.pushes -= 1
            self.last_activity = asyncio.get_running_loop().time()
            if not self.pushes:
                self.quiet.set()
            self.wake.set()

    async def run(self) -> None:
        eng, loop = engine(self.node), asyncio.get_running_loop()
        self.wake.set()  # restarted after a failure (see Supervisor): look at what is left
        self.seen = await in_db(self.node, self.node.store.data_version)
        while True:
            await self.wake.wait()
            self.wake.clear()
            while True:
                await self.quiet.wait()
                version = await in_db(self.node, self.node.store.data_version)
                if version != self.seen:  # another process wrote to this node
                    self.seen, self.last_activity = version, loop.time()
                wait = self.last_activity + self.GRACE_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                try:
                    if not await in_db(self.node, eng.catch_up, 1):
                        self.drained.set()
                        break
                except Exception:  # keep serving; the next push wakes us to retry
                    log.exception("applying received seals failed")
                    break
                await asyncio.sleep(self.PAUSE_S)  # a window for another process's write


MATERIALIZER = web.AppKey("materializer", Materializer)


async def materializing(app: web.Application) -> AsyncIterator[None]:
    """The materializer runs supervised: one that died would leave every push stored and
    never applied."""
    tasks = Supervisor()
    tasks.start("materializer", app[MATERIALIZER].run)
    yield
    await tasks.stop()
    await in_db(app[MATERIALIZER].node, lambda: None)  # a seal being applied on the database thread finishes
