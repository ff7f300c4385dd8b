#!/usr/bin/env python
"""Sync benchmark: N cases made at a village travel village → town → district → city.

Not a test: it prints a table and a FINAL line (one JSON object) and never fails on a
missed target (it marks it). Usage:

    python scripts/bench_sync.py [--cases N] [--seed S] [--profile] [--keep DIR] [--direct]
                                 [--api-cases K] [--incremental SHARE]

Setup (benchlib.chain; in a temporary folder, deleted at the end unless --keep): four nodes
city 4406, district 440608, town 440608100, village 440608100201 made with `home.init`,
enrolled offline (`enrollment.admit` / `apply_answer`); the sample catalog is published at
the city and three clerks with every department are added at the village. City, district
and town each run as a real server process (`yimen --home DIR serve --port 0 --no-sync`).
Between every child and its parent sits a counting TCP proxy (a thread of this process): a
child's `parent_url` points at it, so the bytes really sent over HTTP — compressed bodies,
headers, both directions — are counted per hop. The catalog goes down to the village once
(in-process `sync_once`, not timed); then N cases are generated at the village (not timed).

Each case is made of four actions at the window on different occasions (benchlib.workload):
accept, submit, approve (the village step, 村委会) and supplement or deliver. The first cases
(1%, 50..300; --api-cases) go through `cases.accept` / `cases.act`; the rest are written by
a fast maker that builds the same documents (same maps, same event dicts) from public
pieces (`Store.new_doc`, `Doc.update`/`append`, `Store.save`, `projections.refresh`), one
save per case, without re-reading document and catalog for every action: several times
faster than `act`. The two paths are checked to make documents of the same shape, and every
case's history must replay (in its projection) to "in review" or "supplement" with no
conflict.

Measured, one function per scenario (each returns its dict of results):
  scenario_one_hop (a): `yimen sync --once --json` at the village (a subprocess), from its
     start until it exits, every seal acknowledged by the town: verified, stored in its feed,
     able to go on up. The town applies what it acknowledged to documents and projections in
     the background (store and forward); "applied" is when the town's database holds all N
     case documents (polled read-only).
  scenario_chain (b), end to end: the town, then the district run `sync --once` as soon as
     the hop before them ended (store and forward: a hub relays before it applies).
     Acknowledged: the sum of the three rounds. Applied: from the start of (a) until the
     city's documents hold all N. Server CPU is counted from the start of (a) until every
     hub has applied.
  scenario_incremental (c): 1% of cases (--incremental) get one more action at the village;
     the round that takes them to the city's projections is timed twice: with in-process
     `sync_once` per hop (as a node's background loop does: no process start; headline
     `incremental_s`) and with `sync --once` subprocesses (`incremental_cli_s`).
  scenario_bundle (d): `yimen bundle export --to 440608100` run on a copy of the village
     taken right after generation (nothing acknowledged yet: the bundle holds every case),
     then imported into a fresh town node (enrolled offline with the village, catalog
     published locally) by this script's `--import-bundle` mode in its own process (with
     --profile: under cProfile, the engine's receive path).
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
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import chain, procs, report, sync_report, workload
from benchlib.chain import COUNT_CASES, HOPS, TOWN, VILLAGE, Bench
from benchlib.procs import log
from yimen.node import home
from yimen.node.replication import engine
from yimen.node.services.uplink import sync_once

TARGETS = report.Targets({
    "end_to_end_cases_per_s": (">=", 2000, ">= 2000"), "one_hop_cases_per_s": (">=", 4000, ">= 4000"),
    "wire_bytes_per_case_per_hop": ("<=", 530, "<= 530"), "incremental_s": ("<", 1.0, "< 1.0 s"),
    "max_peak_rss_mb": ("<", 150, "< 150")})
EVENTS = "SELECT count(*) FROM case_events"


def generate_cases(b: Bench) -> dict[str, Any]:
    """N cases at the village (not timed), then copies of it for (d) and --profile."""
    args = b.args
    api_n = args.api_cases if args.api_cases >= 0 else min(300, max(50, b.n // 100))
    with b.opened("village") as village:
        g = workload.generate(village, b.clock, b.n, args.seed, api_n)
    b.ids = g.pop("ids")
    log(f"generated {b.n} cases in {g['gen_s']:.1f} s ({b.n / g['gen_s']:.0f}/s); shape ok: {g['shape_ok']}")
    shutil.copytree(b.homes["village"], b.root / "village-bundle")
    if args.profile:
        shutil.copytree(b.homes["village"], b.root / "village-profile")
    return g


# -- (a) one hop and (b) end to end ------------------------------------------------------------
def run_hop(b: Bench, child: str, parent: str) -> dict[str, Any]:
    """One `sync --once` round from `child` to `parent`, until acknowledged. The parent
    acknowledges seals as soon as they are verified and stored, and applies them in the
    background (the watch notes when); so the next hop can start at once."""
    before = b.marks()
    cpu0 = b.servers[parent].cpu_s()
    hop_t0 = time.perf_counter()
    b.watch.add(parent, procs.Poller(b.db(parent), COUNT_CASES, b.n))
    r = procs.run_cli(["--home", str(b.homes[child]), "sync", "--once", "--json"], b.logdir, f"sync-{child}")
    b.sync_rss[child] = max(b.sync_rss.get(child, 0), r["rss_kb"])
    if r["out"].get("pushed", 0) < 1:
        raise RuntimeError(f"{child} pushed nothing: {r['out']}")
    wire = b.wire_since(before, parent)
    first = b.proxies[parent].first if b.proxies else None
    hop = {"hop": f"{child}→{parent}", "parent": parent, "t0": hop_t0, "acked_s": r["end"] - hop_t0,
           "start_to_first_request_s": (first - hop_t0) if first else None,
           "seal_bytes": r["out"].get("bytes_out", 0) + r["out"].get("bytes_in", 0),
           "pushed_seals": r["out"].get("pushed", 0),
           "wire_bytes": sum(wire) if wire else None, "wire_up": wire[0] if wire else None,
           "rss_mb": report.mb(r["rss_kb"]), "child_cpu_s": r["cpu_s"],
           "parent_cpu_during_round_s": b.servers[parent].cpu_s() - cpu0}
    log(f"{child} → {parent}: acknowledged in {hop['acked_s']:.2f} s, {hop['wire_bytes']} wire bytes")
    return hop


def scenario_one_hop(b: Bench) -> dict[str, Any]:
    """(a) village → town. Its "held_s" (applied at the town) is filled in by the chain,
    which goes on while the town applies."""
    b.watch.start()
    cpu_start = b.server_cpu()
    return {"hop": run_hop(b, *HOPS[0]), "cpu_start": cpu_start}


def scenario_chain(b: Bench, one_hop: dict[str, Any]) -> dict[str, Any]:
    """(b) the town, then the district relay at once; then every hub finishes applying."""
    hops = [one_hop["hop"]] + [run_hop(b, child, parent) for child, parent in HOPS[1:]]
    for h in hops:
        h["held_s"] = b.watch.wait(h["parent"]) - h["t0"]
        log(f"{h['parent']} holds all {b.n} cases in its documents and projections {h['held_s']:.2f} s after its hop began")
    b.watch.stop()
    applied_cpu = {name: round(s.cpu_s() - one_hop["cpu_start"][name], 2) for name, s in b.servers.items()}
    for s in b.servers.values():
        s.hwm_kb[f"after receiving and applying {b.n}"] = s.vm_hwm_kb()
    return {"hops": hops, "applied_cpu": applied_cpu, "end_to_end_s": sum(h["acked_s"] for h in hops),
            "end_to_end_held_s": hops[-1]["t0"] + hops[-1]["held_s"] - hops[0]["t0"],
            "one_hop_s": hops[0]["acked_s"], **after_chain(b)}


def after_chain(b: Bench) -> dict[str, Any]:
    """Nothing more moves (in-process rounds, not timed); what the town holds of the village."""
    quiet = {}
    for name in ("village", "town", "district"):
        with b.opened(name) as node:
            st = asyncio.run(sync_once(node))
            quiet[name] = st.pushed + st.pulled
    town, by_village = b.db("town"), f"author = '{VILLAGE}'"
    return {"quiet": quiet,
            "wire_changes": procs.ro_count(town, f"SELECT count(*) FROM changes WHERE {by_village}"),
            "feed": procs.ro_count(town, f"SELECT count(*) FROM feed WHERE {by_village}"),
            "feed_bytes": procs.ro_count(
                town, f"SELECT sum(length(body) + length(signature)) FROM feed WHERE {by_village}")}


# -- (c) incremental ----------------------------------------------------------------------------
def scenario_incremental(b: Bench) -> dict[str, dict[str, Any]]:
    """(c) a share of the cases changed, taken to the city in-process, then by `sync --once`."""
    rng = random.Random(b.args.seed + 99)
    k = max(1, int(b.n * b.args.incremental))
    picked = rng.sample(b.ids, 2 * k)
    return {mode: incremental_round(b, mode, subset, rng)
            for mode, subset in (("in_process", picked[:k]), ("cli", picked[k:]))}


def incremental_round(b: Bench, mode: str, subset: list[str], rng: random.Random) -> dict[str, Any]:
    with b.opened("village") as node:
        workload.extra_actions(node, b.clock, subset, rng)
    want = procs.ro_count(b.db("village"), EVENTS)
    # In-process: the nodes are open and their engines made before the clock starts.
    open_nodes = chain.opened_engines(b) if mode == "in_process" else {}
    before, cpu0 = b.marks(), b.server_cpu()
    t0 = time.perf_counter()
    per_hop, seal_bytes, child_cpu = push_in_process(open_nodes) if open_nodes else push_cli(b)
    acked = time.perf_counter() - t0
    city = procs.Poller(b.db("city"), EVENTS, want)  # ... until the city has applied them
    total = city.wait(t0, 600) - t0
    city.close()
    for node in open_nodes.values():
        node.close()
    arrived = procs.ro_count(b.db("city"), EVENTS)
    wires = [b.wire_since(before, name) for name in b.proxies]
    log(f"incremental ({mode}): {total:.3f} s, arrived: {arrived == want}")
    return {"changed": len(subset), "s": total, "acked_s": round(acked, 3), "per_hop_s": per_hop,
            "seal_bytes": seal_bytes, "wire_bytes": sum(map(sum, wires)) if b.proxies else None,
            "child_cpu_s": round(child_cpu, 3),
            "server_cpu_s": round(sum(s.cpu_s() - cpu0[nm] for nm, s in b.servers.items()), 3),
            "arrived": arrived == want, "city_events": arrived, "village_events": want}


def push_in_process(open_nodes: dict) -> tuple[list[float], int, float]:
    """One `sync_once` per hop in this process: (seconds per hop, seal bytes, CPU s)."""
    per_hop, seal_bytes, child_cpu = [], 0, 0.0
    for child, _ in HOPS:
        h0, c0 = time.perf_counter(), time.process_time()
        st = asyncio.run(sync_once(open_nodes[child]))
        child_cpu += time.process_time() - c0
        seal_bytes += st.bytes_out + st.bytes_in
        per_hop.append(round(time.perf_counter() - h0, 3))
    return per_hop, seal_bytes, child_cpu


def push_cli(b: Bench) -> tuple[list[float], int, float]:
    """One `sync --once` subprocess per hop: (seconds per hop, seal bytes, CPU s)."""
    per_hop, seal_bytes, child_cpu = [], 0, 0.0
    for child, _ in HOPS:
        h0 = time.perf_counter()
        r = procs.run_cli(["--home", str(b.homes[child]), "sync", "--once", "--json"], b.logdir, f"incr-{child}")
        b.sync_rss[child] = max(b.sync_rss[child], r["rss_kb"])
        child_cpu += r["cpu_s"]
        seal_bytes += r["out"].get("bytes_out", 0) + r["out"].get("bytes_in", 0)
        per_hop.append(round(time.perf_counter() - h0, 3))
    return per_hop, seal_bytes, child_cpu


# -- (d) bundle ---------------------------------------------------------------------------------
def scenario_bundle(b: Bench) -> dict[str, Any]:
    """(d) export from the village's copy taken after generation; import into a fresh town."""
    path, village = b.root / "village-to-town.yimen", b.root / "village-bundle"
    r = procs.run_cli(["--home", str(village), "bundle", "export", "--to", TOWN, str(path), "--json"],
                      b.logdir, "bundle-export")
    bundle = {"bytes": path.stat().st_size, "export_s": r["wall_s"], "export_cpu_s": r["cpu_s"],
              "rss_mb": report.mb(r["rss_kb"]), "seals": r["out"].get("seals"), "complete": r["out"].get("complete")}
    b.sync_rss["bundle export"] = r["rss_kb"]
    fresh = chain.fresh_town(b, "town-fresh", village)
    # The import runs in its own process (this script's --import-bundle mode) so its
    # peak RSS is a node's, not this generator's.
    r = procs.run_cli(["--import-bundle", str(fresh), str(path)] + (["--profile"] if b.args.profile else []),
                      b.logdir, "bundle-import", cmd=[sys.executable, str(Path(__file__).resolve())])
    got = r["out"]
    bundle.update({"import_s": got["import_s"], "import_cpu_s": r["cpu_s"], "import_rss_mb": report.mb(r["rss_kb"]),
                   "imported_cases": got["cases"], "import_ok": got["quarantined"] == 0 and got["cases"] == b.n})
    if got.get("rebased"):
        bundle["note"] = "first batch rebased to the fresh node's position (OutOfOrder otherwise)"
    b.sync_rss["bundle import"] = r["rss_kb"]
    if got.get("profile"):
        b.profiles["receive path: bundle import into a fresh town node (engine.receive + projections)"] = got["profile"]
    return bundle


