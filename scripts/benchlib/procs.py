"""Node processes and what they cost: servers, `yimen ...` runs, polling, profiles.

Peak RSS is VmHWM from /proc/PID/status, read for servers before they stop and for
subprocesses every 10-20 ms while they run (not os.wait4's ru_maxrss: on Linux it also
counts the image of this process the child was forked from). CPU seconds are user +
system: of a live process from /proc/PID/stat, of a finished one from os.wait4.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from yimen.sync.store import driver
from yimen.node import vault
from yimen.node.home import DB_FILE, database_key

REPO = Path(__file__).resolve().parents[2]
RUNNING: set[subprocess.Popen] = set()  # subprocesses to stop if the benchmark is stopped


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def yimen_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("yimen")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("yimen")
    return [found] if found else [sys.executable, "-c", "from yimen.node.cli.main import main; main()"]


def ensure_key_file(folder: Path) -> None:
    """Unlock the benchmark's nodes with a key file in `folder` unless YIMEN_KEY_FILE names one."""
    os.environ.setdefault(vault.ENV_KEY_FILE, str(folder / "yimen.key"))


def child_env() -> dict[str, str]:
    """The environment of node subprocesses: no YIMEN_* settings leak in from ours, but
    the key file that unlocks the nodes (see `ensure_key_file`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMEN_") or k == vault.ENV_KEY_FILE}
    env["YIMEN_LANG"] = "en"
    return env


# -- process timing -----------------------------------------------------------------------------
def vm_hwm_kb(pid: int) -> int:
    """Peak resident set of a live process (kB), from /proc/PID/status; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used so far; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def own_peak_rss_kb() -> int:
    """This process's peak RSS (kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- reading a node's database from outside ---------------------------------------------------------
def ro_count(db: Path, sql: str) -> int:
    conn = driver.connect(f"file:{db}?mode=ro", database_key(db.parent), uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def file_size(p: Path) -> int:
    return p.stat().st_size if p.exists() else 0


def db_size(node) -> tuple[int, dict[str, int]]:
    """Bytes of an open node's yimen.db + its WAL after a truncating checkpoint, and bytes
    per table/index (empty where SQLite has no dbstat)."""
    node.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = node.home / DB_FILE
    size = file_size(db) + file_size(Path(str(db) + "-wal"))
    try:
        tables = dict(node.store.conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
    except Exception:  # noqa: BLE001 - dbstat not compiled in
        tables = {}
    return size, tables


class Poller:
    """Is `sql` (a count) at least `want` in the database at `db`? Re-counts only after a
    commit by another connection (PRAGMA data_version), so polling every 20 ms costs the
    node under test next to nothing."""

    def __init__(self, db: Path, sql: str, want: int):
        self.conn = driver.connect(f"file:{db}?mode=ro", database_key(db.parent), uri=True, timeout=5,
                                   check_same_thread=False)
        self.sql, self.want, self.version, self.held = sql, want, None, False

    def __call__(self) -> bool:
        if not self.held:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self.version:
                self.version = version
                self.held = self.conn.execute(self.sql).fetchone()[0] >= self.want
        return self.held

    def wait(self, since: float, timeout: float, every: float = 0.005) -> float:
        """Poll until it holds or `timeout` s after `since` (a perf_counter); the time then."""
        while not self() and time.perf_counter() - since < timeout:
            time.sleep(every)
        return time.perf_counter()

    def close(self) -> None:
        self.conn.close()


class Watch(threading.Thread):
    """Notes when each of several pollers first holds, checking every 20 ms, while the
    benchmark goes on (a hub applies what it acknowledged in the background)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.polls: dict[str, Poller] = {}
        self.at: dict[str, float] = {}
        self.lock, self.done = threading.Lock(), threading.Event()

    def add(self, name: str, poller: Poller) -> None:
        with self.lock:
            self.polls[name] = poller

    def run(self) -> None:
        while not self.done.is_set():
            with self.lock:
                polls = [(k, p) for k, p in self.polls.items() if k not in self.at]
            for name, poller in polls:
                if poller():
                    self.at[name] = time.perf_counter()
            time.sleep(0.02)

    def wait(self, name: str, timeout: float = 1800) -> float:
        deadline = time.perf_counter() + timeout
        while name not in self.at:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name} did not hold in {timeout} s")
            time.sleep(0.02)
        return self.at[name]

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join()
        for p in self.polls.values():
            p.close()


