#!/usr/bin/env python
"""Audit-log benchmark: append N entries (half each in its own transaction, half 100 to a
transaction, the marginal cost of an entry inside the action it records),
have the log head countersigned by a parent, then time `yimen audit verify`.

Not a test: it prints a table and a FINAL line (one JSON object). Usage:

    python scripts/bench_audit.py [N]        # default 100000 entries (about a minute)

The village and its town live in a fresh temporary folder (deleted at the end), enrolled
offline. Entries look like a window's day: an accept, a few transitions and a read per
case, each naming a clerk, a case and a person (a keyed hash of an ID number). Measured:
the append rate (entries per wall second and per CPU second), the checkpoint (tree root
over the whole log, signed) and its countersignature at the parent (consistency proof
checked), the verify time of every entry and the checkpoint, and a person's trail.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchlib import procs, report
from yimen.node import home
from yimen.node.audit import exchange
from yimen.node.cli.progress import counted
from yimen.node.services import audit, enrollment
from yimen.schema.idnumber import check_digit

ACTIONS = ("accept", "submit", "case_show", "approve", "complete")
TARGETS = report.Targets({
    "append_per_cpu_s": (">=", 2000, ">= 2000/CPU-s"),
    "verify_s": ("<", 10, "< 10 s"),
})


def _timed(fn, *args):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def _person(case: int) -> str:
    """A valid ID number, one of 36,500 (a birth day in 1990 or later and a serial)."""
    body = f"440608{19900101 + (case % 100) * 10000 + case // 100 % 12 * 100:08d}{case // 1200 % 1000:03d}"
    return body + check_digit(body)


def _append(node: home.Node, n: int, first: int, per_tx: int, stage: str) -> None:
    """`n` entries, `per_tx` to a transaction (1: each its own, as a read records; more: the
    marginal cost of an entry inside the transaction of the action it records)."""
    with counted(n, stage) as advance:
        for start in range(first, first + n, per_tx):
            with node.store.transaction():
                for i in range(start, min(start + per_tx, first + n)):
                    case = i // len(ACTIONS)
                    audit.record(node, ACTIONS[i % len(ACTIONS)], "c01", f"{node.node_id}-2026-{case:06d}",
                                 _person(case), role="民政")
            if (start // per_tx) % max(1, 1000 // per_tx) == 0:
                advance(min(max(per_tx, 1000), first + n - start))


def run(n: int, folder: Path) -> dict:
    clock = home.SettableClock(datetime(2026, 11, 20, 9, 0, tzinfo=home.CHINA_TZ))
    town = home.init(folder / "town", "440608100", "镇", clock=clock)
    village = home.init(folder / "village", "440608100201", "村", clock=clock)
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    first = exchange.offer(village)
    exchange.keep(village, first["checkpoint"], exchange.countersign_child(town, village.node_id, first))
    alone = n // 2
    _, append_s, append_cpu = _timed(_append, village, alone, 0, 1, "append (own transaction)")
    _, inside_s, inside_cpu = _timed(_append, village, n - alone, alone, 100, "append (in a transaction)")
    offer, offer_s, _ = _timed(exchange.offer, village)
    answer, sign_s, _ = _timed(exchange.countersign_child, town, village.node_id, offer)
    exchange.keep(village, offer["checkpoint"], answer)
    village.close()
    village = home.open_node(folder / "village", clock=clock)  # verify as a fresh `yimen audit verify` does
    verdict, verify_s, verify_cpu = _timed(audit.verify, village)
    trail, trail_s, _ = _timed(audit.trail, village, None, _person(7))
    entries = verdict.entries
    db_bytes = sum(f.stat().st_size for f in (folder / "village").glob("yimen.db*"))
    village.close()
    town.close()
    assert verdict.broken is None and verdict.checkpoint_broken is None, verdict
    return {"entries": entries, "append_per_s": round(alone / append_s), "append_per_cpu_s": round(alone / append_cpu),
            "append_in_tx_per_s": round((n - alone) / inside_s), "append_in_tx_per_cpu_s": round((n - alone) / inside_cpu),
            "checkpoint_s": round(offer_s, 3),
            "countersign_s": round(sign_s, 3), "verify_s": round(verify_s, 2),
            "verify_entries_per_s": round(entries / verify_s), "verify_cpu_s": round(verify_cpu, 2),
            "checkpoints_verified": verdict.countersigned, "trail_ms": round(trail_s * 1000, 1),
            "trail_entries": len(trail), "bytes_per_entry": round(db_bytes / entries)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("entries", nargs="?", type=int, default=100_000, help="entries to append (default 100000)")
    n = ap.parse_args().entries
    folder = Path(tempfile.mkdtemp(prefix="yimen-bench-audit-"))
    procs.ensure_key_file(folder)
    try:
        r = run(n, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()[0]
    report.print_table(f"Yimen audit benchmark — {r['entries']} entries, Python {sys.version.split()[0]}, "
                       f"load {load:.1f}", [
        ("append, each its own transaction", f"{r['append_per_s']}/s ({r['append_per_cpu_s']}/CPU-s)",
         TARGETS.mark("append_per_cpu_s", r["append_per_cpu_s"])),
        ("append, inside the action's transaction", f"{r['append_in_tx_per_s']}/s "
         f"({r['append_in_tx_per_cpu_s']}/CPU-s)", ""),
        ("checkpoint (root + sign)", f"{r['checkpoint_s']} s", ""),
        ("countersign at parent (proof checked)", f"{r['countersign_s']} s", ""),
        ("audit verify", f"{r['verify_s']} s ({r['verify_entries_per_s']} entries/s, CPU {r['verify_cpu_s']} s)",
         TARGETS.mark("verify_s", r["verify_s"])),
        ("a person's trail", f"{r['trail_ms']} ms ({r['trail_entries']} entries)", ""),
        ("database bytes per entry", f"{r['bytes_per_entry']}", ""),
    ])
    report.print_final({**r, "load": round(load, 2), "missed": TARGETS.missed(r)})


if __name__ == "__main__":
    main()
