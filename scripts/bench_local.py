#!/usr/bin/env python
"""Local benchmark of a village node: accept many cases, then time the lists and reports.

Not a test: it prints a table and a FINAL line (one JSON object) and never fails on a
missed target (it marks it). Usage:

    python scripts/bench_local.py [--cases N] [--home DIR] [--seed S] [--no-seal]
                                  [--profile FILE]

Without --home the node lives in a fresh temporary directory that is deleted at the end.
Targets (per the node's requirements): >= 1000 accepts/s, accept p99 < 10 ms, every
filtered list < 50 ms, < 2 KB of database per case.

accepts/s is N over the wall time of the accept loop (applications are generated in chunks
outside it); the CPU rate and the load average are printed too, since other work on the
machine inflates wall times. Lists are timed 5 times each (median); list_ms is the worst
median. The size is yimen.db + WAL after a truncating checkpoint; with the sync engine
present the size is measured again after sealing every change (the steady state).

The clock starts ~60 calendar days before 2026-11-20 and moves forward over the working
days as cases are accepted, so at "today" (2026-11-20 10:00 China time) the open cases
carry red, yellow and green cards. About 30% of the promised cases (承诺件) are then pushed
on: submitted, decided at village level where the item's current step allows it, some
sent back for supplement or returned, some delivered and completed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from yimen.node.services import cases, catalog, clerks, reports
from yimen.node import home
from yimen.node.cli.progress import progress
from yimen.schema.case import IllegalTransition
from yimen.schema.catalog import DEPARTMENTS, parse_catalog_json
from yimen.schema.idnumber import check_digit

VILLAGE = "440608100201"
TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=home.CHINA_TZ)
START = TODAY - timedelta(days=60)
OPEN_MINUTES = (8 * 60 + 30, 17 * 60 + 30)  # the service window: 08:30-17:30
# key -> (comparison, bound, how it is shown)
TARGETS = {
    "accepts_per_s": (">=", 1000, ">= 1000"),
    "accept_p99_ms": ("<", 10, "< 10 ms"),
    "list_ms": ("<", 50, "< 50 ms"),
    "db_bytes_per_case": ("<", 2048, "< 2 KB"),
}


def meets(key: str, value: float) -> bool:
    op, bound, _ = TARGETS[key]
    return value >= bound if op == ">=" else value < bound

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
            "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉志鹏海燕春梅林"
         "丹宇浩婷雪琳晨欣怡俊杰思源佳慧子轩梓涵雨桐嘉宁德福贵荣金凤秋菊冬生")
SUPPLEMENT_REASONS = ("户口簿复印件不清晰，请重新提供", "收入证明缺少单位盖章", "申请表未签字",
                      "相片不符合要求", "证明材料已过期")
RETURN_REASONS = ("申请人不符合本事项申请条件", "不属于本村户籍", "重复申请", "申请人主动放弃")
NAME_RNG_SEED = 42
CHUNK = 1000  # applications generated ahead of each timed stretch


Clock = home.SettableClock


def load_catalog_text(wait_s: float) -> tuple[str, str]:
    """The shipped sample catalog (waiting up to `wait_s` for it to appear and parse), or
    the tests' mini catalog."""
    res = resources.files("yimen.node") / "data/catalog_sample.json"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            text = res.read_text("utf-8")
            if parse_catalog_json(text, "2026-01-01"):
                return text, "node/data/catalog_sample.json"
        except Exception as e:  # noqa: BLE001 - still being written, or absent
            err = e
        else:
            err = None
        if time.monotonic() >= deadline:
            break
        print(f"catalog_sample.json not usable yet ({err}); waiting", file=sys.stderr)
        time.sleep(5)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support import MINI_CATALOG  # type: ignore[import-not-found]
    return MINI_CATALOG, "tests/support MINI_CATALOG"


def working_days(node: home.Node) -> list[date]:
    """The working days from START to TODAY (both included)."""
    days, d = [], START.date()
    while d <= TODAY.date():
        if node.calendar.is_working_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


