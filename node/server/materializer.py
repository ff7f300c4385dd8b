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
from yimen.sync.engine import Engine
from yimen.sync.errors import StoreError
from yimen.schema.text import Text

log = logging.getLogger("yimen.http")


class Materializer:
    """Applies the seals that pushes stored, one per transaction on the database thread,
    only when the node is otherwise idle: no push being received, and none received nor
    anything written by another process (a `sync`, a clerk's command) for a short grace.
    So a child's push is acknowledged as soon as it is verified and stored, and relaying
    goes first. Starts by draining what a previous run left; `drained` is set whenever
    nothing is left to apply. No seal holds up the ones behind it: one that cannot be
    applied is quarantined and skipped (see `_failed`)."""

    GRACE_S = 1.0  # a pipelining child pushes again sooner; a real pause lasts longer
    PAUSE_S = 0.005  # between seals applied (other writers retry every 2 ms, see Store)
    INLINE_SEALS = 4  # a push this small, with nothing waiting, is applied at once
    RETRY_S, RETRY_MAX_S = 0.5, 30.0  # the first and the longest wait after a failed apply

    def __init__(self, node: Node):
        self.node = node
        self.wake, self.quiet, self.drained = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.wake.set()
        self.quiet.set()
        self.pushes, self.last_activity, self.seen, self.failures = 0, 0.0, 0, 0

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
                    applied = await in_db(self.node, eng.catch_up, 1)
                except Exception as e:  # noqa: BLE001 (keep serving; see _failed)
                    await self._failed(eng, e)
                    continue
                self.failures = 0
                if not applied:
                    self.drained.set()
                    break
                await asyncio.sleep(self.PAUSE_S)  # a window for another process's write

    async def _failed(self, eng: Engine, e: Exception) -> None:
        """Applying the oldest stored seal failed. `catch_up` quarantines a seal that cannot
        be applied, so this is either a fault of ours on that seal: it is set aside
        (quarantined, applied no more), so no seal is tried for ever; or the database
        failing (disk full, busy, I/O): wait, longer each time, and try again, logging the
        first failure of a run of them only."""
        self.failures += 1
        if not isinstance(e, StoreError):
            log.error(Text("收到的签封无法入库，已隔离：%r", "a received seal could not be applied; it is set aside (quarantined): %r"),
                      e, exc_info=e)
            try:
                await in_db(self.node, eng.set_aside_oldest, repr(e))
                self.failures = 0
                return
            except Exception:  # noqa: BLE001 (the database fails too: wait, as below)
                pass
        elif self.failures == 1:
            log.error(Text("收到的签封入库失败，将持续重试：%s", "applying received seals failed; retrying while it fails: %s"), e,
                      exc_info=e)
        await asyncio.sleep(min(self.RETRY_MAX_S, self.RETRY_S * 2 ** (self.failures - 1)))


MATERIALIZER = web.AppKey("materializer", Materializer)


async def materializing(app: web.Application) -> AsyncIterator[None]:
    """The materializer runs supervised: one that died would leave every push stored and
    never applied."""
    tasks = Supervisor()
    tasks.start("materializer", app[MATERIALIZER].run)
    yield
    await tasks.stop()
    await in_db(app[MATERIALIZER].node, lambda: None)  # a seal being applied on the database thread finishes
