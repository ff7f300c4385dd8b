"""Background tasks under a `Supervisor`: a failure is logged with its traceback and the
task restarted after a pause that doubles up to a cap; a task that returns is done; `stop`
ends them all. And the server's materializer, supervised, survives a failure: before, it
died at the first one and every later push stayed stored but never applied."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from aiohttp.test_utils import TestServer

from support import MINI_CATALOG, id_number
from support.chain import push
from yimen.sync.store import driver
from yimen.node import home
from yimen.node.server.app import MATERIALIZER, create_app
from yimen.node.server.supervisor import Supervisor
from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.node.services.uplink import sync_once
from yimen.schema.catalog import parse_catalog_json


class Flaky:
    """A task that fails with `error(run)` on each run until run `up`, which stays up
    (`running` is set then)."""

    def __init__(self, up: int, error=lambda run: KeyError(f"run {run}")):
        self.runs, self.up, self.error, self.running = 0, up, error, asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs == self.up:
            self.running.set()
            await asyncio.Event().wait()
        raise self.error(self.runs)


def _restarts(caplog) -> list[tuple]:
    return [r.args for r in caplog.records if r.name == "yimen.server" and r.levelno == logging.ERROR]


async def test_a_failing_task_is_logged_and_restarted_with_growing_pauses(caplog):
    flaky = Flaky(up=5)  # the fifth run stays up

    crashes = []

    async def on_crash(name: str, error: Exception, delay: float) -> None:
        crashes.append((name, str(error), delay))

    tasks = Supervisor(first_delay_s=0.01, max_delay_s=0.04, on_crash=on_crash)
    tasks.start("flaky", flaky)
    await asyncio.wait_for(flaky.running.wait(), 10)
    assert [args[1] for args in _restarts(caplog)] == [0.01, 0.02, 0.04, 0.04]
    failures = [r for r in caplog.records if r.name == "yimen.server"]
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in failures)  # with its traceback
    assert "flaky" in failures[0].getMessage() and "Traceback" in caplog.text
    assert crashes == [("flaky", "'run 1'", 0.01), ("flaky", "'run 2'", 0.02), ("flaky", "'run 3'", 0.04),
                       ("flaky", "'run 4'", 0.04)]
    task = tasks.tasks["flaky"]
    await tasks.stop()
    assert task.done() and not tasks.tasks


class BindingPanic(BaseException):
    """What the loro binding raises: a bare BaseException, not an Exception."""


async def test_a_task_dying_of_a_bare_base_exception_is_restarted_too(caplog):
    panicky = Flaky(up=2, error=lambda run: BindingPanic("decode error"))

    tasks = Supervisor(first_delay_s=0.01)
    tasks.start("panicky", panicky)
    await asyncio.wait_for(panicky.running.wait(), 10)
    assert [r.exc_info[0] for r in caplog.records if r.name == "yimen.server"] == [BindingPanic]
    await tasks.stop()  # cancelling still ends it: CancelledError is control flow, not a failure
    assert not tasks.tasks


async def test_a_task_that_ran_well_for_a_while_starts_again_from_the_first_pause(caplog):
    runs, third = 0, asyncio.Event()

    async def fails_at_once_then_late() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            third.set()
            await asyncio.Event().wait()
        if runs == 2:
            await asyncio.sleep(0.05)  # "a while", as the test's supervisor counts it
        raise RuntimeError("boom")

    tasks = Supervisor(first_delay_s=0.01, max_delay_s=1, healthy_s=0.05)
    tasks.start("t", fails_at_once_then_late)
    await asyncio.wait_for(third.wait(), 10)
    await tasks.stop()
    assert [args[1] for args in _restarts(caplog)] == [0.01, 0.01]


async def test_a_task_that_returns_is_done_and_stop_ends_the_others(caplog):
    started, stopped = asyncio.Event(), asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def once() -> None:
        return None

    async def failing() -> None:
        raise ValueError("always")

    tasks = Supervisor(first_delay_s=30)  # `stop` must not wait out the pause
    tasks.start("forever", forever)
    tasks.start("once", once)
    tasks.start("failing", failing)
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(tasks.tasks["once"], 10)
    pending = list(tasks.tasks.values())
    await asyncio.wait_for(tasks.stop(), 5)
    assert stopped.is_set() and all(t.done() for t in pending)
    assert len(_restarts(caplog)) == 1  # `failing` once; `once` was not restarted


async def test_a_recorder_that_fails_does_not_stop_the_restarts(caplog):
    task = Flaky(up=2)

    async def broken(name: str, error: Exception, delay: float) -> None:
        raise driver.OperationalError("database is locked")

    tasks = Supervisor(first_delay_s=0.01, on_crash=broken)
    tasks.start("t", task)
    await asyncio.wait_for(task.running.wait(), 10)
    await tasks.stop()
    assert "recording the failure of background task t failed" in caplog.text


async def test_the_materializer_survives_a_failure(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Supervisor, "FIRST_DELAY_S", 0.01)
    town = home.init(tmp_path / "town", "440608100", "荷城街道")
    village = home.init(tmp_path / "village", "440608100201", "示范A村")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    push(town, village)  # the catalog comes down
    clerks.add(village, "c01", "李敏", ["民政", "社保", "村委会"])
    for i in range(8):  # more than a push applied at once: stored, left to the materializer
        cases.accept(village, "c01", cases.Application("T-IMM", id_number(i), "陈美玲", {"居民身份证": None}, {}))
    real, calls = town.store.data_version, []

    def failing_once() -> int:  # the first call of each background task (materializer, feed watch)
        calls.append(1)
        if len(calls) <= 2:
            raise driver.OperationalError("disk I/O error")
        return real()

    monkeypatch.setattr(town.store, "data_version", failing_once)
    app = create_app(town)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        village.config = replace(village.config, parent_url=str(server.make_url("")))
        stats = await sync_once(village)
        assert stats.pushed >= 1 and not stats.quarantined
        m = app[MATERIALIZER]
        m.GRACE_S = 0.0
        await asyncio.wait_for(m.drained.wait(), 30)
        assert town.store.count("case") == 8
        assert "background task materializer failed" in caplog.text
        assert "background task feed watch failed" in caplog.text
    finally:
        await server.close()
        town.close()
        village.close()
