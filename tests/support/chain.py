"""A four-level chain of real nodes (SQLite on disk) for replication tests, joined by an
in-memory transport that drives the engines directly."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from support import MINI_CATALOG
from yimen.node.services import catalog, clerks, enrollment
from yimen.node import home
from yimen.node.replication import catch_up_all, engine, in_db
from yimen.schema import region
from yimen.schema.catalog import parse_catalog_json
from yimen.sync.session import Responder, RoundStats, Session
from yimen.sync.transports.memory import MemoryTransport

CHAIN = [("city", "4406", "佛山市"), ("district", "440608", "高明区"), ("town", "440608100", "荷城街道"),
         ("village_a", "440608100201", "示范A村"), ("village_b", "440608100202", "示范B村")]
PARENT = {"district": "city", "town": "district", "village_a": "town", "village_b": "town"}


def make_chain(root: Path, clock=home.china_now) -> dict[str, home.Node]:
    """city → district → town → villages A and B, enrolled, with the mini catalog published
    by the city and clerks at the town (t01: 民政) and each village (c01: 民政, 社保, 村委会)."""
    nodes = {name: home.init(root / name, rc, title, clock=clock) for name, rc, title in CHAIN}
    for child, parent in PARENT.items():
        enrollment.apply_answer(nodes[child], enrollment.admit(nodes[parent], enrollment.request(nodes[child])))
    catalog.import_items(nodes["city"], parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    clerks.add(nodes["town"], "t01", "赵镇", ["民政"])
    for v in ("village_a", "village_b"):
        clerks.add(nodes[v], "c01", "李敏", ["民政", "社保", "村委会"])
    return nodes


@contextmanager
def synced_chain(root: Path) -> Iterator[dict[str, home.Node]]:
    """`make_chain`, every link synced (each node holds the catalog and the node records);
    the nodes are closed on leaving."""
    nodes = make_chain(root)
    try:
        sync_all(nodes)
        yield nodes
    finally:
        for n in nodes.values():
            n.close()


def push(src: home.Node, dst: home.Node, max_bytes: int = 1 << 16) -> int:
    """Send everything `dst` may see from `src` through one session over the in-memory
    transport, in bounded batches (a push when `dst` is the parent, a pull otherwise);
    returns seals imported."""
    child, parent = (src, dst) if region.parent_code(src.node_id) == dst.node_id else (dst, src)
    session = Session(engine(child), MemoryTransport(Responder(engine(parent)), child.node_id), batch_bytes=max_bytes)
    stats = RoundStats()
    if child is src:
        resume = session.outbound.resume(run_coroutine(session.transport.hello()))
        run_coroutine(session.push(resume, stats))
        return stats.pushed
    run_coroutine(session.pull(stats))
    return stats.pulled


def run_coroutine(coro):
    """Run a session step to the end from sync code, also inside a running event loop (in
    a thread of its own: the in-memory transport never waits on this loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def conflicted_case(nodes: dict[str, home.Node], clock) -> str:
    """A T-DIBAO case accepted at village A, in review at the town: offline, the village
    returns it while the town approves it; after the sync one of the two is flagged.
    `clock`: the nodes' settable clock. Returns its receipt number."""
    from support import id_number
    from yimen.node.services import cases
    sync_all(nodes)
    village, town = nodes["village_a"], nodes["town"]
    app = cases.Application("T-DIBAO", id_number(1), "申请人1", {"居民身份证": None, "收入证明": None}, {})
    cid = cases.accept(village, "c01", app)["case_id"]
    cases.act(village, cid, "submit", "c01")
    cases.act(village, cid, "approve", "c01")
    sync_all(nodes)
    clock.advance(hours=1)
    cases.act(town, cid, "approve", "t01")
    clock.advance(hours=1)
    cases.act(village, cid, "returned", "c01", reason="申请人迁出本村")
    sync_all(nodes)
    return cid


def sync_all(nodes: dict[str, home.Node], rounds: int = 3) -> None:
    """Exchange both ways along every link until nothing moves (at most `rounds` passes)."""
    for _ in range(rounds):
        moved = 0
        for child, parent in PARENT.items():
            moved += push(nodes[child], nodes[parent]) + push(nodes[parent], nodes[child])
        if not moved:
            return


async def settle(*nodes: home.Node) -> None:
    """Apply what test servers stored from pushes (their materializer is off, so the test
    may use the nodes' connections between awaits)."""
    for n in nodes:
        await in_db(n, catch_up_all, n)
