#!/usr/bin/env python
"""Sync benchmark: N cases made at a village travel village → town → district → city.

Not a test: it prints a table and a FINAL line (one JSON object) and never fails on a
missed target (it marks it). Usage:

    python scripts/bench_sync.py [--cases N] [--seed S] [--profile] [--keep DIR] [--direct]

Setup (in a temporary folder, deleted at the end unless --keep): four nodes city 4406,
district 440608, town 440608100, village 440608100201 made with `home.init`, enrolled
offline (`enrollment.admit` / `apply_answer`); the sample catalog is published at the city
and three clerks with every department are added at the village. City, district and town
each run as a real server process (`yimen --home DIR serve --port 0 --no-sync`). Between
every child and its parent sits a counting TCP proxy (a thread of this process): a child's
`parent_url` points at it, so the bytes really sent over HTTP — compressed bodies, headers,
both directions — are counted per hop. The catalog goes down to the village once (in-process
`sync_once`, not timed); then N cases are generated at the village (not timed).

Each case is made of four Loro changes, like four actions at the window on different
occasions: accept, submit, approve (the village step, 村委会) and supplement or deliver.
The first cases (1%, 50..300) go through `cases.accept` / `cases.act`; the rest are
written by a fast path that builds the same documents (same maps, same event dicts, one
`Store.save` per action) without re-reading document and catalog for every action, several
times faster than `act`. The two paths are checked to make documents of the same shape, and
every case's history must replay (in its projection) to "in review" or "supplement" with no
conflict.

Measured:
  a) one hop: `yimen sync --once --json` at the village (a subprocess), from its start until
     it exits, every seal acknowledged by the town: verified, stored in its feed, able to
     go on up. The town applies what it acknowledged to documents and projections in the
     background (store and forward); "applied" is when the town's database holds all N
     case documents (polled read-only).
  b) end to end: the town, then the district run `sync --once` as soon as the hop before
     them ended (store and forward: a hub relays before it applies). Acknowledged: the sum
     of the three rounds. Applied: from the start of (a) until the city's documents hold all
     N. Server CPU is counted from the start of (a) until every hub has applied.
  c) incremental: 1% of cases get one more action at the village; the round that takes them
     to the city's projections is timed twice: with in-process `sync_once` per hop (as a node's background
     loop does: no process start; headline `incremental_s`) and with `sync --once`
     subprocesses (`incremental_cli_s`).
  d) bundle: `yimen bundle export --to 440608100` run on a copy of the village taken right
     after generation (nothing acknowledged yet: the bundle holds every case), then
     imported into a fresh town node (enrolled offline with the village, catalog published
     locally) by this script's `--import-bundle` mode in its own process (with --profile:
     under cProfile, the engine's receive path).
Peak RSS: VmHWM from /proc/PID/status, read for servers before they stop and for
`sync`/`bundle` subprocesses every 10-20 ms while they run (not os.wait4's ru_maxrss: on
Linux it also counts the image of this process the child was forked from). This process
(generator, in-process syncs) is reported apart and is not a node. CPU seconds of every
node process are reported too: on a shared machine they say more than wall time.

Bytes: `sync --json` reports `bytes_out`/`bytes_in` as the sum of the seals' bytes as
stored in the feed (body + signature): reported as `seal_bytes`. The HTTP bodies wrap them
in zlib-compressed msgpack; `wire_bytes` are the TCP payload bytes through the proxy (both
directions, HTTP headers included). With --direct there is no proxy and only seal bytes.
With --profile the send side (seal_pending + next_batch on a copy of the village) is
profiled in-process as well.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.node import home
from yimen.node import config as config_mod
from yimen.node.cli.progress import progress
from yimen.node.replication import engine
from yimen.node.services.uplink import sync_once
from yimen.schema import case as lifecycle
from yimen.schema.catalog import DEPARTMENTS, parse_catalog_json
from yimen.schema.idnumber import check_digit, validate_id_number
from yimen.sync.engine import Batch, OutOfOrder

NODES = [("city", "4406", "佛山市政务服务中心"), ("district", "440608", "高明区政务服务中心"),
         ("town", "440608100", "荷城街道党群服务中心"), ("village", "440608100201", "示范村党群服务中心")]
PARENT = {"district": "city", "town": "district", "village": "town"}
HOPS = [("village", "town"), ("town", "district"), ("district", "city")]
TOWN = "440608100"
TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=home.CHINA_TZ)
START = TODAY - timedelta(days=60)
TARGETS = {"end_to_end_cases_per_s": 2000, "one_hop_cases_per_s": 4000,
           "wire_bytes_per_case_per_hop": 530, "incremental_s": 1.0, "max_peak_rss_mb": 150}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉志鹏海燕春梅林丹宇浩婷雪琳晨欣怡俊思源佳慧子轩梓涵雨桐嘉宁德福贵荣金凤秋菊冬生"
SUPPLEMENT_REASONS = ("户口簿复印件不清晰，请重新提供", "收入证明缺少单位盖章", "申请表未签字",
                      "相片不符合要求", "证明材料已过期，请提供近三个月内的证明", "家庭成员信息填写不完整")
CLERKS = (("c01", "李敏"), ("c02", "王芳"), ("c03", "陈美玲"))
RUNNING: set[subprocess.Popen] = set()  # subprocesses to stop if the benchmark is stopped


# -- small helpers ------------------------------------------------------------------------------
class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def yimen_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("yimen")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("yimen")
    return [found] if found else [sys.executable, "-c", "from yimen.node.cli.main import main; main()"]


def child_env() -> dict[str, str]:
    """The environment of node subprocesses: no YIMEN_* settings leak in from ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMEN_")}
    env["YIMEN_LANG"] = "en"
    return env


