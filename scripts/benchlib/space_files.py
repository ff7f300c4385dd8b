"""bench_space's files part: a file of SIZE MB deposited at a village goes up to its town in
the village's sync rounds, over an HTTP link (a TCP proxy between them) that drops every
connection every 2 s and carries RATE bytes a second (so a 20 MB file meets several cuts;
loopback alone would carry it in a fraction of a second, between two cuts).

Rounds run back to back, each as `uplink.sync_once` (the session, the audit checkpoint,
then the file step with its bytes and seconds budget); a round that a cut ends is run
again at once (the real loop backs off: what is measured here is the protocol, not the
backoff). Measured: the time until the town holds the whole file, the chunks sent again per
cut (put requests beyond the file's chunks, per cut that happened while they ran: target
≤ 1), and every byte through the proxy both ways over the file's size (target ≤ 1.05).

    rows, figures = run(20, progress)     # progress(stage, done, total)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from benchlib import procs
from yimen.node import home
from yimen.node.replication import in_db
from yimen.node.server.app import create_app
from yimen.node.services import enrollment, space, space_files
from yimen.node.services.uplink import LinkDown, sync_once
from yimen.personal_space.documents import SpaceDocument
from yimen.sync.errors import SyncError
from yimen.sync.transports.chunks import ChunkLink

TOWN, VILLAGE = "440608100", "440608100201"
CUT_EVERY_S = 2.0
RATE = 4 << 20  # bytes a second through the link, each way
CITIZEN = "440608199001011234"
Progress = Callable[[str, int, int], None]


class CuttingProxy:
    """A TCP relay that paces each direction to `rate` bytes a second, counts the bytes,
    and aborts every connection it holds every `every` seconds."""

    def __init__(self, target_port: int, rate: int, every: float):
        self.target, self.rate, self.every = target_port, rate, every
        self.bytes = self.cuts = 0
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.timer = asyncio.create_task(self._cut())
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        self.timer.cancel()
        self.server.close()
        for w in list(self.open):
            w.transport.abort()

    async def _cut(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            if self.open:  # a cut that breaks something
                self.cuts += 1
            for w in list(self.open):
                w.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.open |= {writer, uw}
        await asyncio.gather(self._pipe(reader, uw), self._pipe(ur, writer))
        self.open -= {writer, uw}

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(1 << 15):
                self.bytes += len(data)
                w.write(data)
                await w.drain()
                await asyncio.sleep(len(data) / self.rate)
        except (ConnectionError, OSError):
            pass
        finally:
            w.transport.abort()


def _nodes(folder: Path) -> tuple[home.Node, home.Node]:
    town = home.init(folder / "town", TOWN, "荷城街道党群服务中心")
    village = home.init(folder / "village", VILLAGE, "示范村党群服务中心")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    return town, village


def _deposit(village: home.Node, folder: Path, size: int) -> int:
    scan = folder / "scan.pdf"
    scan.write_bytes(os.urandom(size))
    ref = space_files.store_file(village, scan)
    space.write_document(village, SpaceDocument(
        doc_type="income_proof", title="收入证明", citizen_id=CITIZEN, citizen_name="陈美玲", issuer=VILLAGE,
        issuer_name="示范村", issued_on=village.clock().date().isoformat(), source="scan",
        deposited_at=village.now(), clerk_id="c01", files=(ref,)))
    return len(ref.chunks)


async def _transfer(town: home.Node, village: home.Node, chunks: int, progress: Progress) -> dict[str, Any]:
    runner = web.AppRunner(create_app(town), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy = CuttingProxy(runner.addresses[0][1], RATE, CUT_EVERY_S)
    village.config = replace(village.config, parent_url=await proxy.start(), plain_http=True)
    puts, put = 0, ChunkLink.put

    async def counted(self: ChunkLink, digest: str, data: bytes) -> bool:
        nonlocal puts
        puts += 1
        return await put(self, digest, data)
    ChunkLink.put = counted  # type: ignore[method-assign]
    start, rounds = time.perf_counter(), 0
    try:
        while (held := (await in_db(town, town.store.chunks.total))[0]) < chunks and rounds < 500:
            progress("space_files", held, chunks)
            rounds += 1
            try:
                await sync_once(village)
            except (LinkDown, SyncError):
                pass  # a cut in the session: the next round goes on
        elapsed = time.perf_counter() - start
    finally:
        ChunkLink.put = put  # type: ignore[method-assign]
        await proxy.close()
        await runner.cleanup()
    progress("space_files", held, chunks)
    return {"seconds": elapsed, "puts": puts, "cuts": proxy.cuts, "bytes": proxy.bytes, "rounds": rounds,
            "complete": held == chunks}


def run(size: int = 20, progress: Progress = lambda stage, done, total: None) -> tuple[list, dict[str, Any]]:
    """A `size` MB file through the cut link: (table rows, figures)."""
    folder = Path(tempfile.mkdtemp(prefix="yimen-bench-space-files-"))
    procs.ensure_key_file(folder)
    town = village = None
    try:
        town, village = _nodes(folder)
        chunks = _deposit(village, folder, size << 20)
        r = asyncio.run(_transfer(town, village, chunks, progress))
    finally:
        for n in (town, village):
            if n is not None:
                n.close()
        shutil.rmtree(folder, ignore_errors=True)
    resent = max(0, r["puts"] - chunks)
    per_cut = resent / r["cuts"] if r["cuts"] else 0.0
    ratio = r["bytes"] / (size << 20)
    figures = {"files_mb": size, "files_chunks": chunks, "files_seconds": round(r["seconds"], 2),
               "files_cuts": r["cuts"], "files_resent_chunks": resent, "files_resent_per_cut": round(per_cut, 2),
               "files_wire_ratio": round(ratio, 4), "files_rounds": r["rounds"], "files_complete": r["complete"]}
    rows = [(f"{size} MB file, link cut every {CUT_EVERY_S:g} s at {RATE >> 20} MB/s",
             f"{r['seconds']:.1f} s, {r['rounds']} rounds, {r['cuts']} cuts", "complete" if r["complete"] else "INCOMPLETE"),
            ("chunks resent per cut", f"{per_cut:.2f} ({resent} of {chunks} chunks)", "≤ 1"),
            ("bytes on the wire / file size", f"{ratio:.3f}", "≤ 1.05")]
    return rows, figures


if __name__ == "__main__":
    import sys
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 20)[0]:
        print(" | ".join(row))
