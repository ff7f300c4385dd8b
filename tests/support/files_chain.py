"""File transfer tests' helpers: a chain of real servers on 127.0.0.1 (as in
tests/node/server/test_http_chain.py), a file deposited at a node, a space document handed
to a consent holder as consent delivery would (helper C's part), and a TCP proxy that cuts
its connections once after so many bytes down (a link that breaks mid-chunk)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from support.chain import CHAIN, PARENT
from support.space import document
from yimen.node import home
from yimen.node.projections import refresh
from yimen.node.server.app import create_app
from yimen.node.services import enrollment, space_files
from yimen.sync.docs import Doc


async def serve_chain(root: Path, chain=CHAIN, parents=PARENT) -> tuple[dict[str, home.Node], dict[str, TestServer]]:
    """The nodes of `chain` (by default the five of `support.chain`), each served, enrolled
    online with its parent (`parents`: child name -> parent name)."""
    nodes = {name: home.init(root / name, rc, title) for name, rc, title in chain}
    servers = {name: TestServer(create_app(n, materialize=False), host="127.0.0.1", port=0) for name, n in nodes.items()}
    for s in servers.values():
        await s.start_server()
    async with aiohttp.ClientSession() as session:
        for child, parent in parents.items():
            code = enrollment.invite(nodes[parent], nodes[child].node_id)["code"]
            req = enrollment.request(nodes[child], str(servers[child].make_url("")))
            async with session.post(servers[parent].make_url("/v1/enroll"), json={"request": req, "code": code}) as r:
                assert r.status == 200, await r.text()
                enrollment.apply_answer(nodes[child], await r.json())
            set_parent(nodes[child], str(servers[parent].make_url("")))
    return nodes, servers


def set_parent(node: home.Node, url: str) -> None:
    node.config = replace(node.config, parent_url=url)


def deposit(node: home.Node, tmp: Path, citizen_id: str, size: int, seed: int = 0) -> tuple[str, bytes, object]:
    """A scan of `size` random bytes kept in a space document at `node`: (doc id, bytes, ref)."""
    data = os.urandom(size)
    path = tmp / f"scan-{seed}.pdf"
    path.write_bytes(data)
    ref = space_files.store_file(node, path)
    return document(node, citizen_id, files=(ref,)), data, ref


def hand_over(src: home.Node, dst: home.Node, doc_id: str) -> None:
    """Give `dst` the document `doc_id` as `src` holds it, with its projection rows."""
    if dst.store.exists(doc_id):
        return
    oplog, _ = src.store.oplog(doc_id)
    kind, scope = src.store.kinds([doc_id])[doc_id]
    doc = Doc.from_bytes(doc_id, kind, scope, oplog, dst.store.peer)
    with dst.store.transaction():
        dst.store.put_doc(doc, oplog)
        refresh(dst.store, doc, dst.calendar, new=True)


class CuttingProxy:
    """A TCP relay in front of `target_port` that counts bytes each way and, once `cut_after`
    bytes have gone down (`up`: up) in all, resets every connection it holds (once)."""

    def __init__(self, target_port: int, cut_after: int | None = None, up: bool = False):
        self.target, self.cut_after, self.cut_up = target_port, cut_after, up
        self.up = self.down = self.cuts = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        self.server.close()
        for w in list(self.writers):
            w.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, uw}
        await asyncio.gather(self._pipe(reader, uw, True), self._pipe(ur, writer, False))
        self.writers -= {writer, uw}

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        try:
            while data := await r.read(1 << 14):
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                w.write(data)
                await w.drain()
                if up == self.cut_up and self.cut_after is not None and (self.up if up else self.down) >= self.cut_after:
                    self.cut_after, self.cuts = None, self.cuts + 1
                    for other in list(self.writers):
                        other.transport.abort()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()
