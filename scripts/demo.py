"""The demo behind `scripts/demo`: a sample village node with the sample catalog, two
clerks and three weeks of cases, then a look at it through the `yimen` command line.

It always rebuilds `data/demo-village` from scratch, checks what it built (projections equal
a rebuild, every kind of status and card is present, the reports have rows) and exits
non-zero if a check fails. Nothing keeps running afterwards.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from yimen.node import cases, catalog, home, projections
from yimen.schema.case import IllegalTransition
from yimen.schema.idnumber import check_digit

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "data" / "demo-village"
YIMEN = str(Path(sys.executable).with_name("yimen"))
REGION, NAME = "440608100201", "高明区荷城街道示范村党群服务中心"
SURNAMES, GIVEN = "陈李黄张梁何罗谭区冯", ["美玲", "志强", "秀英", "国华", "丽娟", "建明", "小红", "家豪", "桂芳", "伟"]


def run(*args: str, show: bool = True) -> str:
    cmd = [YIMEN, "--home", str(HOME), *args]
    if show:
        print(f"\n$ yimen {' '.join(args)}", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"demo failed: yimen {' '.join(args)}\n{out.stderr}")
    if show:
        print(out.stdout.rstrip(), flush=True)
    return out.stdout


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def id_number(rng: random.Random) -> str:
    body = f"440608{rng.randint(1940, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + check_digit(body)


def materials(item, rng: random.Random, defer: bool):
    deferred = {m.name: None for m in item.materials if m.requirement == "deferrable" and defer}
    given = {m.name: f"{rng.getrandbits(256):064x}" for m in item.materials
             if m.requirement == "mandatory" or (m.requirement == "deferrable" and m.name not in deferred)}
    return given, deferred


def step(node, cid: str, action: str, clerk: str, **kw) -> None:
    try:
        cases.act(node, cid, action, clerk, **kw)
    except IllegalTransition:
        pass  # e.g. a step decided above this village: it waits for the town


def three_weeks(node, clock: Clock, rng: random.Random) -> None:
    """Simulate the past three weeks of a village window."""
    codes = ["CW-001", "CW-002", "CW-005", "SB-003", "YB-001", "MZ-003", "MZ-004", "RS-003",
             "JY-001", "CL-003", "NY-002", "TY-004", "SB-002", "MZ-001"]
    start = clock.now
    for day in range(21, 0, -1):
        clock.now = start - timedelta(days=day)
        if not node.calendar.is_working_day(clock.now.date()):
            continue
        for _ in range(rng.randint(1, 4)):
            clock.now += timedelta(minutes=rng.randint(10, 90))
            item = catalog.current(node, rng.choice(codes))
            clerk = "c02" if item.department in ("教育", "残联", "退役军人", "农业农村") else "c01"
            given, deferred = materials(item, rng, defer=rng.random() < 0.3 and not item.immediate)
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            if rng.random() < 0.08:
                cases.not_accept(node, clerk, item.code, id_number(rng), name, "申请人不属于本村户籍")
                continue
            cid = cases.accept(node, clerk, cases.Application(item.code, id_number(rng), name, given, deferred))["case_id"]
            if item.immediate:
                continue
            fate = rng.random()
            if fate < 0.1:
                step(node, cid, "supplement", clerk, reason="申请表签名缺失，请补正")
            elif fate < 0.15:
                step(node, cid, "returned", clerk, reason="不符合申请条件")
            elif fate < 0.8 and day > 2:
                step(node, cid, "submit", clerk)
                for reviewer in item.steps[0] if item.steps else ():
                    if reviewer.level == "village":
                        step(node, cid, "approve", clerk, department=reviewer.department)
                for name_ in deferred if rng.random() < 0.5 else ():
                    step(node, cid, "deliver", clerk, material=name_)
                if rng.random() < 0.7:
                    step(node, cid, "issue_result", clerk)
                    step(node, cid, "complete", clerk)
    clock.now = start


def check(node) -> list[str]:
    problems = []
    live = projections.dump(node.store)
    projections.rebuild(node.store, node.calendar)
    if projections.dump(node.store) != live:
        problems.append("rebuild did not reproduce the projections")
    statuses = {r[0] for r in node.store.conn.execute("SELECT DISTINCT status FROM cases")}
    for s in ("completed", "in_review", "supplement", "returned", "not_accepted"):
        if s not in statuses:
            problems.append(f"no case reached status {s}")
    if not cases.list_cases(node, card="red"):
        problems.append("no red card")
    return problems


def main() -> int:
    print(f"== 一门 Yimen demo: a sample village node in {HOME.relative_to(ROOT)} (recreated)")
    shutil.rmtree(HOME, ignore_errors=True)
    run("init", "--region", REGION, "--name", NAME)
    sample = resources.files("yimen.node").joinpath("data/catalog_sample.json")
    with resources.as_file(sample) as path:
        run("catalog", "import", str(path))
    run("clerk", "add", "--id", "c01", "--name", "李敏", *[f"--role={r}" for r in
        ("民政", "社保", "医保", "人社", "卫健", "村委会")])
    run("clerk", "add", "--id", "c02", "--name", "王芳", *[f"--role={r}" for r in
        ("教育", "残联", "退役军人", "农业农村", "住建", "村委会")])
    print("\n== simulating the past three weeks at the window ...", flush=True)
    clock = Clock(home.china_now())
    with home.open_node(HOME, clock=clock) as node:
        three_weeks(node, clock, random.Random(2026))
    run("case", "list", "--limit", "8")
    red = run("case", "list", "--card", "red", "--json", show=False)
    first_red = __import__("json").loads(red)
    if first_red:
        run("case", "show", first_red[0]["case_id"])
    run("report", "overdue")
    run("report", "refusals", "--week")
    run("status")
    with home.open_node(HOME) as node:
        problems = check(node)
    if problems:
        print("\nCHECK FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"""
== checks passed: projections equal a rebuild; every status, red cards and refusals present.

What to type next (the node is ready; clerks c01 李敏 and c02 王芳):
  export YIMEN_HOME={HOME.relative_to(ROOT)} YIMEN_CLERK=c01
  .venv/bin/yimen catalog list --search 救助
  .venv/bin/yimen case accept --item SB-003 --applicant-id 440608199001011235 --applicant-name 陈美玲 --all-materials
  .venv/bin/yimen case list --card yellow
  .venv/bin/yimen case act <受理编号> submit
  .venv/bin/yimen report refusals --week --csv
  .venv/bin/yimen --help""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
