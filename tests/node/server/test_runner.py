"""`runner.serve` in this process, against a fake parent on 127.0.0.1: a sync loop that
fails unexpectedly is logged, restarted and its outcome recorded where another process
(`yimen status`) sees it while the server keeps serving; every way out leaves nothing
running."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from support.fake_parent import FakeParent, good_round_ended
from yimen.sync.store import driver
from yimen.node.cli.main import main
from yimen.node.server import runner
from yimen.node.server.lock import HomeBusy, HomeLock
from yimen.node.server.supervisor import Supervisor
from yimen.node.services import uplink
from yimen.schema import region

YIMEN = Path(sys.executable).with_name("yimen")


@pytest.fixture
async def parent(fresh_node):
    fake = FakeParent(region.parent_code(fresh_node.node_id))
    await fake.server.start_server()
    fresh_node.config = replace(fresh_node.config, parent_url=str(fake.server.make_url("")))
    yield fake
    await fake.server.close()


def _db_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("yimen-db")]


def _assert_all_ended(node) -> None:
    """Nothing of the node is left running, and its connection is closed."""
    assert not _db_threads()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("yimen:")] == []
    with pytest.raises(driver.ProgrammingError):
        node.store.conn.execute("SELECT 1")


async def _yimen_status(home: Path) -> dict:
    """`yimen status --json` in another process."""
    proc = await asyncio.create_subprocess_exec(str(YIMEN), "--lang", "en", "--home", str(home), "status", "--json",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_a_sync_loop_that_fails_unexpectedly_is_restarted_and_its_outcome_recorded(
        fresh_node, parent, clock, caplog):
    node, stop, urls = fresh_node, asyncio.Event(), []
    failed_at = node.now()
    serving = asyncio.create_task(runner.serve(node, "127.0.0.1", 0, stop=stop, on_listening=urls.append,
                                               supervisor=Supervisor(first_delay_s=0.01, max_delay_s=0.04)))
    try:
        # three broken pulls: the loop died twice and was started again each time
        await parent.until(lambda calls: calls.count(("pull", True)) >= 3)
        seen = (await _yimen_status(node.home))["sync"]
        assert seen["last_ok"] is None and seen["last_error_at"] == failed_at
        assert seen["last_error"].startswith("the sync task failed unexpectedly (KeyError: 'start')")
        failures = [r for r in caplog.records if r.name == "yimen.server" and "task sync failed" in r.getMessage()]
        assert len(failures) >= 2 and all(r.exc_info[0] is KeyError for r in failures)

        clock.advance(minutes=5)
        parent.broken = False
        await parent.until(good_round_ended)
        async with aiohttp.ClientSession() as session:
            async with session.get(urls[0] + "/v1/status") as r:  # still serving
                assert r.status == 200 and (await r.json())["ok"] is True
        seen = (await _yimen_status(node.home))["sync"]
        assert seen["last_ok"] == node.now() and seen["last_error_at"] == failed_at
        assert "KeyError" in seen["last_error"]
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    _assert_all_ended(node)


async def test_each_round_is_reported_good_or_with_its_error(fresh_node, parent):
    parent.broken = False
    node, stop, outcomes = fresh_node, asyncio.Event(), []

    async def report(error) -> None:
        outcomes.append(error)
        stop.set()

    await asyncio.wait_for(uplink.run_loop(node, stop, report=report), 20)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    node.config = replace(node.config, parent_url=dead)
    stop.clear()
    await asyncio.wait_for(uplink.run_loop(node, stop, report=report), 20)
    assert outcomes[0] is None and isinstance(outcomes[1], uplink.LinkDown)


async def test_a_port_already_taken_is_one_sentence_and_leaves_nothing_running(fresh_node):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(runner.CannotListen) as refused:
            await runner.serve(fresh_node, "127.0.0.1", port, stop=asyncio.Event())
    assert refused.value.text("en") == f"port {port} on 127.0.0.1 is already in use; choose another with --port"
    assert refused.value.text("zh") == f"端口 {port} 已被占用（127.0.0.1），请用 --port 换一个端口"
    _assert_all_ended(fresh_node)
    with HomeLock(fresh_node.home):  # released
        pass


async def test_a_home_already_locked_is_refused_and_the_node_closed(fresh_node):
    with HomeLock(fresh_node.home):
        with pytest.raises(HomeBusy):
            await runner.serve(fresh_node, "127.0.0.1", 0, stop=asyncio.Event())
        with pytest.raises(HomeBusy):
            await runner.sync_forever(fresh_node, stop=asyncio.Event())
    _assert_all_ended(fresh_node)


async def test_sync_forever_stops_cleanly(fresh_node, parent):
    parent.broken = False
    stop = asyncio.Event()
    syncing = asyncio.create_task(runner.sync_forever(fresh_node, stop=stop))
    await parent.until(lambda calls: ("pull", False) in calls)
    stop.set()
    await asyncio.wait_for(syncing, 20)
    _assert_all_ended(fresh_node)


def test_an_unexpected_error_of_serve_is_logged_and_told_in_one_sentence(fresh_node, monkeypatch, caplog):
    def broken_app(node, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "create_app", broken_app)
    result = CliRunner().invoke(main, ["--lang", "en", "--home", str(fresh_node.home), "serve", "--port", "0"])
    *log, last = result.output.splitlines()
    assert (result.exit_code, last) == (
        1, "Error: yimen stopped on an unexpected error (RuntimeError); the log above has the details")
    assert "ERROR yimen.server yimen stopped on an unexpected error" in log[0] and log[-1] == "RuntimeError: boom"
    logged = [r for r in caplog.records if r.name == "yimen.server"]
    assert len(logged) == 1 and logged[0].exc_info[0] is RuntimeError
    assert not _db_threads()
    with HomeLock(fresh_node.home):  # released
        pass
