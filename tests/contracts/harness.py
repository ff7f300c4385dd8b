"""One harness per transport, all with the same small interface, so that every contract
scenario (tests/contracts/test_transports.py) runs unchanged over HTTP, bundle files and
the in-memory link. A harness joins a child (a village) to its parent (its town); the
child is always the side that starts, as in the field.

    two_way            the parent answers each batch on the link (HTTP, memory); a bundle's
                       answer travels back only in the return bundle
    batch_bytes        bound of one batch the child sends (None: the library's own)
    exchange()         the child sends everything, learns the parent's acknowledgement and
                       takes what comes down -> Moved
    pull()             the child only takes what comes down -> Moved
    cut_after(n)       an exchange whose link breaks once n batches are stored at the parent
                       (the child has no word of what follows) -> seals the parent stored
    lose_answer()      the parent stores what the child sends, the answer never arrives
                       -> seals the parent stored
    replay(which=-1)   a batch (file) that reached the parent with seals is delivered again
                       (the last by default, 0 for the first) -> Moved
    send_from(p)       a batch of the child's feed that starts at position p; raises what
                       the parent answers (a refusal carries `code`)
    claim(upto)        what a stolen child key can sign: an empty batch saying the child's
                       feed goes on to `upto`, delivered to the parent

HTTP runs the parent's real server (`create_app`, aiohttp `TestServer` on 127.0.0.1:0)
with the child driving `Session` over `HttpTransport`; a broken link there is a real one:
a middleware closes the socket before the push handler runs (cut) or after it committed
(lost answer), so the client sees `ServerDisconnectedError`. The memory link plays the
same faults in the transport. Bundles go through `export_bundle` / `import_bundle` in a
folder; a cut is a bundle cut short by its size bound.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from support.chain import PARENT, make_chain, push, settle
from yimen.node import home
from yimen.node.home import Node
from yimen.node.replication import engine, in_db, signing_key
from yimen.node.server.app import create_app
from yimen.node.services import bundles
from yimen.node.services.bundles import export_bundle, import_bundle
from yimen.sync import session as sessions
from yimen.sync.engine import Batch
from yimen.sync.session import Ack, Responder, RoundStats, Session, direct
from yimen.sync.transports import bundle as framing
from yimen.sync.transports.http import LINK_ERRORS, HttpTransport
from yimen.sync.transports.memory import MemoryTransport

CHILD, PARENT_NODE = "village_a", "town"


# -- the two nodes ---------------------------------------------------------------------------
def make_template(root: Path) -> Path:
    """Build once what every scenario starts from: the chain of `support.chain`, the
    catalog and node records brought down to village A, which never sent its town a thing
    (the town has not heard from it). The nodes are closed; `open_pair` copies them."""
    nodes = make_chain(root)
    for _ in range(2):
        for child, parent in PARENT.items():
            if child != CHILD:
                push(nodes[child], nodes[parent])
            push(nodes[parent], nodes[child])
    for n in nodes.values():
        n.close()
    return root


def open_copy(template: Path, name: str, folder: Path) -> Node:
    """A fresh copy of one of the template's nodes (by its name in `support.chain.CHAIN`)."""
    shutil.copytree(template / name, folder / name)
    return home.open_node(folder / name)


def open_pair(template: Path, folder: Path) -> tuple[Node, Node]:
    """Fresh copies of the template's village A and town: (child, parent)."""
    return open_copy(template, CHILD, folder), open_copy(template, PARENT_NODE, folder)


@dataclass
class Moved:
    """What one exchange moved, in the same words for every transport."""

    pushed: int = 0  # seals the parent took in
    duplicates: int = 0  # seals the parent already held
    pulled: int = 0  # seals the child took in
    quarantined: list[str] = field(default_factory=list)  # reasons, both ways
    notices: list[str] = field(default_factory=list)  # impossible positions the child noticed

    def add(self, ack: Ack) -> None:
        self.pushed += ack.imported
        self.duplicates += ack.duplicates
        self.quarantined += ack.quarantined


class LinkStayedUp(AssertionError):
    """A fault was planned but the exchange finished before it could happen."""


# -- faults on a session link ------------------------------------------------------------------
class Faults:
    """What the link does to the pushes of one harness call."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.until: int | None = None  # pushes that still reach the parent (None: all)
        self.lose = False  # the next stored push's answer is lost
        self.stored = 0

    def cut_after(self, n: int) -> None:
        self.clear()
        self.until = n

    def lose_next_answer(self) -> None:
        self.clear()
        self.lose = True

    def delivers(self) -> bool:
        """Does the next push reach the parent?"""
        return self.until is None or self.stored < self.until

    def answers(self) -> bool:
        """The parent stored a push: does its answer reach the child? (After a lost
        answer the link stays down.)"""
        self.stored += 1
        if self.lose:
            self.lose, self.until = False, self.stored
            return False
        return True


FAULTS = web.AppKey("contract_faults", Faults)


@web.middleware
async def faulty_link(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """The parent's end of a breakable link (outermost, so it sees the final status)."""
    faults = request.app[FAULTS]
    if request.path != "/v1/push":
        return await handler(request)
    if not faults.delivers():
        request.transport.close()  # the push never reaches the handler
        return web.Response(status=503)
    response = await handler(request)
    if response.status in (200, 422) and not faults.answers():  # stored, answer lost
        request.transport.close()
    return response


