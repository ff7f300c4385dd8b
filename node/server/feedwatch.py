"""Wakes long-polling pulls when this node's feed may have grown, instead of polling:
a seal stored or made by this process (the engine's `on_feed` hook, called on the
database thread) or a commit by another process (a clerk's command leaves unsealed
changes: seen by `watching`, which reads SQLite's cheap `data_version`)."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import AsyncIterator

from aiohttp import web

from yimen.node.home import Node
from yimen.node.replication import engine, in_db
from yimen.node.server.supervisor import Supervisor

OTHER_WRITERS_S = 0.5  # how often another process's commit is looked for


class FeedWatch:
    def __init__(self, node: Node):
        self.node = node
        self.changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """Thread-safe: the engine calls it from the database thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.changed.set)

    async def wait(self, timeout: float) -> None:
        """Until the feed may have grown or `timeout` passed (the caller then looks)."""
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)
        self.changed.clear()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        engine(self.node).on_feed = self.notify
        seen = await in_db(self.node, self.node.store.data_version)
        while True:
            await asyncio.sleep(OTHER_WRITERS_S)
            version = await in_db(self.node, self.node.store.data_version)
            if version != seen:
                seen = version
                self.changed.set()


FEED_WATCH = web.AppKey("feed_watch", FeedWatch)


async def watching(app: web.Application) -> AsyncIterator[None]:
    """Supervised: a watch that died would leave long polls waiting out their time."""
    tasks = Supervisor()
    tasks.start("feed watch", app[FEED_WATCH].run)
    yield
    await tasks.stop()
    engine(app[FEED_WATCH].node).on_feed = lambda: None
