"""bench_space's files part: a file of SIZE MB over HTTP links (a TCP proxy in each) that
drop every connection every 2 s and carry RATE bytes a second (so a 20 MB file meets
several cuts; loopback alone would carry it in a fraction of a second, between two cuts).

1. Up: deposited at village A, it goes up to the town in A's sync rounds, run back to back
   as `uplink.sync_once` (session, audit checkpoint, then the file step with its bytes and
   seconds budget); a round a cut ends is run again at once (the real loop backs off: what
   is measured is the protocol, not the backoff). A chunk going up resumes from the last
   whole chunk.
2. Down: village B, holding the citizen's consent and the document (as consent delivery
   leaves it), fetches the file from the town with `file_fetch.fetch_files`; a chunk coming
   down resumes from the byte the cut stopped it at.

Measured for each: the time, the chunks sent again per cut (requests beyond the file's
chunks per cut that happened: target ≤ 1), and every byte through the proxy both ways over
the file's size (target ≤ 1.05).

    rows, figures = run(20, progress)     # progress(stage, done, total)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from benchlib import procs
from yimen.node import home
from yimen.node.projections import refresh
from yimen.node.replication import catch_up_all, in_db
from yimen.node.server.app import create_app
from yimen.node.services import enrollment, space, space_files
from yimen.node.services.file_fetch import fetch_files
from yimen.node.services.uplink import LinkDown, sync_once
from yimen.personal_space.documents import Consent, SpaceDocument
from yimen.sync.docs import Doc
from yimen.sync.errors import SyncError
from yimen.sync.transports.chunks import ChunkLink

TOWN, VILLAGE_A, VILLAGE_B = "440608100", "440608100201", "440608100202"
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


def _nodes(folder: Path) -> tuple[home.Node, home.Node, home.Node]:
    town = home.init(folder / "town", TOWN, "荷城街道党群服务中心")
    villages = []
    for code in (VILLAGE_A, VILLAGE_B):
        v = home.init(folder / code, code, "示范村党群服务中心")
        enrollment.apply_answer(v, enrollment.admit(town, enrollment.request(v)))
        villages.append(v)
    return town, *villages


def _deposit(village: home.Node, folder: Path, size: int) -> tuple[str, int]:
    scan = folder / "scan.pdf"
    scan.write_bytes(os.urandom(size))
    ref = space_files.store_file(village, scan)
    doc_id = space.write_document(village, SpaceDocument(
        doc_type="income_proof", title="收入证明", citizen_id=CITIZEN, citizen_name="陈美玲", issuer=village.node_id,
        issuer_name="示范村", issued_on=village.clock().date().isoformat(), source="scan",
        deposited_at=village.now(), clerk_id="c01", files=(ref,)))
    return doc_id, len(ref.chunks)


def _consent(village: home.Node) -> None:
    now = village.clock()
    space.write_consent(village, Consent(
        node=village.node_id, citizen_id=CITIZEN, citizen_name="陈美玲", types=("income_proof",), purpose="办理临时救助",
        granted_at=now.isoformat(timespec="seconds"), expires_at=(now + timedelta(days=30)).isoformat(timespec="seconds"),
        clerk_id="c01", clerk_name="李敏"))


def _hand_over(src: home.Node, dst: home.Node, doc_id: str) -> None:
    """What consent delivery leaves at the consent holder: the document, not its file."""
    if dst.store.exists(doc_id):
        return
    oplog, _ = src.store.oplog(doc_id)
    kind, scope = src.store.kinds([doc_id])[doc_id]
    doc = Doc.from_bytes(doc_id, kind, scope, oplog, dst.store.peer)
    with dst.store.transaction():
        dst.store.put_doc(doc, oplog)
        refresh(dst.store, doc, dst.calendar, new=True)


class _Counted:
    """Counts the chunk requests (put, get) while in force."""

    def __enter__(self) -> _Counted:
        self.n, self.put, self.get = 0, ChunkLink.put, ChunkLink.get
        count = self

        async def put(link: ChunkLink, digest: str, data: bytes) -> bool:
            count.n += 1
            return await count.put(link, digest, data)

        async def get(link: ChunkLink, digest: str) -> bytes | None:
            count.n += 1
            return await count.get(link, digest)
        ChunkLink.put, ChunkLink.get = put, get  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        ChunkLink.put, ChunkLink.get = self.put, self.get  # type: ignore[method-assign]


async def _up(town: home.Node, va: home.Node, url: str, chunks: int, progress: Progress) -> dict[str, Any]:
    proxy = CuttingProxy(int(url.rsplit(":", 1)[1]), RATE, CUT_EVERY_S)
    va.config = replace(va.config, parent_url=await proxy.start())
    start, rounds, held = time.perf_counter(), 0, 0
    with _Counted() as counted:
        try:
            while (held := (await in_db(town, town.store.chunks.total))[0]) < chunks and rounds < 500:
                progress("space_files_up", held, chunks)
                rounds += 1
                try:
                    await sync_once(va)
                except (LinkDown, SyncError):
                    pass  # a cut in the session: the next round goes on
                await in_db(town, catch_up_all, town)
        finally:
            await proxy.close()
    return {"seconds": time.perf_counter() - start, "requests": counted.n, "cuts": proxy.cuts,
            "bytes": proxy.bytes, "rounds": rounds, "complete": held >= chunks}


async def _down(town: home.Node, vb: home.Node, url: str, chunks: int, progress: Progress) -> dict[str, Any]:
    proxy = CuttingProxy(int(url.rsplit(":", 1)[1]), RATE, CUT_EVERY_S)
    vb.config = replace(vb.config, parent_url=await proxy.start())
    start = time.perf_counter()
    with _Counted() as counted:
        try:
            stats = await fetch_files(vb, lambda stage, done, total: progress("space_files_down", done, total), 50)
        finally:
            await proxy.close()
    return {"seconds": time.perf_counter() - start, "requests": counted.n, "cuts": proxy.cuts,
            "bytes": proxy.bytes, "rounds": stats["cuts"] + 1, "complete": stats["missing"] == 0}


async def _transfer(town: home.Node, va: home.Node, vb: home.Node, folder: Path, size: int,
                    progress: Progress) -> tuple[int, dict[str, Any], dict[str, Any]]:
    runner = web.AppRunner(create_app(town, materialize=False), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        for v in (va, vb):  # the catalog-free setup, over the direct link (not measured)
            v.config = replace(v.config, parent_url=url, plain_http=True)
            await sync_once(v)
        doc_id, chunks = _deposit(va, folder, size << 20)
        _consent(vb)
        await sync_once(vb)
        await in_db(town, catch_up_all, town)
        up = await _up(town, va, url, chunks, progress)
        _hand_over(town, vb, doc_id)
        down = await _down(town, vb, url, chunks, progress)
    finally:
        await runner.cleanup()
    return chunks, up, down


def _figures(prefix: str, r: dict[str, Any], chunks: int, size: int) -> dict[str, Any]:
    resent = max(0, r["requests"] - chunks)
    return {f"{prefix}_seconds": round(r["seconds"], 2), f"{prefix}_cuts": r["cuts"],
            f"{prefix}_resent_chunks": resent, f"{prefix}_resent_per_cut": round(resent / r["cuts"], 2) if r["cuts"]
            else 0.0, f"{prefix}_wire_ratio": round(r["bytes"] / (size << 20), 4), f"{prefix}_complete": r["complete"]}


def run(size: int = 20, progress: Progress = lambda stage, done, total: None) -> tuple[list, dict[str, Any]]:
    """A `size` MB file up and then down through cut links: (table rows, figures)."""
    folder = Path(tempfile.mkdtemp(prefix="yimen-bench-space-files-"))
    procs.ensure_key_file(folder)
    nodes: tuple[home.Node, ...] = ()
    try:
        nodes = _nodes(folder)
        chunks, up, down = asyncio.run(_transfer(*nodes, folder, size, progress))
    finally:
        for n in nodes:
            n.close()
        shutil.rmtree(folder, ignore_errors=True)
    figures = {"files_mb": size, "files_chunks": chunks, "files_link_mb_s": RATE >> 20, "files_cut_every_s": CUT_EVERY_S,
               **_figures("files_up", up, chunks, size), **_figures("files_down", down, chunks, size)}
    rows = []
    for name, key, r in (("up (in sync rounds)", "files_up", up), ("down (space fetch)", "files_down", down)):
        rows += [(f"{size} MB file {name}, cut every {CUT_EVERY_S:g} s at {RATE >> 20} MB/s",
                  f"{r['seconds']:.1f} s, {r['cuts']} cuts", "complete" if r["complete"] else "INCOMPLETE"),
                 (f"  chunks asked again per cut ({key.split('_')[1]}: only the rest)",
                  f"{figures[key + '_resent_per_cut']:.2f} ({figures[key + '_resent_chunks']} of {chunks})", "<= 1"),
                 (f"  bytes on the wire / file size ({key.split('_')[1]})", f"{figures[key + '_wire_ratio']:.3f}",
                  "<= 1.05")]
    return rows, figures


if __name__ == "__main__":
    import sys
    rows, figures = run(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    for row in rows:
        print(" | ".join(row))
    print(figures)
