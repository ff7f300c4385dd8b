"""A node's real aiohttp server on 127.0.0.1, running in a thread of its own for a whole
test module (hypothesis runs many examples against one server: starting one per example
would cost more than the examples). Requests are sent raw, byte for byte, with the
standard library's `http.client`, so a test can send what no well-behaved client would.

`ServedNode.call(fn, *args)` runs a blocking call on the node's database thread (where the
server runs its own), so a test never uses the node's connection while the server does.
`errors` holds every log record at ERROR level or above seen since the server started.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from yimen.node import home
from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.server.app import create_app

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What came back; `status` None when the server closed the connection with no answer."""

    status: int | None
    content_type: str
    body: bytes
    failure: str = ""


class ErrorLog(logging.Handler):
    """Keeps the log records at ERROR level or above (a traceback goes there with them)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def since(self, n: int) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" + (" (with traceback)" if r.exc_info else "")
                for r in self.records[n:]]


@dataclass
class ServedNode:
    """`node` served by `create_app(node, materialize)` on an ephemeral port."""

    node: Node
    materialize: bool = False
    url: str = ""
    errors: ErrorLog = field(default_factory=ErrorLog)

    def start(self) -> ServedNode:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"server-{self.node.node_id}",
                                       daemon=True)
        self.thread.start()
        logging.getLogger().addHandler(self.errors)
        self.url = self.run(self._listen())
        self.side = home.connect(self.node.home, check_same_thread=False)
        return self

    async def _listen(self) -> str:
        self.runner = web.AppRunner(create_app(self.node, materialize=self.materialize), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def stop(self) -> None:
        try:
            self.run(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.side.close()
            logging.getLogger().removeHandler(self.errors)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the node's database thread."""
        return self.run(in_db(self.node, fn, *args))

    def data_version(self) -> int:
        """SQLite's `data_version` seen from a connection of our own: it changes whenever
        any other connection (the server's) commits."""
        return self.side.execute("PRAGMA data_version").fetchone()[0]

    def send(self, request: Request, timeout: float = 30) -> Answer:
        return send(self.url, request, timeout)


def send(url: str, request: Request, timeout: float = 30) -> Answer:
    """Send `request` as it is; a connection dropped with no answer is an `Answer` with
    status None (and why)."""
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body, headers=request.headers)
        r = conn.getresponse()
        return Answer(r.status, (r.getheader("Content-Type") or "").split(";")[0].strip(), r.read())
    except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
        return Answer(None, "", b"", f"{type(e).__name__}: {e}")
    finally:
        conn.close()