def profile_send_side(b: Bench) -> None:
    """--profile: seal_pending + next_batch on the village's second copy, under cProfile."""
    with home.open_node(b.root / "village-profile") as vnode:
        eng = engine(vnode)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        made = eng.seal_pending()
        since, nb = 0, 0
        while True:
            batch = eng.next_batch(TOWN, since)
            nb += 1
            since = batch.next
            if not batch.more:
                break
        prof.disable()
        title = (f"send side (seal_pending: {made} seals, next_batch x{nb}; "
                 f"{time.perf_counter() - t0:.2f} s under cProfile)")
    b.profiles[title] = procs.profile_text(prof)


# -- the run ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return ap.parse_args(argv)


def run(b: Bench) -> int:
    load_before = os.getloadavg()
    chain.setup(b)
    chain.start_servers(b)
    items_at_village = chain.warm_up(b)
    log(f"catalog items at the village: {items_at_village}")
    gen = {**generate_cases(b), "catalog_items_at_village": items_at_village}
    one_hop = scenario_one_hop(b)
    chained = scenario_chain(b, one_hop)
    incremental = scenario_incremental(b)
    bundle = scenario_bundle(b)
    if b.args.profile:
        profile_send_side(b)
    for s in b.servers.values():
        s.hwm_kb["end"] = s.vm_hwm_kb()
    result = sync_report.final_result(b, gen, chained, incremental, bundle, load_before)
    sync_report.print_table(result, chained["hops"], incremental, bundle, TARGETS)
    for title, text in b.profiles.items():
        print(f"\n== profile: {title} ==\n{text}")
    report.print_final(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.import_bundle:
        return chain.import_bundle_child(*args.import_bundle, args.profile)
    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="yimen-bench-sync-"))

    def stop(signum, frame):  # SIGTERM: stop the servers and remove the folder as well
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    b = Bench(args, root)
    try:
        return run(b)
    finally:
        b.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
