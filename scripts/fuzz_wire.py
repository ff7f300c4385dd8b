#!/usr/bin/env python3
"""Fuzz a town's sync routes with COUNT mutated requests and print the figures.

The town serves in this process (the default) or as a real `yimen serve` child process
(--serve); villages A and B are enrolled. Each request starts from what village A really
sends and is mutated structurally, re-signed with A's key (the mutators and invariants of
tests/support/mutate.py and tests/support/wire_fuzz.py, which the test suite runs in a
bounded profile). Prints a table of answers by route and status class, the first
problems, and a final JSON line:

    {"requests": N, "statuses": {"2xx": .., "4xx": .., ...}, "5xx": .., "tracebacks": ..,
     "partial_writes": .., "problems": .., "good_peer_synced": true}

Exit status 1 if any request broke an invariant. Needs the test extras (hypothesis):
scripts/venv test, then

    .venv/bin/python scripts/fuzz_wire.py 2000 [--serve]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from support import mutate  # noqa: E402
from support.served import Answer, Request, send  # noqa: E402
from support.wire_fuzz import ROUTES, Hub, InProcess, make_town  # noqa: E402
from yimen.node import home  # noqa: E402
from yimen.node.server import routes  # noqa: E402

PLANS = {"/v1/hello": mutate.hello_plans, "/v1/push": mutate.push_plans, "/v1/pull": mutate.pull_plans,
         "/v1/reconcile": mutate.reconcile_plans, "/v1/seals": mutate.seals_plans,
         "/v1/enroll": mutate.enroll_plans, "/v1/status": mutate.status_requests}
WEIGHT = {"/v1/push": 4}  # the deepest checks are behind the push route
LOGGED_ERROR = re.compile(r"Traceback \(most recent call last\)|failed \(error id|Error handling request|"
                          r"Task exception was never retrieved")


class Child:
    """The town as a `yimen serve --no-sync` process: its database read from here, its
    stderr watched for tracebacks, and what it stored waited for (its materializer
    applies it)."""

    def __init__(self, town: home.Node):
        self.node, self.lines = town, []
        yimen = Path(sys.executable).with_name("yimen")
        self.proc = subprocess.Popen([str(yimen), "--home", str(town.home), "serve", "--port", "0", "--no-sync"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        first = self.proc.stdout.readline()
        if not first.startswith("listening on "):
            raise SystemExit(f"yimen serve did not start: {first!r} {self.proc.stderr.read()}")
        self.url = first.strip().removeprefix("listening on ")
        threading.Thread(target=self._watch, daemon=True).start()
        self.side = home.connect(town.home, check_same_thread=False)

    def _watch(self) -> None:
        for line in self.proc.stderr:
            if LOGGED_ERROR.search(line):
                self.lines.append(line.strip() + (" (with traceback)" if "Traceback" in line else ""))

    def data_version(self) -> int:
        return self.side.execute("PRAGMA data_version").fetchone()[0]

    def error_lines(self) -> list[str]:
        time.sleep(0.01)  # the child's stderr reaches us a moment after its answer
        return list(self.lines)

    def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)  # on this process's own connection to the town's file

    def settle(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.side.execute("SELECT count(*) FROM unapplied").fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the town left seals unapplied for {timeout} s")
            time.sleep(0.05)

    def send(self, request: Request) -> Answer:
        return send(self.url, request)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.side.close()


def short_waits(plan: Any) -> Any:
    """A `yimen serve` holds a pull told to wait up to 25 s (this process's server is told
    0.2 s): in --serve mode a pull waits at most a second."""
    if not isinstance(plan, mutate.Plan):
        return plan
    def capped(op: Any) -> Any:
        long = isinstance(op, mutate.Set) and op.key == "wait" and isinstance(op.value, (int, float)) \
            and not isinstance(op.value, bool) and not op.value <= 1
        return mutate.Set("wait", 1) if long else op
    return dataclasses.replace(plan, message=tuple(capped(op) for op in plan.message))


def run(hub: Hub, count: int, serve: bool) -> None:
    total = sum(WEIGHT.get(r, 1) for r in ROUTES)
    for route in ROUTES:
        n = max(1, count * WEIGHT.get(route, 1) // total)

        @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(plan=PLANS[route]())
        def one(plan: Any) -> None:
            hub.check(route, short_waits(plan) if serve else plan)

        one()


def table(hub: Hub) -> str:
    classes = sorted({c for _, c in hub.tally.by_route})
    lines = [f"{'route':<16}" + "".join(f"{c:>9}" for c in classes)]
    for route in ROUTES:
        lines.append(f"{route:<16}" + "".join(f"{hub.tally.by_route[route, c]:>9}" for c in classes))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, nargs="?", default=500, help="how many requests (default 500)")
    parser.add_argument("--serve", action="store_true", help="fuzz a `yimen serve` process, not this one")
    args = parser.parse_args()
    routes.MAX_WAIT_S = 0.2  # a pull told to wait is answered soon (in this process only)
    with tempfile.TemporaryDirectory(prefix="yimen-fuzz-") as folder:
        os.environ.setdefault("YIMEN_KEY_FILE", str(Path(folder) / "yimen.key"))  # unlocks its nodes (made at init)
        town, villages = make_town(Path(folder))
        server = Child(town) if args.serve else InProcess(town).start()
        try:
            hub = Hub(server, town, villages)
            started = time.monotonic()
            run(hub, args.count, args.serve)
            elapsed = time.monotonic() - started
            try:
                hub.still_serves()
                synced = True
            except Exception as e:  # noqa: BLE001 (that is the finding)
                print(f"the good peer no longer syncs: {e!r}"[:600])
                synced = False
        finally:
            server.stop()
            for n in (town, *villages.values()):
                n.close()
    print(table(hub))
    for problem in hub.tally.problems[:10]:
        print("-", problem[:600])
    figures = {**hub.tally.figures(), "good_peer_synced": synced, "seconds": round(elapsed, 1),
               "server": "yimen serve" if args.serve else "in-process"}
    print(json.dumps(figures))
    return 0 if synced and not hub.tally.problems else 1


if __name__ == "__main__":
    sys.exit(main())
