"""The node's side of replication: its sync engine, wired to the projections.

The engine (in `yimen.sync`) imports documents; this module tells it how to refresh the
node's projections inside the same transaction, and loads the node's signing key.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.node.home import DB_WORKER, Node
from yimen.node.projections import refresh_many
from yimen.sync.engine import Engine, Receipt

T = TypeVar("T")
_making_worker = threading.Lock()


def signing_key(node: Node) -> Ed25519PrivateKey:
    return node.keys.signing


def engine(node: Node) -> Engine:
    """The node's engine (cached on the node: the key is read once)."""
    cached = getattr(node, "_engine", None)
    if cached is None:
        cached = Engine(node.store, node.node_id, signing_key(node), lambda docs: imported(node, docs), clock=node.now)
        object.__setattr__(node, "_engine", cached)
    return cached


def imported(node: Node, docs: list) -> None:
    """The engine's hook: project what moved; a consent that moved may end documents held
    on demand here (purged in the same transaction, see `services.space_purge`)."""
    from yimen.node.services import space_purge  # (the services import this module)
    refresh_many(node.store, docs, node.calendar)
    space_purge.on_consents(node, docs)


def catch_up_all(node: Node, progress: Callable[[str, int, int], None] | None = None,
                 receipt: Receipt | None = None) -> int:
    """Apply every seal stored but not yet applied (see `Engine.catch_up`), a few seals per
    transaction, reporting stage "apply"; returns how many."""
    eng, done = engine(node), 0
    total = eng.backlog()
    while n := eng.catch_up(receipt=receipt):
        done += n
        if progress:
            progress("apply", done, total)
    return done


def _worker(node: Node) -> ThreadPoolExecutor:
    """The node's one database thread, made on first use and ended by `Node.close`. Nothing
    bound to an event loop is kept on the node: a node outlives loops (each `asyncio.run`
    makes a new one), and an asyncio.Lock first awaited in one loop fails in the next."""
    pool = vars(node).get(DB_WORKER)
    if pool is None:
        with _making_worker:  # two loops in two threads must not make two database threads
            pool = vars(node).get(DB_WORKER)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yimen-db")
                object.__setattr__(node, DB_WORKER, pool)
    return pool


async def in_db(node: Node, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking database call on the node's one database thread, one call at a time:
    the server and the sync loop share one SQLite connection and must never interleave on
    it. The single thread is what orders the calls (in the order they are made, from any
    loop), so no lock is needed. (One long-lived thread, not the default pool: a pool of
    threads each touching Loro and SQLite fragments memory into hundreds of MB.)"""
    return await asyncio.get_running_loop().run_in_executor(_worker(node), lambda: fn(*args))
