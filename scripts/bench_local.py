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
outside it, by benchlib.workload's generator); the CPU rate and the load average are
printed too, since other work on the machine inflates wall times. Lists are timed 5 times
each (median); list_ms is the worst median. The size is yimen.db + WAL after a truncating
checkpoint; with the sync engine present the size is measured again after sealing every
change (the steady state).

The clock starts ~60 calendar days before 2026-11-20 and moves forward over the working
days as cases are accepted, so at "today" (2026-11-20 10:00 China time) the open cases
carry red, yellow and green cards. About 30% of the promised cases (承诺件) are then pushed
on: submitted, decided at village level where the item's current step allows it, some
sent back for supplement or returned, some delivered and completed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import procs, report, workload
from benchlib.workload import START, SUPPLEMENT_REASONS, TODAY
from yimen.node import home
from yimen.node.cli.progress import counted as progress
from yimen.node.services import caselist, cases, catalog, reports
from yimen.schema.case import IllegalTransition

VILLAGE = "440608100201"
TARGETS = report.Targets({
    "accepts_per_s": (">=", 1000, ">= 1000"),
    "accept_p99_ms": ("<", 10, "< 10 ms"),
    "list_ms": ("<", 50, "< 50 ms"),
    "db_bytes_per_case": ("<", 2048, "< 2 KB"),
})
RETURN_REASONS = ("申请人不符合本事项申请条件", "不属于本村户籍", "重复申请", "申请人主动放弃")
NAME_RNG_SEED = 42
CHUNK = 1000  # applications generated ahead of each timed stretch


# -- accept ---------------------------------------------------------------------------------------
def accept_phase(node: home.Node, clock: home.SettableClock, items: dict, clerk_ids: list[str],
                 gen: workload.Gen, n: int, profile: str) -> dict[str, Any]:
    """Accept `n` cases; the phase time counts the accept calls and the loop around them,
    not the generator (applications are made in chunks outside it)."""
    codes = sorted(items)
    # Weighted like a village window: immediate prints are common, each item still appears.
    weights = [3 if items[c].immediate else 1 for c in codes]
    days, chosen_codes = workload.working_days(node), gen.rng.choices(codes, weights, k=n)
    out = {"accepted": [], "lat": [], "phase_s": 0.0, "phase_cpu_s": 0.0, "load_before": os.getloadavg()[0]}
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
    with progress(n, "accept") as advance:
        for lo in range(0, n, CHUNK):
            chunk = [(workload.slot(days, i, n), gen.window_application(items[chosen_codes[i]]), clerk_ids[i % 3])
                     for i in range(lo, min(n, lo + CHUNK))]
            if prof:
                prof.enable()
            accept_chunk(node, clock, chunk, out, advance)
            if prof:
                prof.disable()
    out.update(load_after=os.getloadavg()[0], rss_accept_mb=procs.own_peak_rss_kb() / 1024)
    if prof:
        prof.dump_stats(profile)
    return out


def accept_chunk(node: home.Node, clock: home.SettableClock, chunk: list, out: dict, advance) -> None:
    t_phase, c_phase = time.perf_counter(), time.process_time()
    for at, app, clerk in chunk:
        clock.now = at
        t0 = time.perf_counter()
        row = cases.accept(node, clerk, app)
        out["lat"].append(time.perf_counter() - t0)
        out["accepted"].append((row["case_id"], app.item_code, at))
        advance(1)
    out["phase_s"] += time.perf_counter() - t_phase
    out["phase_cpu_s"] += time.process_time() - c_phase


# -- push -----------------------------------------------------------------------------------------
class Pusher:
    """Takes actions on cases and counts them; an illegal one is counted, not raised."""

    def __init__(self, node: home.Node, rng: random.Random):
        self.node, self.rng, self.counts = node, rng, {}

    def do(self, case_id: str, action: str, clerk: str, **kw) -> bool:
        try:
            cases.act(self.node, case_id, action, clerk, **kw)
        except IllegalTransition:
            self.counts["illegal"] = self.counts.get("illegal", 0) + 1
            return False
        self.counts[action] = self.counts.get(action, 0) + 1
        return True

    def push(self, case_id: str, item, clerk: str) -> None:
        """A supplement (8%), a return (5%), or submitted and decided at village level."""
        roll = self.rng.random()
        if roll < 0.08:
            self.do(case_id, "supplement", clerk, reason=self.rng.choice(SUPPLEMENT_REASONS))
        elif roll < 0.13:
            self.do(case_id, "returned", clerk, reason=self.rng.choice(RETURN_REASONS))
        elif self.do(case_id, "submit", clerk):
            self.review(case_id, item, clerk)

    def review(self, case_id: str, item, clerk: str) -> None:
        """The village's steps (3% rejected); when approved there, 70% delivered and done."""
        step = 0
        while step < len(item.steps) and all(r.level == "village" for r in item.steps[step]):
            if self.rng.random() < 0.03:
                self.do(case_id, "reject", clerk, reason="经村民代表评议不符合条件",
                        department=item.steps[step][0].department)
                return
            for r in item.steps[step]:
                self.do(case_id, "approve", clerk, department=r.department)
            step += 1
        if step == len(item.steps) and self.rng.random() < 0.7:  # approved at village
            if cases.get_row(self.node, case_id)["deferred_open"]:
                value = self.node.store.get(case_id).value()
                for name, m in value["materials"].items():
                    if m.get("status") == "deferred":
                        self.do(case_id, "deliver", clerk, material=name)
            if self.do(case_id, "issue_result", clerk):
                self.do(case_id, "complete", clerk)


