"""The counting TCP proxy: sits between a child node and its parent's server.

A child's `parent_url` points at the proxy, so the bytes really sent over HTTP (compressed
bodies, headers, both directions) are counted per hop. The proxies run on one asyncio loop
in a thread of the benchmark's process (`ProxyThread`).
"""

from __future__ import annotations

import asyncio
import threading
import time


class Proxy:
    """A TCP relay in front of one server that counts payload bytes each way."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.up = self.down = self.connections = 0
        self.first: float | None = None  # when the first connection since `mark` came
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def mark(self) -> tuple[int, int]:
        """Bytes (up, down) so far; forget when the first connection came."""
        self.first = None
        return self.up, self.down

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.connections += 1
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, uw, True), self._pipe(ur, writer, False))

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        try:
            while True:
                data = await r.read(1 << 16)
                if not data:
                    break
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass


class ProxyThread:
    """An event loop in a daemon thread, for the proxies."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="proxy")
        self.thread.start()

    def add(self, target_port: int) -> Proxy:
        p = Proxy(target_port)
        asyncio.run_coroutine_threadsafe(p.start(), self.loop).result(10)
        return p

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
