"""The node's link to its ancestors: which to try, in what order, and one sync round or
the background loop over the HTTP transport (the session itself is `yimen.sync.session`).

The background loop pushes soon after a local commit (it watches the database's
`data_version`), long-polls for what comes down, and backs off exponentially with jitter
when the link fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Awaitable, Callable, TypeVar

import aiohttp

from yimen.node import config as config_mod
from yimen.node.audit import exchange
from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import engine, in_db, signing_key
from yimen.node.services import activity, file_transfer, space_delivery, space_purge
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync.errors import SyncError
from yimen.sync.session import RoundStats, Session
from yimen.sync.transports.http import LINK_ERRORS, HttpTransport, InsecureLink, link_ssl, mismatch
from yimen.schema.text import Text

log = logging.getLogger("yimen.sync")
T = TypeVar("T")
Report = Callable[[YimenError | None], Awaitable[None]]


class LinkDown(NodeError):
    """No ancestor could be reached."""

    code = "link_down"


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


async def with_first_ancestor(node: Node, attempt: Callable[[HttpTransport], Awaitable[T]]) -> T:
    """Run `attempt` against the parent, or the next ancestor that answers when a link
    is down (any other error is the answer). Each is reached over TLS with its certificate
    pinned (see `http.link_ssl`); an address that cannot be reached safely, or a
    certificate that is not the pinned one, is skipped like a link that is down, and is
    the error told if no ancestor answers."""
    targets = await in_db(node, ancestors_to_try, node)
    if not targets:
        raise LinkDown("未设置上级地址（yimen init --parent 或 yimen enroll --parent）",
                       "no parent address (yimen init --parent or yimen enroll --parent)")
    errors: list[tuple[str, str]] = []  # (zh, en) per address tried
    refused: list[SyncError] = []
    async with aiohttp.ClientSession() as session:
        for peer, url in targets:
            try:
                transit = await in_db(node, node.store.keys.transit, peer)
                ssl = link_ssl(url, transit and transit[1], node.config.plain_http)
                return await attempt(HttpTransport(session, url, peer, node.node_id, signing_key(node), ssl))
            except aiohttp.ServerFingerprintMismatch as e:
                refused.append(mismatch(url, e))
            except InsecureLink as e:
                refused.append(e)
            except LINK_ERRORS as e:
                zh, en = link_failure(e)
                errors.append((f"{url}（{zh}）", f"{url}: {en}"))
                continue
            log.warning(Text("跳过 %s：%s", "skipped %s: %s"), url, refused[-1])
    if refused:
        raise refused[0]
    raise LinkDown(f"无法连接任何上级：{'；'.join(z for z, _ in errors)}",
                   f"no ancestor reachable: {'; '.join(e for _, e in errors)}")


def link_failure(e: BaseException) -> tuple[str, str]:
    """Why a link failed, (zh, en): the Chinese words for the usual cases, and the error's
    class for the log in English."""
    name = e.__class__.__name__
    if isinstance(e, (TimeoutError, aiohttp.ServerTimeoutError)):
        return "连接超时", name
    if isinstance(e, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError)):
        return "连接中断", name
    if isinstance(e, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
        return "无法建立连接", name
    return "网络错误", name


async def sync_once(node: Node, wait: float = 0) -> RoundStats:
    """One round with the first ancestor that answers; its lag sampled at the end (see
    `activity`), the parent's when none answered."""
    async def attempt(transport: HttpTransport) -> RoundStats:
        run = lambda fn, *args: in_db(node, fn, *args)  # noqa: E731
        stats = await Session(engine(node), transport, run).round(wait, RoundStats(transport.peer, transport.url))
        await exchange.send(node, transport)  # after the push: the log head to the parent
        await space_delivery.after_round(node, transport)  # documents under consents held here
        await file_transfer.round_step(node, transport)  # then files, bounded: behind cases and documents
        return stats
    await in_db(node, space_purge.sweep, node)  # expired consents end documents even with no link
    try:
        stats = await with_first_ancestor(node, attempt)
    except (LinkDown, SyncError):
        if parent := region.parent_code(node.node_id):  # no ancestor answered: the lag toward the parent grows
            await in_db(node, activity.record_lag, node, parent)
        raise
    await in_db(node, activity.record_lag, node, stats.peer)
    return stats


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
                log.info(Text("与 %s 同步：上传 %d 个签封，下载 %d 个", "synced with %s: pushed %d, pulled %d seals"),
                         stats.peer, stats.pushed, stats.pulled)
            delay = 1.0
            if report:
                await report(None)
            await _sleep(stop, poll_s)
        except (LinkDown, SyncError) as e:
            log.warning(Text("同步失败：%s（%.1f 秒后重试）", "sync failed: %s (retry in %.1fs)"), e, delay)
            if report:
                await report(e)
            await _sleep(stop, delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 60.0)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
