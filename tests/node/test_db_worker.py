"""The node's database thread (`replication.in_db`): it serves one event loop after another
(a node outlives `asyncio.run`), and closing the node waits for the call it runs, because a
connection closed under a running query crashes the process."""

from __future__ import annotations

import asyncio
import threading

import pytest

from yimen.sync.store import driver
from yimen.node.replication import in_db


def _count_docs(node) -> int:
    return node.store.conn.execute("SELECT count(*) FROM docs").fetchone()[0]


async def _contended(node) -> list[int]:
    """Calls that overlap: all but the first wait for the database thread."""
    gate = threading.Event()

    def first() -> int:
        gate.wait(5)
        return _count_docs(node)

    running = asyncio.ensure_future(in_db(node, first))
    waiting = [asyncio.ensure_future(in_db(node, _count_docs, node)) for _ in range(3)]
    await asyncio.sleep(0)  # let every call reach the worker before the first may finish
    gate.set()
    return await asyncio.gather(running, *waiting)


def test_one_node_serves_one_event_loop_after_another(fresh_node):
    """Contended calls in a first loop, then in a second and a third: before, the node kept
    an asyncio.Lock bound to the first loop, and the second loop failed on it."""
    for _ in range(3):
        assert asyncio.run(_contended(fresh_node)) == [0, 0, 0, 0]
    names = {t.name for t in threading.enumerate() if t.name.startswith("yimen-db")}
    assert len(names) == 1  # one database thread for the node, whatever the loop


async def test_calls_run_one_at_a_time_in_the_order_made(fresh_node):
    order, inside = [], []

    def call(i: int) -> None:
        inside.append(i)
        assert len(inside) == 1, inside  # nobody else on the connection meanwhile
        order.append(i)
        inside.remove(i)

    await asyncio.gather(*(in_db(fresh_node, call, i) for i in range(20)))
    assert order == list(range(20))


async def test_closing_the_node_waits_for_the_running_call(fresh_node):
    """`Node.close` while a call runs on the database thread: the call finishes on an open
    connection, and only then does the connection close."""
    node, entered, store_closed = fresh_node, threading.Event(), threading.Event()
    close_store = node.store.close

    def closing_store() -> None:
        close_store()
        store_closed.set()

    node.store.close = closing_store

    def call() -> int:
        entered.set()
        # A close that does not wait for this call closes the connection now; waiting for
        # something that must NOT happen can only be bounded by a timeout.
        store_closed.wait(0.5)
        return _count_docs(node)

    running = asyncio.ensure_future(in_db(node, call))
    await asyncio.to_thread(entered.wait, 5)
    await asyncio.to_thread(node.close)
    assert store_closed.is_set()
    assert await running == 0
    with pytest.raises(RuntimeError):  # the node is closed: no more calls
        await in_db(node, _count_docs, node)
    with pytest.raises(driver.ProgrammingError):
        _count_docs(node)