class Wire:
    """The child's end of a session link (a `Transport` around the real one): counts what
    the parent answered, remembers the batches that reached it, and, for a link with no
    socket of its own (memory), plays the faults itself."""

    def __init__(self, inner: Any, faults: Faults | None = None):
        self.inner, self.peer, self.faults = inner, inner.peer, faults
        self.moved = Moved()
        self.attempted: list[Batch] = []
        self.delivered: list[Batch] = []

    async def hello(self) -> int:
        return await self.inner.hello()

    async def push(self, batch: Batch) -> Ack:
        self.attempted.append(batch)
        if self.faults is not None and not self.faults.delivers():
            raise ConnectionResetError("the link broke before the batch arrived")
        ack = await self.inner.push(batch)
        if self.faults is not None and not self.faults.answers():
            raise ConnectionResetError("the link broke before the answer came back")
        self.delivered.append(batch)
        self.moved.add(ack)
        return ack

    async def pull(self, since: int, max_bytes: int, wait: float) -> Batch:
        return await self.inner.pull(since, max_bytes, wait)


# -- harnesses ----------------------------------------------------------------------------------
class _SessionHarness:
    """A transport that carries `Session` (hello, push, pull)."""

    name = ""
    two_way = True

    def __init__(self, child: Node, parent: Node, folder: Path):
        self.child, self.parent, self.folder = child, parent, folder
        self.batch_bytes: int | None = None
        self.faults = Faults()
        self.delivered: list[Batch] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def wire(self) -> Wire:
        raise NotImplementedError

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await direct(fn, *args)

    async def settle(self) -> None:
        """Apply what the parent stored and deferred (a server's materializer would)."""
        await settle(self.parent)

    def _batch_bytes(self) -> int:
        return self.batch_bytes or sessions.BATCH_BYTES

    async def _round(self, wire: Wire) -> Moved:
        try:
            stats = await Session(engine(self.child), wire, self.run, self._batch_bytes()).round()
        finally:
            self.delivered += wire.delivered
        await self.settle()
        return Moved(stats.pushed, wire.moved.duplicates, stats.pulled, stats.quarantined, stats.notices)

    async def _broken_round(self) -> Wire:
        wire = self.wire()
        try:
            await self._round(wire)
        except LINK_ERRORS:
            pass
        else:
            raise LinkStayedUp("the exchange ended before the planned fault")
        finally:
            self.faults.clear()
        await self.settle()
        return wire

    async def exchange(self) -> Moved:
        self.faults.clear()
        return await self._round(self.wire())

    async def pull(self) -> Moved:
        stats = RoundStats()
        await Session(engine(self.child), self.wire(), self.run, self._batch_bytes()).pull(stats)
        return Moved(pulled=stats.pulled, quarantined=stats.quarantined)

    async def cut_after(self, n_batches: int) -> int:
        self.faults.cut_after(n_batches)
        wire = await self._broken_round()
        assert len(wire.delivered) == n_batches
        return sum(len(b.seals) for b in wire.delivered)

    async def lose_answer(self) -> int:
        self.faults.lose_next_answer()
        wire = await self._broken_round()
        return len(wire.attempted[-1].seals)

    async def replay(self, which: int = -1) -> Moved:
        batch = [b for b in self.delivered if b.seals][which]
        wire = self.wire()
        await wire.push(batch)
        await self.settle()
        return wire.moved

    async def send_from(self, position: int) -> Moved:
        batch = engine(self.child).next_batch(self.parent.node_id, position, self._batch_bytes())
        wire = self.wire()
        await wire.push(batch)
        return wire.moved

    async def claim(self, upto: int) -> None:
        held = engine(self.parent).positions(self.child.node_id)[0]
        await self.wire().push(Batch(self.child.node_id, held, upto, []))


class HttpHarness(_SessionHarness):
    """The parent's real aiohttp server on 127.0.0.1; the child's engine runs on its
    database thread, as `sync_once` runs it."""

    name = "http"

    async def start(self) -> None:
        app = create_app(self.parent, materialize=False)
        app[FAULTS] = self.faults
        app.middlewares.insert(0, faulty_link)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()
        self.client = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.client.close()
        await self.server.close()

    def wire(self) -> Wire:
        return Wire(HttpTransport(self.client, str(self.server.make_url("")), self.parent.node_id,
                                  self.child.node_id, signing_key(self.child)))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await in_db(self.child, fn, *args)