def slot(days: list[date], i: int, n: int) -> datetime:
    """The acceptance time of case `i` of `n`: evenly over the days' opening hours, the last
    one just before TODAY's 10:00."""
    per_day = OPEN_MINUTES[1] - OPEN_MINUTES[0]
    total = per_day * (len(days) - 1) + (TODAY.hour * 60 - OPEN_MINUTES[0])
    minute = total * i / max(1, n)
    day, within = divmod(minute, per_day)
    d = days[int(day)]
    return datetime(d.year, d.month, d.day, tzinfo=home.CHINA_TZ) + timedelta(minutes=OPEN_MINUTES[0] + within)


class Gen:
    """Applicants and applications from fixed-seed generators."""

    def __init__(self, seed: int):
        self.names = random.Random(NAME_RNG_SEED)
        self.rng = random.Random(seed)

    def name(self) -> str:
        r = self.names
        surname = r.choice(COMPOUND_SURNAMES) if r.random() < 0.01 else r.choice(SURNAMES)
        return surname + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2, 2))))

    def id_number(self) -> str:
        r = self.rng
        birth = date(1935, 1, 1) + timedelta(days=r.randrange(365 * 73))  # 1935..2007
        body = f"440608{birth:%Y%m%d}{r.randrange(1000):03d}"
        return body + check_digit(body)

    def sha(self) -> str:
        return hashlib.sha256(self.rng.randbytes(32)).hexdigest()

    def application(self, item) -> cases.Application:
        r = self.rng
        deferrable = [m.name for m in item.materials if m.requirement == "deferrable"]
        deferred: dict[str, str | None] = {}
        if deferrable and not item.immediate and r.random() < 0.25:
            deferred[r.choice(deferrable)] = None
        provided = {m.name: self.sha() for m in item.materials
                    if m.name not in deferred and (m.requirement != "optional" or r.random() < 0.3)}
        phone = f"1{r.choice('3589')}{r.randrange(10**9):09d}" if r.random() < 0.7 else ""
        return cases.Application(item.code, self.id_number(), self.name(), provided, deferred, phone)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed(fn, repeat: int = 5) -> tuple[float, int]:
    """Median wall ms of `repeat` calls, and the size of the last result."""
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
        size = len(out["rows"]) if isinstance(out, dict) else len(out)
    return statistics.median(times), size


def push_cases(node: home.Node, clock: Clock, accepted: list[tuple[str, str, datetime]],
               items: dict, clerk_ids: list[str], rng: random.Random) -> dict[str, int]:
    """Move ~30% of promised cases on, with varied outcomes. Returns action counts."""
    counts: dict[str, int] = {}

    def do(case_id: str, action: str, clerk: str, **kw) -> bool:
        try:
            cases.act(node, case_id, action, clerk, **kw)
        except IllegalTransition:
            counts["illegal"] = counts.get("illegal", 0) + 1
            return False
        counts[action] = counts.get(action, 0) + 1
        return True

    promised = [a for a in accepted if not items[a[1]].immediate]
    chosen = rng.sample(promised, int(len(promised) * 0.3))
    chosen.sort(key=lambda a: a[0])
    with progress(len(chosen), "push") as advance:
        for case_id, code, at in chosen:
            item = items[code]
            clerk = rng.choice(clerk_ids)
            # The follow-up happens 0-6 days after acceptance, never after TODAY.
            clock.now = min(TODAY - timedelta(minutes=5), at + timedelta(hours=rng.uniform(1, 144)))
            roll = rng.random()
            if roll < 0.08:
                do(case_id, "supplement", clerk, reason=rng.choice(SUPPLEMENT_REASONS))
            elif roll < 0.13:
                do(case_id, "returned", clerk, reason=rng.choice(RETURN_REASONS))
            elif do(case_id, "submit", clerk):
                step = 0
                while step < len(item.steps) and all(r.level == "village" for r in item.steps[step]):
                    if rng.random() < 0.03:
                        do(case_id, "reject", clerk, reason="经村民代表评议不符合条件",
                           department=item.steps[step][0].department)
                        break
                    for r in item.steps[step]:
                        do(case_id, "approve", clerk, department=r.department)
                    step += 1
                else:
                    if step == len(item.steps) and rng.random() < 0.7:  # approved at village
                        row = cases.get_row(node, case_id)
                        if row["deferred_open"]:
                            value = node.store.get(case_id).value()
                            for name, m in value["materials"].items():
                                if m.get("status") == "deferred":
                                    do(case_id, "deliver", clerk, material=name)
                        if do(case_id, "issue_result", clerk):
                            do(case_id, "complete", clerk)
            advance(1)
    return counts