class Poller:
    """Is `sql` (a count) at least `want` in the database at `db`? Re-counts only after a
    commit by another connection (PRAGMA data_version), so polling every 20 ms costs the
    node under test next to nothing."""

    def __init__(self, db: Path, sql: str, want: int):
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        self.sql, self.want, self.version, self.held = sql, want, None, False

    def __call__(self) -> bool:
        if not self.held:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self.version:
                self.version = version
                self.held = self.conn.execute(self.sql).fetchone()[0] >= self.want
        return self.held

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
        self.join()
        for p in self.polls.values():
            p.close()


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set of a live process (kB), from /proc/PID/status; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def ro_count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def mb(kb: float) -> float:
    return round(kb / 1024, 1)


# -- the counting proxy ---------------------------------------------------------------------------
class Proxy:
    """A TCP relay in front of one server that counts payload bytes each way."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.up = self.down = self.connections = 0
        self.first: float | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def mark(self) -> tuple[int, int]:
        self.first = None
        return self.up, self.down

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.connections += 1
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, uw, True), self._pipe(ur, writer, False))

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
        try:
            while True:
                data = await r.read(1 << 16)
                if not data:
                    break
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass


class ProxyThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="proxy")
        self.thread.start()

    def add(self, target_port: int) -> Proxy:
        p = Proxy(target_port)
        asyncio.run_coroutine_threadsafe(p.start(), self.loop).result(10)
        return p

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# -- node processes -------------------------------------------------------------------------------
class Server:
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
        self.hwm_kb: dict[str, int] = {}

    def vm_hwm_kb(self) -> int:
        return vm_hwm_kb(self.proc.pid)

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

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
    """Run one `yimen ...` subprocess; while it runs, call `poll()` every 20 ms and note when
    it first returns True. Returns wall time, the time poll held, peak RSS, parsed stdout."""
    out_path, err_path = logdir / f"{tag}.out", logdir / f"{tag}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen((cmd or yimen_cmd()) + args, stdout=out, stderr=err, env=child_env())
        RUNNING.add(proc)
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
        end = time.perf_counter()
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


# -- generation ---------------------------------------------------------------------------------
class Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def name(self) -> str:
        r = self.rng
        return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2, 2))))

    def id_number(self) -> str:
        r = self.rng
        birth = date(1935, 1, 1) + timedelta(days=r.randrange(365 * 73))
        body = f"4406{r.choice(('08', '04', '05', '06', '07'))}{birth:%Y%m%d}{r.randrange(1000):03d}"
        return body + check_digit(body)

    def sha(self) -> str:
        return hashlib.sha256(self.rng.randbytes(32)).hexdigest()

    def phone(self) -> str:
        r = self.rng
        return f"1{r.choice('3589')}{r.randrange(10**9):09d}" if r.random() < 0.8 else ""

    def application(self, item) -> tuple[cases.Application, str | None]:
        """Three materials provided with their scans' SHA-256 (two when an item of three
        defers one); optional materials are not brought."""
        r = self.rng
        needed = [m for m in item.materials if m.requirement != "optional"]
        deferrable = [m.name for m in needed if m.requirement == "deferrable"]
        deferred = r.choice(deferrable) if deferrable and (len(needed) > 3 or r.random() < 0.4) else None
        provided = {m.name: self.sha() for m in needed if m.name != deferred}
        app = cases.Application(item.code, self.id_number(), self.name(), provided,
                                {deferred: None} if deferred else {}, self.phone())
        return app, deferred


def eligible_items(node: home.Node) -> list:
    """Promised items whose first step is decided at village level by 村委会 and that go on
    to a higher level (so the case stays in review and a supplement or delivery is legal),
    with three materials to bring (or four of which one may be deferred)."""
    out = []
    for row in catalog.list_items(node):
        item = catalog.current(node, row["code"])
        needed = [m for m in item.materials if m.requirement != "optional"]
        deferrable = [m for m in needed if m.requirement == "deferrable"]
        if (not item.immediate and len(item.steps) >= 2
                and all(r.level == "village" and r.department == "村委会" for r in item.steps[0])
                and (len(needed) == 3 or (len(needed) == 4 and deferrable))):
            out.append(item)
    return out


def fourth_action(gen: Gen, deferred: str | None) -> tuple[str, dict[str, Any]]:
    if deferred and gen.rng.random() < 0.6:
        return "deliver", {"material": deferred}
    return "supplement", {"reason": gen.rng.choice(SUPPLEMENT_REASONS)}


def make_case_api(node: home.Node, clock: Clock, gen: Gen, item, at: datetime) -> str:
    app, deferred = gen.application(item)
    clerk = gen.rng.choice(CLERKS)[0]
    clock.now = at
    case_id = cases.accept(node, clerk, app)["case_id"]
    clock.now += timedelta(minutes=gen.rng.uniform(5, 120))
    cases.act(node, case_id, "submit", clerk)
    clock.now += timedelta(hours=gen.rng.uniform(2, 48))
    cases.act(node, case_id, "approve", clerk, department="村委会")
    action, kw = fourth_action(gen, deferred)
    clock.now += timedelta(hours=gen.rng.uniform(1, 72))
    cases.act(node, case_id, action, clerk, **kw)
    return case_id


def make_case_fast(node: home.Node, clock: Clock, gen: Gen, item, at: datetime) -> str:
    """The same document `accept` + three `act` calls make (one `Store.save` per action),
    without re-reading the document and the catalog for every action. The transitions are not
    checked one by one: `refresh` replays the history, and `generate` requires every case
    to end in review or waiting for a supplement with no conflict (an illegal event would
    show as a conflict)."""
    app, deferred = gen.application(item)
    clerk = gen.rng.choice(CLERKS)[0]
    clock.now = at
    today = at.date()
    applicant_id = validate_id_number(app.applicant_id, today=today)
    deadline = node.calendar.add_working_days(today, item.time_limit_days).isoformat()
    materials = cases._materials(item, app, deadline)
    dept = item.department
    action, kw = fourth_action(gen, deferred)
    steps = [("accept", dept, {}), ("submit", dept, {}),
             ("approve", "村委会", {"step": 0, "department": "村委会"}), (action, dept, kw)]
    events = []
    for i, (act, role, extra) in enumerate(steps):
        if i:
            clock.now += timedelta(minutes=gen.rng.uniform(5, 120)) if i == 1 else \
                timedelta(hours=gen.rng.uniform(2, 48) if i == 2 else gen.rng.uniform(1, 72))
        events.append(lifecycle.Event(act, clerk, role, node.node_id, node.now(), reason=extra.get("reason", ""),
                                      step=extra.get("step"), department=extra.get("department"),
                                      material=extra.get("material")))
    # `_create` checks each event and saves the case as one change; the seal would merge
    # one change per action into one anyway (contiguous changes of one peer travel as one).
    return cases._create(node, item, applicant_id, app, materials, events)["case_id"]


def shape(value: dict[str, Any]) -> tuple:
    return (tuple(sorted(value)), tuple(sorted(value["case"])),
            tuple(sorted({(e["action"], tuple(sorted(e))) for e in value["history"]})),
            tuple(sorted({(m["status"], tuple(sorted(m))) for m in value["materials"].values()})))


def generate(node: home.Node, clock: Clock, n: int, seed: int, api_n: int) -> dict[str, Any]:
    items = eligible_items(node)
    gen = Gen(seed)
    span = (TODAY - START).total_seconds() - 4 * 86400
    ids: list[str] = []
    t0 = time.perf_counter()
    with progress(n, "generate cases") as advance:
        for lo in range(0, n, 500):
            with node.store.transaction():  # nested calls in accept/act join it
                for i in range(lo, min(n, lo + 500)):
                    at = START + timedelta(seconds=span * i / n)
                    make = make_case_api if i < api_n else make_case_fast
                    ids.append(make(node, clock, gen, gen.rng.choice(items), at))
            advance(min(n, lo + 500) - lo)
    gen_s = time.perf_counter() - t0
    # Same document shape on both paths (a fast-path bug would make the benchmark lie).
    api_shapes = {shape(node.store.get(c).value()) for c in ids[:api_n]}
    fast_sample = random.Random(seed).sample(ids[api_n:], min(200, n - api_n)) if n > api_n else []
    fast_shapes = {shape(node.store.get(c).value()) for c in fast_sample}
    sample = random.Random(seed + 7).sample(ids, min(500, n))
    sizes = [len(json.dumps(node.store.get(c).value(), ensure_ascii=False).encode()) for c in sample]
    statuses = dict(node.store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())
    conflicts = node.store.conn.execute("SELECT count(*) FROM cases WHERE conflicts > 0").fetchone()[0]
    if conflicts or not set(statuses) <= {"in_review", "supplement"}:
        raise RuntimeError(f"generated cases are not as intended: {statuses}, {conflicts} with conflicts")
    return {"ids": ids, "gen_s": gen_s, "api_cases": min(api_n, n), "items": len(items),
            "shape_ok": fast_shapes <= api_shapes or not fast_shapes or not api_shapes,
            "shape_detail": sorted(map(str, fast_shapes - api_shapes))[:3],
            "case_json_bytes": round(sum(sizes) / len(sizes)), "statuses": statuses,
            "conflicts": conflicts,
            "changes": node.store.conn.execute("SELECT count(*) FROM changes WHERE kind='case'").fetchone()[0]}


def extra_actions(node: home.Node, clock: Clock, case_ids: list[str], rng: random.Random) -> int:
    """One more legal action on each case: supply after a supplement, else a supplement."""
    clock.now = TODAY
    with node.store.transaction():
        for cid in case_ids:
            status = cases.get_row(node, cid)["status"]
            clerk = rng.choice(CLERKS)[0]
            if status == "supplement":
                cases.act(node, cid, "supply", clerk)
            else:
                cases.act(node, cid, "supplement", clerk, reason=rng.choice(SUPPLEMENT_REASONS))
    return len(case_ids)


# -- the run ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=20000, help="cases made at the village (default 20000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--api-cases", type=int, default=-1,
                    help="cases made through cases.accept/act (default: 1%%, at least 50, at most 300)")
    ap.add_argument("--incremental", type=float, default=0.01, help="share of cases changed in (c)")
    ap.add_argument("--direct", action="store_true", help="no counting proxy (seal bytes only)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the bundle import (engine receive path) and the village's sealing")
    ap.add_argument("--keep", default="", help="keep the nodes in this folder (must not exist)")
    ap.add_argument("--import-bundle", nargs=2, metavar=("HOME", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.import_bundle:
        return import_bundle_main(*args.import_bundle, args.profile)
    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="yimen-bench-sync-"))
    servers: dict[str, Server] = {}
    threads: list[ProxyThread] = []

    def stop(signum, frame):  # SIGTERM: stop the servers and remove the folder as well
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        return run(root, args, servers, threads)
    finally:
        for proc in RUNNING:
            proc.kill()
            proc.wait()
        for s in servers.values():
            s.stop()
        for t in threads:
            t.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace, servers: dict[str, Server], threads: list[ProxyThread]) -> int:
    n = args.cases
    api_n = args.api_cases if args.api_cases >= 0 else min(300, max(50, n // 100))
    logdir = root / "logs"
    logdir.mkdir()
    homes = {name: root / name for name, _, _ in NODES}
    load_before = os.getloadavg()

    # -- setup (not timed) -------------------------------------------------------------------
    clock = Clock(START)
    nodes = {name: home.init(homes[name], rc, title, clock=clock if name == "village" else home.china_now)
             for name, rc, title in NODES}
    for child in ("district", "town", "village"):
        parent = nodes[PARENT[child]]
        enrollment.apply_answer(nodes[child], enrollment.admit(parent, enrollment.request(nodes[child])))
    cat_text = (resources.files("yimen.node") / "data/catalog_sample.json").read_text("utf-8")
    catalog.import_items(nodes["city"], parse_catalog_json(cat_text, "2026-01-01"))
    for cid, name in CLERKS:
        clerks.add(nodes["village"], cid, name, list(DEPARTMENTS))
    for node in nodes.values():
        node.close()

    for name in ("city", "district", "town"):
        servers[name] = Server(name, homes[name], logdir)
    proxy_thread = None if args.direct else ProxyThread()
    threads += [proxy_thread] if proxy_thread else []
    proxies = {name: proxy_thread.add(s.port) for name, s in servers.items()} if proxy_thread else {}
    for child, parent in PARENT.items():
        url = f"http://127.0.0.1:{proxies[parent].port}" if proxies else servers[parent].url
        cfg = config_mod.load(homes[child], environ={})
        config_mod.save(homes[child], replace(cfg, parent_url=url))

    def opened(name: str) -> home.Node:
        return home.open_node(homes[name], clock=clock if name == "village" else home.china_now)

    # The catalog and node records go down once (in-process rounds, not timed).
    for _ in range(2):
        for name in ("district", "town", "village"):
            with opened(name) as node:
                asyncio.run(sync_once(node))
    village = opened("village")
    items_at_village = village.store.count("catalog_item")
    log(f"catalog items at the village: {items_at_village}")

    # -- generation (not timed) ----------------------------------------------------------------
    g = generate(village, clock, n, args.seed, api_n)
    ids = g.pop("ids")
    village.close()
    log(f"generated {n} cases in {g['gen_s']:.1f} s ({n / g['gen_s']:.0f}/s); shape ok: {g['shape_ok']}")
    bundle_copy = root / "village-bundle"
    shutil.copytree(homes["village"], bundle_copy)
    prof_copy = None
    if args.profile:
        prof_copy = root / "village-profile"
        shutil.copytree(homes["village"], prof_copy)

    dbs = {name: homes[name] / home.DB_FILE for name in homes}
    count_cases = "SELECT count(*) FROM docs WHERE kind = 'case'"

    def holds(name: str, sql: str, want: int) -> Poller:
        return Poller(dbs[name], sql, want)

    def marks() -> dict[str, tuple[int, int]]:
        return {name: p.mark() for name, p in proxies.items()}

    # -- (a) one hop and (b) end to end ----------------------------------------------------------
    hops: list[dict[str, Any]] = []
    sync_rss: dict[str, int] = {}
    watch = Watch()
    watch.start()
    cpu_start = {name: s.cpu_s() for name, s in servers.items()}
    for child, parent in HOPS:
        before = marks()
        cpu0 = servers[parent].cpu_s()
        hop_t0 = time.perf_counter()
        # One round pushes everything; the parent acknowledges seals as soon as they are
        # verified and stored, and applies them to documents and projections in the
        # background (store and forward), so the next hop starts at once.
        watch.add(parent, holds(parent, count_cases, n))
        r = run_cli(["--home", str(homes[child]), "sync", "--once", "--json"], logdir, f"sync-{child}")
        sync_rss[child] = max(sync_rss.get(child, 0), r["rss_kb"])
        if r["out"].get("pushed", 0) < 1:
            raise RuntimeError(f"{child} pushed nothing: {r['out']}")
        p = proxies.get(parent)
        first = p.first if p else None
        hops.append({
            "hop": f"{child}→{parent}", "parent": parent, "t0": hop_t0, "acked_s": r["end"] - hop_t0,
            "start_to_first_request_s": (first - hop_t0) if first else None,
            "seal_bytes": r["out"].get("bytes_out", 0) + r["out"].get("bytes_in", 0),
            "pushed_seals": r["out"].get("pushed", 0),
            "wire_bytes": (p.up - before[parent][0] + p.down - before[parent][1]) if p else None,
            "wire_up": (p.up - before[parent][0]) if p else None,
            "rss_mb": mb(r["rss_kb"]), "child_cpu_s": r["cpu_s"],
            "parent_cpu_during_round_s": servers[parent].cpu_s() - cpu0,
        })
        log(f"{child} → {parent}: acknowledged in {hops[-1]['acked_s']:.2f} s, {hops[-1]['wire_bytes']} wire bytes")
    for h in hops:  # every hub finishes applying what it acknowledged
        h["held_s"] = watch.wait(h["parent"]) - h["t0"]
        log(f"{h['parent']} holds all {n} cases in its documents and projections {h['held_s']:.2f} s after its hop began")
    watch.stop()
    applied_cpu = {name: round(s.cpu_s() - cpu_start[name], 2) for name, s in servers.items()}
    for name, s in servers.items():
        s.hwm_kb[f"after receiving and applying {n}"] = s.vm_hwm_kb()
    end_to_end_s = sum(h["acked_s"] for h in hops)
    end_to_end_held_s = hops[-1]["t0"] + hops[-1]["held_s"] - hops[0]["t0"]
    one_hop_s = hops[0]["acked_s"]

    # Nothing more moves (in-process rounds, not timed).
    quiet = {}
    for name in ("village", "town", "district"):
        with opened(name) as node:
            st = asyncio.run(sync_once(node))
            quiet[name] = st.pushed + st.pulled
    wire_changes = ro_count(dbs["town"], "SELECT count(*) FROM changes WHERE author = '440608100201'")
    feed = ro_count(dbs["town"], "SELECT count(*) FROM feed WHERE author = '440608100201'")
    feed_bytes = ro_count(dbs["town"],
                          "SELECT sum(length(body) + length(signature)) FROM feed WHERE author = '440608100201'")

    # -- (c) incremental ------------------------------------------------------------------------------
    rng = random.Random(args.seed + 99)
    k = max(1, int(n * args.incremental))
    picked = rng.sample(ids, 2 * k)
    events_sql = "SELECT count(*) FROM case_events"
    incremental = {}
    profiles: dict[str, str] = {}
    for mode, subset in (("in_process", picked[:k]), ("cli", picked[k:])):
        with opened("village") as node:
            extra_actions(node, clock, subset, rng)
        want = ro_count(dbs["village"], events_sql)
        # In-process: the nodes are open and their engines made before the clock starts,
        # as in a running node's background loop.
        open_nodes = {c: opened(c) for c, _ in HOPS} if mode == "in_process" else {}
        for node in open_nodes.values():
            engine(node)
        prof = None  # (cProfile sees only this thread; the engine runs in in_db's worker threads)
        before = marks()
        cpu0 = {nm: s.cpu_s() for nm, s in servers.items()}
        per_hop, seal_bytes, child_cpu = [], 0, 0.0
        t0 = time.perf_counter()
        for child, parent in HOPS:
            h0 = time.perf_counter()
            if mode == "in_process":
                c0 = time.process_time()
                if prof:
                    prof.enable()
                st = asyncio.run(sync_once(open_nodes[child]))
                if prof:
                    prof.disable()
                child_cpu += time.process_time() - c0
                seal_bytes += st.bytes_out + st.bytes_in
            else:
                r = run_cli(["--home", str(homes[child]), "sync", "--once", "--json"], logdir,
                            f"incr-{child}")
                sync_rss[child] = max(sync_rss[child], r["rss_kb"])
                child_cpu += r["cpu_s"]
                seal_bytes += r["out"].get("bytes_out", 0) + r["out"].get("bytes_in", 0)
            per_hop.append(round(time.perf_counter() - h0, 3))
        acked = time.perf_counter() - t0
        # ... and until the city has applied them (its projections show every event)
        city_poll = Poller(dbs["city"], events_sql, want)
        while not city_poll() and time.perf_counter() - t0 < 600:
            time.sleep(0.005)
        city_poll.close()
        total = time.perf_counter() - t0
        for node in open_nodes.values():
            node.close()
        arrived = ro_count(dbs["city"], events_sql)
        incremental[mode] = {
            "changed": len(subset), "s": total, "acked_s": round(acked, 3), "per_hop_s": per_hop,
            "seal_bytes": seal_bytes,
            "wire_bytes": sum(p.up - before[nm][0] + p.down - before[nm][1] for nm, p in proxies.items())
            if proxies else None,
            "child_cpu_s": round(child_cpu, 3),
            "server_cpu_s": round(sum(s.cpu_s() - cpu0[nm] for nm, s in servers.items()), 3),
            "arrived": arrived == want, "city_events": arrived, "village_events": want,
        }
        log(f"incremental ({mode}): {total:.3f} s, arrived: {arrived == want}")

    # -- (d) bundle -------------------------------------------------------------------------------------
    bundle: dict[str, Any] = {}
    path = root / "village-to-town.yimen"
    r = run_cli(["--home", str(bundle_copy), "bundle", "export", "--to", TOWN, str(path), "--json"],
                logdir, "bundle-export")
    bundle = {"bytes": path.stat().st_size, "export_s": r["wall_s"], "export_cpu_s": r["cpu_s"],
              "rss_mb": mb(r["rss_kb"]),
              "seals": r["out"].get("seals"), "complete": r["out"].get("complete")}
    sync_rss["bundle export"] = r["rss_kb"]
    fresh = home.init(root / "town-fresh", TOWN, "荷城街道（新节点）")
    catalog.import_items(fresh, parse_catalog_json(cat_text, "2026-01-01"))
    with home.open_node(bundle_copy) as vnode:
        enrollment.admit(fresh, enrollment.request(vnode))
    fresh.close()
    # The import runs in its own process (this script's --import-bundle mode) so its
    # peak RSS is a node's, not this generator's.
    r = run_cli(["--import-bundle", str(root / "town-fresh"), str(path)] + (["--profile"] if args.profile else []),
                logdir, "bundle-import", cmd=[sys.executable, str(Path(__file__).resolve())])
    got = r["out"]
    bundle.update({"import_s": got["import_s"], "import_cpu_s": r["cpu_s"], "import_rss_mb": mb(r["rss_kb"]),
                   "imported_cases": got["cases"], "import_ok": got["quarantined"] == 0 and got["cases"] == n})
    if got.get("rebased"):
        bundle["note"] = "first batch rebased to the fresh node's position (OutOfOrder otherwise)"
    sync_rss["bundle import"] = r["rss_kb"]
    if got.get("profile"):
        profiles["receive path: bundle import into a fresh town node (engine.receive + projections)"] = got["profile"]
    if prof_copy is not None:
        with home.open_node(prof_copy) as vnode:
            eng = engine(vnode)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            made = eng.seal_pending()
            since, nb = 0, 0
            while True:
                b = eng.next_batch(TOWN, since)
                nb += 1
                since = b.next
                if not b.more:
                    break
            prof.disable()
            profiles[f"send side (seal_pending: {made} seals, next_batch x{nb}; "
                     f"{time.perf_counter() - t0:.2f} s under cProfile)"] = profile_text(prof)

    # -- peak RSS -------------------------------------------------------------------------------------
    for s in servers.values():
        s.hwm_kb["end"] = s.vm_hwm_kb()
    rss = {f"serve {nm}": mb(s.hwm_kb["end"]) for nm, s in servers.items()}
    rss.update({f"sync {nm}" if nm in homes else nm: mb(v) for nm, v in sync_rss.items()})
    bench_rss = mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    wire_total = sum(h["wire_bytes"] or 0 for h in hops)
    seal_total = sum(h["seal_bytes"] for h in hops)
    result = {
        "cases": n,
        "hops": len(HOPS),
        "end_to_end_cases_per_s": round(n / end_to_end_s, 1),
        "one_hop_cases_per_s": round(n / one_hop_s, 1),
        "measured_as": "acknowledged: the receiver verified, stored and acknowledged every case "
                       "(and may forward it); *_applied_* also waits until its documents and "
                       "projections hold them",
        "end_to_end_applied_cases_per_s": round(n / end_to_end_held_s, 1),
        "one_hop_applied_cases_per_s": round(n / hops[0]["held_s"], 1),
        "wire_bytes_per_case_per_hop": round(wire_total / n / len(HOPS), 1) if proxies else None,
        "wire_bytes_measured_as": "TCP payload through a counting proxy, both directions, HTTP headers "
                                  "included (compressed bodies)" if proxies else "not measured (--direct)",
        "seal_bytes_per_case_per_hop": round(seal_total / n / len(HOPS), 1),
        "incremental_s": round(incremental["in_process"]["s"], 3),
        "incremental_acked_s": incremental["in_process"]["acked_s"],
        "incremental_wire_bytes": incremental["in_process"]["wire_bytes"],
        "incremental_cli_s": round(incremental["cli"]["s"], 3),
        "incremental_cli_wire_bytes": incremental["cli"]["wire_bytes"],
        "incremental_changed_cases": k,
        "incremental_arrived": incremental["in_process"]["arrived"] and incremental["cli"]["arrived"],
        "incremental_per_hop_s": {m: v["per_hop_s"] for m, v in incremental.items()},
        "incremental_seal_bytes": incremental["in_process"]["seal_bytes"],
        "incremental_cpu_s": {m: {"clients": v["child_cpu_s"], "servers": v["server_cpu_s"]}
                              for m, v in incremental.items()},
        "server_cpu_s_receive_and_apply": applied_cpu,
        "apply_cases_per_server_cpu_s": round(n / max(applied_cpu["town"], 1e-9), 1),
        "end_to_end_cpu_s": round(sum(applied_cpu.values()) + sum(h["child_cpu_s"] for h in hops), 2),
        "bundle_bytes_per_case": round(bundle["bytes"] / n, 1),
        "bundle": {k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in bundle.items()},
        "max_peak_rss_mb": max(rss.values()),
        "peak_rss_mb": rss,
        "server_hwm_mb_by_phase": {nm: {ph: mb(v) for ph, v in s.hwm_kb.items()} for nm, s in servers.items()},
        "bench_process_rss_mb": bench_rss,
        "end_to_end_s": round(end_to_end_s, 3),
        "end_to_end_applied_s": round(end_to_end_held_s, 3),
        "one_hop_s": round(one_hop_s, 3),
        "hop_detail": [{k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in h.items()} for h in hops],
        "quiet_after": quiet,
        "village_seals": feed,
        "changes_per_case_on_wire": round(wire_changes / n, 2),
        "village_seal_bytes_per_case": round(feed_bytes / n, 1),
        "generation": {"s": round(g["gen_s"], 2), "cases_per_s": round(n / g["gen_s"], 1),
                       "api_cases": g["api_cases"], "eligible_items": g["items"],
                       "shape_ok": g["shape_ok"], "case_json_bytes": g["case_json_bytes"],
                       "changes": g["changes"], "statuses": g["statuses"], "conflicts": g["conflicts"],
                       "catalog_items_at_village": items_at_village},
        "profiled": args.profile,
        "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print_table(result, hops, incremental, bundle)
    for title, text in profiles.items():
        print(f"\n== profile: {title} ==\n{text}")
    print("FINAL " + json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0


def import_bundle_main(node_home: str, path: str, profile: bool) -> int:
    """--import-bundle mode: import a bundle into the node at `node_home`, print JSON."""
    from yimen.node.services import bundles
    node = home.open_node(Path(node_home))
    rebased = False
    try:
        got = bundles.import_bundle(node, path)  # refused at once if the bundle starts late
    except OutOfOrder:
        # The village's feed starts with the seals of catalog and node records it got from
        # the real town during the warm-up (a town never gets those back), and the bundle
        # starts after them; a node that never exchanged with the village refuses a first
        # batch that does not start at 0. Import the same verified batches with the first
        # one starting where this node is, as import_bundle does otherwise.
        got, rebased = None, True
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if got is None:
        if prof:
            prof.enable()
        got = import_rebased(node, Path(path))
        if prof:
            prof.disable()
    out = {"import_s": time.perf_counter() - t0, "rebased": rebased, "quarantined": got["quarantined"],
           "cases": node.store.count("case")}
    if prof:
        out["profile"] = profile_text(prof)
    node.close()
    print(json.dumps(out, ensure_ascii=False))
    return 0


def import_rebased(node: home.Node, path: Path) -> dict[str, int]:
    """`bundles.import_bundle` with the first batch moved back to this node's position."""
    from yimen.node.replication import catch_up_all, engine
    from yimen.sync.transports import bundle as framing

    def sender_key(header: dict[str, Any]) -> bytes | None:
        row = node.store.conn.execute("SELECT public_key FROM node_keys WHERE node_id = ?",
                                      (header["from"],)).fetchone()
        return row[0] if row else None

    header, batches = framing.read_bundle(path, sender_key)
    eng, sender = engine(node), header["from"]
    with node.store.transaction():
        held = eng.positions(sender)[0]
        for i, b in enumerate(batches):
            if i == 0 and b.start > held:
                b = Batch(b.sender, held, b.next, b.seals, b.more)
            eng.receive(sender, b, defer=True)
    catch_up_all(node)
    return {"quarantined": node.store.conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]}