def push_cases(node: home.Node, clock: home.SettableClock, accepted: list[tuple[str, str, datetime]],
               items: dict, clerk_ids: list[str], rng: random.Random) -> dict[str, int]:
    """Move ~30% of promised cases on, with varied outcomes. Returns action counts."""
    pusher = Pusher(node, rng)
    promised = [a for a in accepted if not items[a[1]].immediate]
    chosen = rng.sample(promised, int(len(promised) * 0.3))
    chosen.sort(key=lambda a: a[0])
    with progress(len(chosen), "push") as advance:
        for case_id, code, at in chosen:
            clerk = rng.choice(clerk_ids)
            # The follow-up happens 0-6 days after acceptance, never after TODAY.
            clock.now = min(TODAY - timedelta(minutes=5), at + timedelta(hours=rng.uniform(1, 144)))
            pusher.push(case_id, items[code], clerk)
            advance(1)
    return pusher.counts


def refuse(node: home.Node, clock: home.SettableClock, gen: workload.Gen, codes: list[str],
           clerk_ids: list[str], n: int, counts: dict[str, int]) -> None:
    """Refusals at the window (不予受理), spread over the last two weeks."""
    for k in range(max(3, n // 500)):
        clock.now = TODAY - timedelta(hours=gen.rng.uniform(1, 24 * 14))
        code = gen.rng.choice(codes)
        cases.not_accept(node, clerk_ids[k % 3], code, gen.id_number(), gen.name(), "不属于本村户籍")
        counts["not_accepted"] = counts.get("not_accepted", 0) + 1


# -- queries at "today", size ------------------------------------------------------------------
def query_phase(node: home.Node, clock: home.SettableClock, accepted: list) -> dict[str, Any]:
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
    first = accepted[len(accepted) // 2][0]
    card_sql, card_params = cases.card_sql(node)
    return {
        "lists": {label: report.timed(lambda kw=kw: caselist.list_cases(node, **kw)) for label, kw in filters.items()},
        "overdue": report.timed(lambda: reports.overdue(node)),
        "refusals": report.timed(lambda: reports.refusals(node)),
        "show_ms": report.timed(lambda: cases.show(node, first)["history"])[0],
        "cards": dict(node.store.conn.execute(
            f"SELECT card, count(*) FROM (SELECT {card_sql} AS card FROM cases) GROUP BY card", card_params).fetchall()),
        "statuses": dict(node.store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall()),
    }


def seal_all(node: home.Node) -> dict:
    """Seal every own change with the sync engine, if this build has one, and measure the
    database again: the steady state once changes have left `changes` for the feed."""
    try:
        from yimen.node.replication import engine
        t0 = time.perf_counter()
        seals = engine(node).seal_pending()
        seal_s = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - the engine is optional here
        return {"error": f"{type(e).__name__}: {e}"}
    size, tables = procs.db_size(node)
    return {"seals": seals, "seal_s": round(seal_s, 2), "db_bytes": size, "tables": tables}


# -- results --------------------------------------------------------------------------------------
def final_result(n: int, acc: dict, push: dict, q: dict, size: dict, catalog_desc: str) -> dict[str, Any]:
    lat_ms = [x * 1000 for x in acc["lat"]]
    result = {
        "cases": n,
        "accepts_per_s": round(n / acc["phase_s"], 1),
        "accept_p50_ms": round(report.pct(lat_ms, 50), 3),
        "accept_p99_ms": round(report.pct(lat_ms, 99), 3),
        "accept_max_ms": round(max(lat_ms), 3),
        "accept_phase_s": round(acc["phase_s"], 2),
        "accept_phase_cpu_s": round(acc["phase_cpu_s"], 2),
        "accept_calls_s": round(sum(acc["lat"]), 2),
        "accepts_per_cpu_s": round(n / acc["phase_cpu_s"], 1),
        "loadavg_1m": [round(acc["load_before"], 2), round(acc["load_after"], 2)],
        "list_ms": round(max(m for m, _ in q["lists"].values()), 3),
        "list_ms_by_filter": {k: round(m, 3) for k, (m, _) in q["lists"].items()},
        "overdue_ms": round(q["overdue"][0], 3), "overdue_rows": q["overdue"][1],
        "refusals_ms": round(q["refusals"][0], 3), "refusals_rows": q["refusals"][1],
        "show_ms": round(q["show_ms"], 3),
        "push_s": round(push["s"], 2),
        "actions": push["counts"],
        "cards": {k or "closed": v for k, v in q["cards"].items()},
        "statuses": q["statuses"],
        **size_result(n, size),
        "catalog": catalog_desc,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    result["targets_missed"] = TARGETS.missed(result)
    return result


def size_result(n: int, size: dict) -> dict[str, Any]:
    def per_case(tables: dict[str, int]) -> dict[str, float]:
        return {k: round(v / n, 1) for k, v in tables.items() if v / n >= 1}

    sealed = size["sealed"]
    return {
        "db_bytes": size["db_bytes"],
        "db_bytes_per_case": round(size["db_bytes"] / n, 1),
        "table_bytes_per_case": per_case(size["tables"]),
        "peak_rss_mb": round(size["peak_rss_mb"], 1),
        "peak_rss_after_accept_mb": round(size["rss_accept_mb"], 1),
        "sealed": ({"error": sealed["error"]} if "error" in sealed else {
            "seals": sealed["seals"], "seal_s": sealed["seal_s"],
            "db_bytes_per_case": round(sealed["db_bytes"] / n, 1),
            "table_bytes_per_case": per_case(sealed["tables"]),
        }) if sealed else None,
    }


def print_table(r: dict, list_results: dict) -> None:
    def target(key: str, value: float | None = None) -> str:
        return TARGETS.mark(key, r[key] if value is None else value, width=7)

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
    rows += [(f"list {label}", f"{ms:.3f} ms ({size} rows)", target("list_ms", ms))
             for label, (ms, size) in list_results.items()]
    rows += [
        ("list_ms (worst median)", f"{r['list_ms']} ms", target("list_ms")),
        ("report overdue", f"{r['overdue_ms']} ms ({r['overdue_rows']} rows)", ""),
        ("report refusals (week)", f"{r['refusals_ms']} ms ({r['refusals_rows']} rows)", ""),
        ("case show", f"{r['show_ms']} ms", ""),
        ("push phase", f"{r['push_s']} s", ""),
        ("db bytes / case", f"{r['db_bytes_per_case']}", target("db_bytes_per_case")),
        ("peak RSS", f"{r['peak_rss_mb']} MB ({r['peak_rss_after_accept_mb']} MB after the accept phase)", ""),
    ]
    report.print_table(f"Yimen local benchmark — {r['catalog']}, Python {r['python']}, {r['cpus']} CPUs",
                       rows, rule_extra=20)
    print_footer(r)


def print_footer(r: dict) -> None:
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


# -- the run --------------------------------------------------------------------------------------
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
    tmp = None
    if args.home:
        node_home = Path(args.home)
    else:
        tmp = tempfile.mkdtemp(prefix="yimen-bench-")
        node_home = Path(tmp) / "village"
    try:
        return run(node_home, args.cases, args)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def run(node_home: Path, n: int, args: argparse.Namespace) -> int:
    clock = home.SettableClock(START.replace(hour=8, minute=0))
    procs.ensure_key_file(node_home.parent)
    node = home.init(node_home, VILLAGE, "基准村", clock=clock)
    cat_text, cat_source = workload.catalog_text(args.catalog_wait)
    workload.publish_catalog(node, cat_text)
    clerk_ids = workload.add_clerks(node)
    items = {r["code"]: catalog.current(node, r["code"]) for r in catalog.list_items(node)}
    gen = workload.Gen(args.seed, name_seed=NAME_RNG_SEED, districts=("08",), compound=0.01)
    acc = accept_phase(node, clock, items, clerk_ids, gen, n, args.profile)
    t_push = time.perf_counter()
    counts = push_cases(node, clock, acc["accepted"], items, clerk_ids, random.Random(args.seed + 1))
    refuse(node, clock, gen, sorted(items), clerk_ids, n, counts)
    push = {"s": time.perf_counter() - t_push, "counts": counts}
    q = query_phase(node, clock, acc["accepted"])
    db_bytes, table_bytes = procs.db_size(node)
    size = {"db_bytes": db_bytes, "tables": table_bytes, "peak_rss_mb": procs.own_peak_rss_kb() / 1024,
            "rss_accept_mb": acc["rss_accept_mb"]}
    size["sealed"] = seal_all(node) if args.seal else {}
    node.close()
    result = final_result(n, acc, push, q, size, f"{cat_source} ({len(items)} items)")
    print_table(result, q["lists"])
    report.print_final(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