# -- node processes -------------------------------------------------------------------------------
class Server:
    """`yimen --home HOME serve --port 0 --no-sync`, its log in `logdir`."""

    def __init__(self, name: str, node_home: Path, logdir: Path):
        self.name, self.home = name, node_home
        self.stderr = open(logdir / f"serve-{name}.log", "wb")
        self.proc = subprocess.Popen(
            yimen_cmd() + ["--home", str(node_home), "serve", "--port", "0", "--no-sync"],
            stdout=subprocess.PIPE, stderr=self.stderr, env=child_env())
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server {name} did not start: {line!r} (see {self.stderr.name})")
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.hwm_kb: dict[str, int] = {}  # phase -> VmHWM then

    def vm_hwm_kb(self) -> int:
        return vm_hwm_kb(self.proc.pid)

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.hwm_kb["end"] = self.vm_hwm_kb()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def run_cli(args: list[str], logdir: Path, tag: str, poll: Callable[[], bool] | None = None,
            timeout: float = 1800, cmd: list[str] | None = None) -> dict[str, Any]:
    """Run one `yimen ...` subprocess (or `cmd` + args); while it runs, call `poll()` every
    10-20 ms and note when it first returns True. Returns its start, wall time and end, the
    time poll held, peak RSS, CPU seconds, parsed stdout (JSON)."""
    out_path, err_path = logdir / f"{tag}.out", logdir / f"{tag}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen((cmd or yimen_cmd()) + args, stdout=out, stderr=err, env=child_env())
        RUNNING.add(proc)
        status, ru, hwm, held_at, end = _follow(proc, t0, poll, timeout)
        RUNNING.discard(proc)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if held_at is None and poll is not None and poll():
        held_at = end
    text = out_path.read_text("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"`yimen {' '.join(args)}` failed ({proc.returncode}): "
                           f"{err_path.read_text('utf-8', 'replace')[-2000:]}")
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        parsed = {"raw": text}
    return {"t0": t0, "wall_s": end - t0, "end": end, "held_at": held_at,
            "rss_kb": hwm, "cpu_s": ru.ru_utime + ru.ru_stime, "out": parsed}


def _follow(proc: subprocess.Popen, t0: float, poll: Callable[[], bool] | None, timeout: float) -> tuple:
    """Wait for `proc`, reading its VmHWM and calling `poll` meanwhile: (wait status,
    rusage, peak RSS kB, when poll first held or None, end time)."""
    held_at, hwm = None, 0
    while True:
        # VmHWM of the running program: wait4's ru_maxrss would also count the image of
        # this (larger) process that the child was forked from before its exec.
        hwm = max(hwm, vm_hwm_kb(proc.pid))
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        now = time.perf_counter()
        if held_at is None and poll is not None and poll():
            held_at = time.perf_counter()
        if pid:
            break
        if now - t0 > timeout:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01 if now - t0 < 1 else 0.02)
    return status, ru, hwm, held_at, time.perf_counter()


def stop_running() -> None:
    """Kill the subprocesses `run_cli` started that still run (the benchmark was stopped)."""
    for proc in list(RUNNING):
        proc.kill()
        proc.wait()
        RUNNING.discard(proc)


def profile_text(prof: cProfile.Profile, top: int = 28) -> str:
    """The top functions by own time and by cumulative time, paths relative to the repo."""
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return "\n".join(ln.replace(str(REPO) + "/", "") for ln in lines)
