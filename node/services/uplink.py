"""The HTTP transport's client side: a child talking to its parent (or, when the parent is
down, to the next ancestor it knows).

One round = hello (protocol and positions) → push own and relayed seals until done →
pull until done. The background loop pushes soon after a local commit (it watches the
database's `data_version`), long-polls for what comes down, and backs off exponentially
with jitter when the link fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp

from yimen.node import config as config_mod
from yimen.node.services import status as peers
from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import engine, in_db, signing_key
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync.transports import wire
from yimen.sync.engine import Batch

log = logging.getLogger("yimen.sync")
BATCH_BYTES = 1 << 20
SEALS_AHEAD = 24  # about a batch: a seal of cases is ~50 KB
Report = Callable[[YimenError | None], Awaitable[None]]


class LinkDown(NodeError):
    """No ancestor could be reached."""

    code = "link_down"


@dataclass
class RoundStats:
    peer: str = ""
    url: str = ""
    pushed: int = 0
    pulled: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    quarantined: list[str] = field(default_factory=list)


class Link:
    """A signed HTTP conversation with one ancestor."""

    def __init__(self, node: Node, session: aiohttp.ClientSession, url: str, peer: str):
        self.node, self.session, self.url, self.peer = node, session, url.rstrip("/"), peer
        self.key = signing_key(node)
        self.engine = engine(node)

    async def call(self, path: str, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        body = wire.pack({"protocol": wire.PROTOCOL, **message})
        headers = wire.sign_request(self.key, self.node.node_id, "POST", path, body)
        async with self.session.post(self.url + path, data=body, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                answer = await resp.json()
                if resp.status == 422:  # some seals were quarantined; the rest went in
                    return answer
                raise wire.WireError(answer.get("error", "bad_request"), answer.get("message", ""),
                                     f"{self.peer} answered {resp.status}: {answer.get('message', '')}",
                                     **{k: v for k, v in answer.items() if k not in ("error", "message")})
            return wire.unpack(raw)

    async def round(self, wait: float = 0) -> RoundStats:
        stats = RoundStats(self.peer, self.url)
        welcome = await self.call("/v1/hello", {})
        if welcome.get("node") != self.peer:
            raise LinkDown(f"{self.url} 不是节点 {self.peer}", f"{self.url} is not node {self.peer}")
        # what the parent holds of our feed, in its own word (an acknowledgement lost with a
        # broken link last time is learnt here)
        held = welcome.get("recv_upto")
        if type(held) is not int or held < 0:
            raise wire.WireError("bad_request", "上级的应答格式错误", f"{self.peer} answered a malformed hello")
        await in_db(self.node, self.engine.set_sent, self.peer, held)
        await self._push(held, stats)
        await self._pull(stats, wait)
        return stats

    async def _push(self, since: int, stats: RoundStats) -> None:
        """Push until the parent holds everything: while one batch travels and the parent
        stores it, the next is sealed and read here (on two cores, the two ends overlap)."""
        # a small first batch, so the parent starts storing while the rest is sealed
        upcoming = asyncio.ensure_future(in_db(self.node, self._prepare, since, 2))
        try:
            while True:
                batch, unsealed = await upcoming
                if not batch.seals and batch.next == since and not unsealed:
                    return
                sending = self.call("/v1/push", {"start": batch.start, "next": batch.next, "seals": batch.seals})
                upcoming = asyncio.ensure_future(in_db(self.node, self._prepare, batch.next))
                answer = await sending
                await in_db(self.node, self._sent, batch, answer["recv_upto"])
                stats.pushed += answer.get("imported", 0)
                stats.bytes_out += batch.size
                stats.quarantined += answer.get("quarantined", [])
                if answer["recv_upto"] != batch.next:  # the parent holds another position: resend from it
                    await upcoming
                    upcoming = asyncio.ensure_future(in_db(self.node, self._prepare, answer["recv_upto"]))
                since = answer["recv_upto"]
        finally:
            if not upcoming.done():
                await asyncio.wait([upcoming])

    def _prepare(self, since: int, ahead: int = SEALS_AHEAD) -> tuple[Batch, bool]:
        """Seal `ahead` seals' worth (about a batch), then read the next batch from `since`;
        and say whether changes are left unsealed."""
        made = self.engine.seal_pending(max_seals=ahead)
        return self.engine.next_batch(self.peer, since, BATCH_BYTES), made == ahead

    def _sent(self, batch: Batch, recv_upto: int) -> None:
        self.engine.set_sent(self.peer, recv_upto)
        peers.count_out(self.node, self.peer, batch)

    async def _pull(self, stats: RoundStats, wait: float) -> None:
        while True:
            since = (await in_db(self.node, self.engine.positions, self.peer))[0]
            answer = await self.call("/v1/pull", {"since": since, "max_bytes": BATCH_BYTES, "wait": wait},
                                     timeout=wait + 60)
            batch = Batch(self.peer, answer["start"], answer["next"], [(b, s) for b, s in answer["seals"]])
            receipt = await in_db(self.node, self.engine.receive, self.peer, batch)
            stats.pulled += receipt.imported
            stats.bytes_in += batch.size
            stats.quarantined += receipt.quarantined
            if not answer["more"]:
                return
            wait = 0


def ancestors_to_try(node: Node) -> list[tuple[str, str]]:
    """(region, url) of the parent, then of every farther ancestor with a known address."""
    out = []
    parent = region.parent_code(node.node_id)
    if node.config.parent_url and parent:
        out.append((parent, node.config.parent_url))
    for rc in region.ancestors(node.node_id):
        rec = node.store.get(f"node:{rc}")
        url = rec.value().get("node", {}).get("address", "") if rec else ""
        if url and (rc, url) not in out:
            out.append((rc, url))
    return out


async def sync_once(node: Node, wait: float = 0) -> RoundStats:
    """One round with the first ancestor that answers."""
    targets = await in_db(node, ancestors_to_try, node)
    if not targets:
        raise LinkDown("未设置上级地址（yimen init --parent 或 yimen enroll --parent）",
                       "no parent address (yimen init --parent or yimen enroll --parent)")
    errors = []
    async with aiohttp.ClientSession() as session:
        for peer, url in targets:
            try:
                return await Link(node, session, url, peer).round(wait)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                errors.append(f"{url}: {e.__class__.__name__}")
    raise LinkDown(f"无法连接任何上级：{'; '.join(errors)}", f"no ancestor reachable: {'; '.join(errors)}")


async def run_loop(node: Node, stop: asyncio.Event, poll_s: float = 0.5, long_poll_s: float = 20,
                   report: Report | None = None) -> None:
    """Keep the node in sync with its ancestors until `stop` is set. `report` hears how each
    round ended: None after a good one, the error after a failed one (it is awaited: it
    records on the database thread). Any other exception ends the loop: it is a bug, for
    the caller's supervisor to log and restart."""
    delay = 1.0
    seen = -1
    while not stop.is_set():
        if not await in_db(node, ancestors_to_try, node):  # not enrolled yet: `yimen enroll` may run meanwhile
            node.config = config_mod.load(node.home)
            await _sleep(stop, poll_s)
            continue
        try:
            version = await in_db(node, node.store.data_version)
            wait = 0 if version != seen else min(long_poll_s, 2.0)
            seen = version
            stats = await sync_once(node, wait=wait)
            if stats.pushed or stats.pulled:
                log.info("synced with %s: pushed %d, pulled %d seals", stats.peer, stats.pushed, stats.pulled)
            delay = 1.0
            if report:
                await report(None)
            await _sleep(stop, poll_s)
        except (LinkDown, wire.WireError) as e:
            log.warning("sync failed: %s (retry in %.1fs)", e.en, delay)
            if report:
                await report(e)
            await _sleep(stop, delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 60.0)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