def file_size(p: Path) -> int:
    return p.stat().st_size if p.exists() else 0


def db_size(node: home.Node) -> tuple[int, dict[str, int]]:
    """Bytes of yimen.db + its WAL after a truncating checkpoint, and bytes per table/index."""
    node.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = node.home / home.DB_FILE
    size = file_size(db) + file_size(Path(str(db) + "-wal"))
    try:
        tables = dict(node.store.conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
    except Exception:  # noqa: BLE001 - dbstat not compiled in
        tables = {}
    return size, tables


def seal_all(node: home.Node) -> dict:
    """Seal every own change with the sync engine, if this build has one, and measure the
    database again: the steady state once changes have left `changes` for the feed."""
    try:
        from cryptography.hazmat.primitives import serialization
        from yimen.sync.engine import Engine
        key = serialization.load_pem_private_key((node.home / home.KEY_FILE).read_bytes(), None)
        engine = Engine(node.store, node.node_id, key)
        t0 = time.perf_counter()
        seals = engine.seal_pending()
        seal_s = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - the engine is optional here
        return {"error": f"{type(e).__name__}: {e}"}
    size, tables = db_size(node)
    return {"seals": seals, "seal_s": round(seal_s, 2), "db_bytes": size, "tables": tables}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=20000, help="cases to accept (default 20000)")
    ap.add_argument("--home", default="", help="node folder (must not hold a node); kept afterwards")
    ap.add_argument("--seed", type=int, default=1, help="seed of the application generator")
    ap.add_argument("--catalog-wait", type=float, default=120,
                    help="seconds to wait for node/data/catalog_sample.json to be usable")
    ap.add_argument("--no-seal", dest="seal", action="store_false",
                    help="skip sealing the changes (sync engine) and measuring the size again")
    ap.add_argument("--profile", default="", help="write a cProfile of the accept phase to this file")
    args = ap.parse_args(argv)
    n = args.cases

    tmp = None
    if args.home:
        node_home = Path(args.home)
    else:
        tmp = tempfile.mkdtemp(prefix="yimen-bench-")
        node_home = Path(tmp) / "village"
    try:
        return run(node_home, n, args)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def run(node_home: Path, n: int, args: argparse.Namespace) -> int:
    clock = Clock(START.replace(hour=8, minute=0))
    node = home.init(node_home, VILLAGE, "基准村", clock=clock)
    cat_text, cat_source = load_catalog_text(args.catalog_wait)
    catalog.import_items(node, parse_catalog_json(cat_text, "2026-01-01"))
    clerk_ids = ["c01", "c02", "c03"]
    for cid, name in zip(clerk_ids, ("李敏", "王芳", "陈美玲")):
        clerks.add(node, cid, name, list(DEPARTMENTS))
    items = {r["code"]: catalog.current(node, r["code"]) for r in catalog.list_items(node)}
    codes = sorted(items)
    # Weighted like a village window: immediate prints are common, each item still appears.
    weights = [3 if items[c].immediate else 1 for c in codes]

    gen = Gen(args.seed)
    days = working_days(node)
    accepted: list[tuple[str, str, datetime]] = []
    lat: list[float] = []
    prof = None
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
    chosen_codes = gen.rng.choices(codes, weights, k=n)
    load_before = os.getloadavg()[0]
    # The phase time counts the accept calls and the loop around them; the applications are
    # generated in chunks outside it (the generator is not what is measured).
    phase_s = phase_cpu_s = 0.0
    with progress(n, "accept") as advance:
        for lo in range(0, n, CHUNK):
            chunk = [(slot(days, i, n), gen.application(items[chosen_codes[i]]), clerk_ids[i % 3])
                     for i in range(lo, min(n, lo + CHUNK))]
            if prof:
                prof.enable()
            t_phase, c_phase = time.perf_counter(), time.process_time()
            for at, app, clerk in chunk:
                clock.now = at
                t0 = time.perf_counter()
                row = cases.accept(node, clerk, app)
                lat.append(time.perf_counter() - t0)
                accepted.append((row["case_id"], app.item_code, at))
                advance(1)
            phase_s += time.perf_counter() - t_phase
            phase_cpu_s += time.process_time() - c_phase
            if prof:
                prof.disable()
    load_after = os.getloadavg()[0]
    rss_accept_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if prof:
        prof.dump_stats(args.profile)

    t_push = time.perf_counter()
    counts = push_cases(node, clock, accepted, items, clerk_ids, random.Random(args.seed + 1))
    # Refusals at the window (不予受理), spread over the last two weeks.
    for k in range(max(3, n // 500)):
        clock.now = TODAY - timedelta(hours=gen.rng.uniform(1, 24 * 14))
        code = gen.rng.choice(codes)
        cases.not_accept(node, clerk_ids[k % 3], code, gen.id_number(), gen.name(), "不属于本村户籍")
        counts["not_accepted"] = counts.get("not_accepted", 0) + 1
    push_s = time.perf_counter() - t_push

    # -- queries at "today" ----------------------------------------------------------------
    clock.now = TODAY
    # No ANALYZE: the node never runs it, so the planner sees what a real node's planner sees.
    busiest_item = node.store.conn.execute(
        "SELECT item_code FROM cases GROUP BY item_code ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    filters = {
        "status=in_review": dict(status="in_review"),
        "card=red": dict(card="red"),
        "card=yellow": dict(card="yellow"),
        f"item={busiest_item}": dict(item=busiest_item),
        "clerk=c02": dict(clerk="c02"),
        "date 2026-10-12..18": dict(date_from="2026-10-12", date_to="2026-10-18"),
        "status=approved (rare)": dict(status="approved"),
        "status=supplement,card=red": dict(status="supplement", card="red"),
        "(none)": {},
    }
    list_results = {label: timed(lambda kw=kw: cases.list_cases(node, **kw)) for label, kw in filters.items()}
    overdue_ms, overdue_n = timed(lambda: reports.overdue(node))
    refusals_ms, refusals_n = timed(lambda: reports.refusals(node))
    first = accepted[len(accepted) // 2][0]
    show_ms, _ = timed(lambda: cases.show(node, first)["history"])
    cards = dict(node.store.conn.execute(
        f"SELECT card, count(*) FROM (SELECT {cases.card_sql(node)[0]} AS card FROM cases) GROUP BY card",
        cases.card_sql(node)[1]).fetchall())
    statuses = dict(node.store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())

    # -- size ----------------------------------------------------------------------------
    db_bytes, table_bytes = db_size(node)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sealed = seal_all(node) if args.seal else {}
    node.close()

    lat_ms = [x * 1000 for x in lat]
    list_ms = max(m for m, _ in list_results.values())
    result = {
        "cases": n,
        "accepts_per_s": round(n / phase_s, 1),
        "accept_p50_ms": round(pct(lat_ms, 50), 3),
        "accept_p99_ms": round(pct(lat_ms, 99), 3),
        "accept_max_ms": round(max(lat_ms), 3),
        "accept_phase_s": round(phase_s, 2),
        "accept_phase_cpu_s": round(phase_cpu_s, 2),
        "accept_calls_s": round(sum(lat), 2),
        "accepts_per_cpu_s": round(n / phase_cpu_s, 1),
        "loadavg_1m": [round(load_before, 2), round(load_after, 2)],
        "list_ms": round(list_ms, 3),
        "list_ms_by_filter": {k: round(m, 3) for k, (m, _) in list_results.items()},
        "overdue_ms": round(overdue_ms, 3),
        "overdue_rows": overdue_n,
        "refusals_ms": round(refusals_ms, 3),
        "refusals_rows": refusals_n,
        "show_ms": round(show_ms, 3),
        "push_s": round(push_s, 2),
        "actions": counts,
        "cards": {k or "closed": v for k, v in cards.items()},
        "statuses": statuses,
        "db_bytes": db_bytes,
        "db_bytes_per_case": round(db_bytes / n, 1),
        "table_bytes_per_case": {k: round(v / n, 1) for k, v in table_bytes.items() if v / n >= 1},
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_rss_after_accept_mb": round(rss_accept_mb, 1),
        "sealed": ({"error": sealed["error"]} if "error" in sealed else {
            "seals": sealed["seals"], "seal_s": sealed["seal_s"],
            "db_bytes_per_case": round(sealed["db_bytes"] / n, 1),
            "table_bytes_per_case": {k: round(v / n, 1) for k, v in sealed["tables"].items() if v / n >= 1},
        }) if sealed else None,
        "catalog": f"{cat_source} ({len(items)} items)",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    result["targets_missed"] = [k for k in TARGETS if not meets(k, result[k])]
    print_table(result, list_results)
    print("FINAL " + json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0


def print_table(r: dict, list_results: dict) -> None:
    def target(key: str, value: float | None = None) -> str:
        value = r[key] if value is None else value
        return f"{TARGETS[key][2]:8s} {'ok' if meets(key, value) else 'MISSED'}"

    rows = [
        ("cases accepted", f"{r['cases']}", ""),
        ("accept phase", f"{r['accept_phase_s']} s wall, {r['accept_phase_cpu_s']} s CPU, "
                         f"{r['accept_calls_s']} s in accept()", ""),
        ("load average (1 min)", f"{r['loadavg_1m'][0]} before, {r['loadavg_1m'][1]} after", ""),
        ("accepts/s", f"{r['accepts_per_s']}", target("accepts_per_s")),
        ("accepts per CPU-second", f"{r['accepts_per_cpu_s']}", ""),
        ("accept p50", f"{r['accept_p50_ms']} ms", ""),
        ("accept p99", f"{r['accept_p99_ms']} ms", target("accept_p99_ms")),
        ("accept max", f"{r['accept_max_ms']} ms", ""),
    ]
    for label, (ms, size) in list_results.items():
        rows.append((f"list {label}", f"{ms:.3f} ms ({size} rows)", target("list_ms", ms)))
    rows += [
        ("list_ms (worst median)", f"{r['list_ms']} ms", target("list_ms")),
        ("report overdue", f"{r['overdue_ms']} ms ({r['overdue_rows']} rows)", ""),
        ("report refusals (week)", f"{r['refusals_ms']} ms ({r['refusals_rows']} rows)", ""),
        ("case show", f"{r['show_ms']} ms", ""),
        ("push phase", f"{r['push_s']} s", ""),
        ("db bytes / case", f"{r['db_bytes_per_case']}", target("db_bytes_per_case")),
        ("peak RSS", f"{r['peak_rss_mb']} MB ({r['peak_rss_after_accept_mb']} MB after the accept phase)", ""),
    ]
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    print(f"Yimen local benchmark — {r['catalog']}, Python {r['python']}, {r['cpus']} CPUs")
    print(f"{'measure'.ljust(w0)}  {'value'.ljust(w1)}  target")
    print("-" * (w0 + w1 + 20))
    for a, b, c in rows:
        print(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}")
    print(f"cards at {TODAY:%Y-%m-%d}: {r['cards']}")
    print(f"statuses: {r['statuses']}")
    print(f"actions: {r['actions']}")
    if r["table_bytes_per_case"]:
        print("bytes per case by table/index: " + ", ".join(
            f"{k} {v}" for k, v in r["table_bytes_per_case"].items()))
    sealed = r.get("sealed")
    if sealed and "error" in sealed:
        print(f"after sealing: not measured ({sealed['error']})")
    elif sealed:
        print(f"after sealing every change ({sealed['seals']} seals, {sealed['seal_s']} s): "
              f"{sealed['db_bytes_per_case']} bytes/case; by table/index: " + ", ".join(
                  f"{k} {v}" for k, v in sealed["table_bytes_per_case"].items()))


if __name__ == "__main__":
    sys.exit(main())
