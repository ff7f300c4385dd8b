"""`yimen serve` as real processes on 127.0.0.1: one per home (a second one, or a `sync`,
is refused in one sentence until the first dies, even by SIGKILL), a port already taken is
one sentence and a clean exit every time (it used to be a traceback, and now and then a
segmentation fault), and a sync loop that fails is restarted and shown by `yimen status`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import TOWN, VILLAGE
from support.fake_parent import FakeParent, good_round_ended
from yimen.node import home
from yimen.schema import region

YIMEN = Path(sys.executable).with_name("yimen")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
BUSY_PORT_STARTS, LANES = 20, 2


def new_home(path: Path, region_code: str = TOWN, parent_url: str = "") -> Path:
    home.init(path, region_code, "测试节点", parent_url).close()
    return path


def yimen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(YIMEN), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=ENV)


def refused(result: subprocess.CompletedProcess, sentence: str) -> None:
    """Exit 1, nothing on stdout, the one sentence on stderr (click's prefix in the
    command's language), no traceback."""
    prefix = "Error: " if "en" in result.args else "错误："
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"{prefix}{sentence}\n"), result


def start_serve(home_dir: Path) -> tuple[subprocess.Popen, str]:
    """`yimen serve --port 0`; the process and its URL once it listens."""
    proc = subprocess.Popen([str(YIMEN), "--home", str(home_dir), "serve", "--port", "0"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # the first line is the address, or EOF if the process died
    assert line.startswith("listening on http://127.0.0.1:"), (line, proc.wait(10), proc.stderr.read())
    return proc, line.strip().removeprefix("listening on ")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_one_serve_per_home_until_the_first_dies_even_by_sigkill(tmp_path):
    h = new_home(tmp_path / "town")
    first, _ = start_serve(h)
    try:
        refused(yimen("--home", str(h), "serve", "--port", "0"),
                f"数据目录 {h} 已有另一个 yimen 进程（pid {first.pid}）在运行，同一数据目录只能运行一个 serve 或 sync")
        refused(yimen("--lang", "en", "--home", str(h), "serve", "--port", "0", "--no-sync"),
                f"another yimen process (pid {first.pid}) is already running on {h}; only one serve or sync may run per home")
        refused(yimen("--lang", "en", "--home", str(h), "sync"),
                f"another yimen process (pid {first.pid}) is already running on {h}; only one serve or sync may run per home")
        assert yimen("--home", str(h), "status").returncode == 0  # a clerk's command is not locked out
    finally:
        code, _ = stop(first, signal.SIGKILL)
    assert code == -signal.SIGKILL
    second, _ = start_serve(h)  # the kernel dropped the dead process's lock
    code, err = stop(second)
    assert code == 0 and "Traceback" not in err, err


def _busy_port_lane(home_dir: Path, port: int, starts: int) -> list[subprocess.CompletedProcess]:
    return [yimen("--home", str(home_dir), "serve", "--port", str(port)) for _ in range(starts)]


def test_a_port_already_taken_is_one_sentence_and_a_clean_exit_every_time(tmp_path):
    """Twenty starts on a taken port (in two lanes, one home each: a home takes one serve at
    a time), each within a bound: exit 1 with the sentence, never a traceback or a crash."""
    homes = [new_home(tmp_path / f"town{i}") for i in range(LANES)]
    started = time.monotonic()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ThreadPoolExecutor(LANES) as pool:
            lanes = list(pool.map(_busy_port_lane, homes, [port] * LANES, [BUSY_PORT_STARTS // LANES] * LANES))
        english = yimen("--lang", "en", "--home", str(homes[0]), "serve", "--port", str(port))
    results = [r for lane in lanes for r in lane]
    assert len(results) == BUSY_PORT_STARTS
    for r in results:
        refused(r, f"端口 {port} 已被占用（127.0.0.1），请用 --port 换一个端口")
    refused(english, f"port {port} on 127.0.0.1 is already in use; choose another with --port")
    assert time.monotonic() - started < 120


async def _yimen(*args: str) -> str:
    """A `yimen` command in another process, without blocking the fake parent's loop."""
    proc = await asyncio.create_subprocess_exec(str(YIMEN), *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=ENV)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _field(text: str, label: str) -> str:
    """The value of a `label  value` line of `yimen status`."""
    return next(line.removeprefix(label).strip() for line in text.splitlines() if line.startswith(label))


async def test_a_serve_whose_sync_loop_fails_restarts_it_and_yimen_status_says_so(tmp_path):
    """Before, the loop died at its first unexpected error and the server served on, not
    syncing, with nothing said until it stopped."""
    parent = FakeParent(region.parent_code(VILLAGE))
    await parent.server.start_server()
    h = new_home(tmp_path / "village", VILLAGE, str(parent.server.make_url("")))
    proc = await asyncio.create_subprocess_exec(str(YIMEN), "--home", str(h), "serve", "--port", "0", env=ENV,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        await parent.until(lambda calls: calls.count(("pull", True)) >= 2)  # started again
        zh = await _yimen("--home", str(h), "status")
        assert _field(zh, "最近同步成功") == "（从未）" and "同步任务意外出错（KeyError: 'start'）" in _field(zh, "最近同步错误")
        parent.broken = False
        await parent.until(good_round_ended)
        en = await _yimen("--lang", "en", "--home", str(h), "status")
        assert re.search(r"  the sync task failed unexpectedly \(KeyError: 'start'\); restarting in \d+ s$",
                         _field(en, "last sync error"))
        assert _field(en, "last sync succeeded") != "(never)"
        assert json.loads(await _yimen("--home", str(h), "status", "--json"))["sync"]["last_ok"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await parent.server.close()
    assert proc.returncode == 0
    log = err.decode()
    assert "后台任务 sync 意外出错，1 秒后重启" in log and "KeyError: 'start'" in log
