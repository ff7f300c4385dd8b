"""A fake parent node on 127.0.0.1 for tests of a child's sync loop: it answers like a
parent with nothing to send, or, while `broken`, like a buggy one."""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web
from aiohttp.test_utils import TestServer

from yimen.sync.transports import wire


class FakeParent:
    """Answers hello as the village's parent, and pull with nothing to send; while `broken`,
    pull answers a message without its fields: the child's round then fails with a KeyError,
    a bug no handler expects."""

    def __init__(self, node_id: str):
        self.node_id, self.broken = node_id, True
        self.calls: list[tuple[str, bool]] = []  # (route, broken at the time)
        self.changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v1/hello", self.hello)
        app.router.add_post("/v1/pull", self.pull)
        self.server = TestServer(app, host="127.0.0.1", port=0)

    async def _answer(self, route: str, message: dict) -> web.Response:
        async with self.changed:
            self.calls.append((route, self.broken))
            self.changed.notify_all()
        return web.Response(body=wire.pack(message), content_type=wire.CONTENT_TYPE)

    async def hello(self, request: web.Request) -> web.Response:
        return await self._answer("hello", {"protocol": wire.PROTOCOL, "node": self.node_id,
                                            "recv_upto": 0, "sent_upto": 0})

    async def pull(self, request: web.Request) -> web.Response:
        good = {"start": 0, "next": 0, "seals": [], "more": False}
        return await self._answer("pull", {} if self.broken else good)

    async def until(self, seen: Callable[[list[tuple[str, bool]]], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: seen(self.calls)), 20)


def good_round_ended(calls: list[tuple[str, bool]]) -> bool:
    """A hello after a good pull: a good round ended, its outcome was reported, and the
    next round began."""
    if ("pull", False) not in calls:
        return False
    return ("hello", False) in calls[calls.index(("pull", False)) + 1:]