def profile_text(prof: cProfile.Profile, top: int = 28) -> str:
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return "\n".join(ln.replace(str(Path(__file__).resolve().parents[1]) + "/", "") for ln in lines)


def print_table(r: dict, hops: list[dict], incremental: dict, bundle: dict) -> None:
    def mark(good: bool) -> str:
        return "ok" if good else "MISSED"

    t = TARGETS
    wire = r["wire_bytes_per_case_per_hop"]
    rows = [
        ("cases (4 actions each)", f"{r['cases']}  (generated in {r['generation']['s']} s, "
                                   f"{r['generation']['case_json_bytes']} B JSON/case)", ""),
    ]
    for h in hops:
        first = h["start_to_first_request_s"]
        rows.append((f"hop {h['hop']}", f"acknowledged {h['acked_s']:.2f} s (process start→first request "
                                        f"{first if first is None else round(first, 2)} s), applied {h['held_s']:.2f} s", ""))
        rows.append(("  bytes", f"wire {h['wire_bytes']} ({(h['wire_bytes'] or 0) / r['cases']:.0f}/case), "
                                f"seals {h['seal_bytes']} ({h['seal_bytes'] / r['cases']:.0f}/case)", ""))
        rows.append(("  CPU", f"child sync {h['child_cpu_s']:.2f} s, parent server during the round "
                              f"{h['parent_cpu_during_round_s']:.2f} s", ""))
    rows.append(("server CPU, receive + apply", ", ".join(f"{k} {v} s" for k, v in r["server_cpu_s_receive_and_apply"].items())
                 + f" ({r['apply_cases_per_server_cpu_s']} cases per town CPU-s)", ""))
    rows += [
        ("one hop (village→town), acknowledged", f"{r['one_hop_cases_per_s']} cases/s ({r['one_hop_s']} s)",
         f">= {t['one_hop_cases_per_s']}  {mark(r['one_hop_cases_per_s'] >= t['one_hop_cases_per_s'])}"),
        ("  applied at the town", f"{r['one_hop_applied_cases_per_s']} cases/s", ""),
        ("end to end (3 hops), acknowledged", f"{r['end_to_end_cases_per_s']} cases/s ({r['end_to_end_s']} s)",
         f">= {t['end_to_end_cases_per_s']}  {mark(r['end_to_end_cases_per_s'] >= t['end_to_end_cases_per_s'])}"),
        ("  applied at the city", f"{r['end_to_end_applied_cases_per_s']} cases/s ({r['end_to_end_applied_s']} s)", ""),
        ("wire bytes / case / hop", f"{wire}" if wire is not None else "not measured",
         f"<= {t['wire_bytes_per_case_per_hop']}  {mark(wire <= t['wire_bytes_per_case_per_hop'])}"
         if wire is not None else "(--direct: no proxy)"),
        ("seal bytes / case / hop", f"{r['seal_bytes_per_case_per_hop']} (seal bodies + signatures, as sync stats report)", ""),
        ("incremental, in-process", f"{r['incremental_s']} s for {r['incremental_changed_cases']} cases "
                                    f"(applied at the city; acknowledged {r['incremental_acked_s']} s), "
                                    f"{r['incremental_wire_bytes']} wire B, hops {incremental['in_process']['per_hop_s']}",
         f"< {t['incremental_s']} s  {mark(r['incremental_s'] < t['incremental_s'])}"),
        ("  CPU", f"clients {incremental['in_process']['child_cpu_s']} s, "
                  f"servers {incremental['in_process']['server_cpu_s']} s", ""),
        ("incremental, sync --once", f"{r['incremental_cli_s']} s, {r['incremental_cli_wire_bytes']} wire B, "
                                     f"hops {incremental['cli']['per_hop_s']}", "(with process starts)"),
        ("  CPU", f"clients {incremental['cli']['child_cpu_s']} s, servers {incremental['cli']['server_cpu_s']} s", ""),
    ]
    rows += [("bundle (village→town)", f"{r['bundle_bytes_per_case']} B/case ({bundle['bytes']} B, "
                                           f"{bundle['seals']} seals), export {bundle['export_s']:.2f} s, "
                                           f"import {bundle['import_s']:.2f} s "
                                           f"({bundle['import_cpu_s']:.2f} CPU-s with process start, "
                                           f"{'under cProfile, ' if r.get('profiled') else ''}"
                                           f"in-process receive), ok {bundle['import_ok']}", "")]
    for name, v in r["peak_rss_mb"].items():
        rows.append((f"peak RSS {name}", f"{v} MB", f"< {t['max_peak_rss_mb']}  {mark(v < t['max_peak_rss_mb'])}"))
    rows.append(("bench process (not a node)", f"{r['bench_process_rss_mb']} MB", ""))
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    print(f"Yimen sync benchmark — {r['cases']} cases, {r['hops']} hops, Python {r['python']}, "
          f"{r['cpus']} CPUs, load {r['loadavg_1m'][0]} → {r['loadavg_1m'][1]}")
    print(f"{'measure'.ljust(w0)}  {'value'.ljust(w1)}  target")
    print("-" * (w0 + w1 + 24))
    for a, b, c in rows:
        print(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}")
    print(f"wire bytes = {r['wire_bytes_measured_as']}; seal bytes = seal bodies + signatures "
          f"as `sync --json` reports them (bytes_out + bytes_in), i.e. as stored in the feed")
    print(f"village seals: {r['village_seals']} ({r['village_seal_bytes_per_case']} B/case, "
          f"{r['changes_per_case_on_wire']} changes/case as sealed); "
          f"statuses: {r['generation']['statuses']}; shape check {r['generation']['shape_ok']}; "
          f"nothing moves after: {r['quiet_after']}")


if __name__ == "__main__":
    sys.exit(main())
