"""The node's side of replication: its sync engine, wired to the projections.

The engine (in `yimen.sync`) imports documents; this module tells it how to refresh the
node's projections inside the same transaction, and loads the node's signing key.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from yimen.node.home import KEY_FILE, Node
from yimen.node.projections import refresh
from yimen.sync.docs import Doc
from yimen.sync.engine import Engine

T = TypeVar("T")
# Catalog items before cases: a case's projection needs the item version it was accepted under.
_ORDER = {"catalog_item": 0, "node": 1, "case": 2}


def signing_key(node: Node) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((node.home / KEY_FILE).read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def project(node: Node, docs: list[Doc]) -> None:
    for doc in sorted(docs, key=lambda d: _ORDER.get(d.kind, 9)):
        refresh(node.store, doc, node.calendar)


def engine(node: Node) -> Engine:
    """The node's engine (cached on the node: the key is read once)."""
    cached = getattr(node, "_engine", None)
    if cached is None:
        cached = Engine(node.store, node.node_id, signing_key(node), lambda docs: project(node, docs))
        object.__setattr__(node, "_engine", cached)
    return cached


def _lock(node: Node) -> asyncio.Lock:
    lock = getattr(node, "_db_lock", None)
    if lock is None:
        lock = asyncio.Lock()
        object.__setattr__(node, "_db_lock", lock)
    return lock


async def in_db(node: Node, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking database call in a worker thread, one at a time per node: the server
    and the sync loop share one SQLite connection and must never interleave on it."""
    async with _lock(node):
        return await asyncio.to_thread(fn, *args)