class MemoryHarness(_SessionHarness):
    """The parent's `Responder` answered in this process (it applies pushes at once)."""

    name = "memory"

    def wire(self) -> Wire:
        return Wire(MemoryTransport(Responder(engine(self.parent)), self.child.node_id), self.faults)


class BundleHarness:
    """Files in a folder: an exchange is a bundle up (export at the child, import at the
    parent) and the return bundle down, which carries the acknowledgement."""

    name = "bundle"
    two_way = False

    def __init__(self, child: Node, parent: Node, folder: Path):
        self.child, self.parent = child, parent
        self.folder = folder / "stick"
        self.folder.mkdir()
        self.batch_bytes: int | None = None
        self.files = 0
        self.ups: list[Path] = []  # bundles the parent imported, with seals

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _path(self, what: str) -> Path:
        self.files += 1
        return self.folder / f"{self.files:02d}-{what}.yimen"

    def _export(self, src: Node, dst: Node, **patches: Any) -> dict[str, Any]:
        with mock.patch.multiple(bundles, BATCH_BYTES=self.batch_bytes or bundles.BATCH_BYTES, **patches):
            return export_bundle(src, dst.node_id, self._path(f"to-{dst.node_id}"))

    def _carry_up(self, summary: dict[str, Any]) -> dict[str, Any]:
        got = import_bundle(self.parent, summary["file"])
        if summary["seals"]:
            self.ups.append(Path(summary["file"]))
        return got

    def _carry_down(self) -> dict[str, Any]:
        return import_bundle(self.child, self._export(self.parent, self.child)["file"])

    async def exchange(self) -> Moved:
        up = self._carry_up(self._export(self.child, self.parent))
        down = self._carry_down()
        return Moved(up["imported"], up["duplicates"], down["imported"],
                     up["quarantine_reasons"] + down["quarantine_reasons"],
                     [down["notice"]["en"]] if down["notice"] else [])

    async def pull(self) -> Moved:
        down = self._carry_down()
        return Moved(pulled=down["imported"], quarantined=down["quarantine_reasons"])

    async def cut_after(self, n_batches: int) -> int:
        """A bundle the size bound cut after `n_batches` (no acknowledgement comes back)."""
        eng = engine(self.child)
        eng.seal_pending()
        since, room = eng.positions(self.parent.node_id)[1], 0
        for _ in range(n_batches):
            batch = eng.next_batch(self.parent.node_id, since, self.batch_bytes or bundles.BATCH_BYTES)
            if not batch.more:
                raise LinkStayedUp(f"fewer than {n_batches + 1} batches to send")
            room += batch.size + 16 * len(batch.seals)  # what `export_bundle` counts
            since = batch.next
        summary = self._export(self.child, self.parent, _FRAMING_ROOM=framing.MAX_BUNDLE_BYTES - room)
        assert not summary["complete"] and summary["batches"] == n_batches
        return self._carry_up(summary)["imported"]

    async def lose_answer(self) -> int:
        """The bundle goes up; the return bundle is written and lost on the way back."""
        got = self._carry_up(self._export(self.child, self.parent))
        Path(self._export(self.parent, self.child)["file"]).unlink()
        return got["imported"]

    async def replay(self, which: int = -1) -> Moved:
        got = import_bundle(self.parent, self.ups[which])
        return Moved(got["imported"], got["duplicates"], 0, got["quarantine_reasons"])

    async def send_from(self, position: int) -> Moved:
        """A bundle, signed by the child, whose one batch starts at `position`."""
        batch = engine(self.child).next_batch(self.parent.node_id, position,
                                              self.batch_bytes or bundles.BATCH_BYTES)
        got = import_bundle(self.parent, self._signed_by_child("forged-start", batch))
        return Moved(got["imported"], got["duplicates"], 0, got["quarantine_reasons"])

    async def claim(self, upto: int) -> None:
        held = engine(self.parent).positions(self.child.node_id)[0]
        import_bundle(self.parent, self._signed_by_child("forged-claim", Batch(self.child.node_id, held, upto, [])))

    def _signed_by_child(self, what: str, batch: Batch) -> Path:
        header = {"protocol": framing.PROTOCOL, "from": self.child.node_id, "to": self.parent.node_id,
                  "created_at": self.child.now(), "ack": engine(self.child).positions(self.parent.node_id)[0]}
        path = self._path(what)
        framing.write_bundle(path, header, [batch], signing_key(self.child), self.parent.keys.encryption_key)
        return path


HARNESSES = (HttpHarness, BundleHarness, MemoryHarness)
