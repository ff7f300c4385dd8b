"""The demo behind `scripts/demo`: a local four-level chain — city, district, town and two
villages, each a real `yimen serve` process on 127.0.0.1 — with the sample catalog published
by the city (village B imported it itself before joining, as a village standing alone
would), three weeks of cases at village A (most rated by their citizens, 一事一评), and a
town clerk deciding most of those that wait for the town.

It rebuilds `data/demo/` from scratch, waits until the chain has converged, checks it
(cases and ratings reached the city, decisions came back to village A and never to village
B, both villages use the city's catalog, reconcile finds nothing, nothing quarantined, projections
equal a rebuild), prints where to look, and then:
- with a terminal on stdin, keeps the chain running until Ctrl-C;
- otherwise stops every process it started and exits 0 (non-zero if a check failed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from importlib import resources
from pathlib import Path

import demo_pages
from yimen.node.services import caselist, cases, catalog, ratings, status
from yimen.node import home, projections, vault
from yimen.schema.case import IllegalTransition
from yimen.schema.errors import YimenError
from yimen.schema.idnumber import check_digit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "demo"
YIMEN = str(Path(sys.executable).with_name("yimen"))
CHAIN = [  # name, region code, display name, parent
    ("city", "4406", "佛山市政务服务中心", None),
    ("district", "440608", "高明区政务服务中心", "city"),
    ("town", "440608100", "荷城街道党群服务中心", "district"),
    ("village-a", "440608100201", "示范A村党群服务中心", "town"),
    ("village-b", "440608100202", "示范B村党群服务中心", "town"),
]
CITY = "440600000000"  # the city's node id (its region code, normalized)
SAMPLE = resources.files("yimen.node").joinpath("data/catalog_sample.json")
# Sign-ins: every node's admin a01 (signed in by `init`) and the clerks share these demo
# passwords, given on standard input as a script does.
ADMIN_PASSWORD, CLERK_PASSWORD = "Demo-Admin-2026", "Demo-Clerk-2026"
LINK_MINUTES = 8 * 60  # the one-time sign-in links the demo prints (`yimen clerk link`) last a working day
SURNAMES, GIVEN = "陈李黄张梁何罗谭区冯", ["美玲", "志强", "秀英", "国华", "丽娟", "建明", "小红", "家豪", "桂芳", "伟"]


def run(name: str, *args: str, show: bool = True, password: str | None = None) -> str:
    """One `yimen` command at a node; `password` goes to its standard input (`--password-stdin`)."""
    if show:
        print(f"\n$ yimen --home data/demo/{name} {' '.join(args)}", flush=True)
    out = subprocess.run([YIMEN, "--home", str(DATA / name), *args], capture_output=True, text=True,
                         input=None if password is None else password + "\n")
    if out.returncode:
        raise SystemExit(f"demo failed: yimen --home data/demo/{name} {' '.join(args)}\n{out.stderr}")
    if show:
        print(out.stdout.rstrip(), flush=True)
    return out.stdout


def serve(name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([YIMEN, "--home", str(DATA / name), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=open(DATA / f"{name}.log", "w"), text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise SystemExit(f"{name} did not start: see data/demo/{name}.log")
    return proc, line.split()[-1]


def node_status(name: str) -> dict:
    """What `yimen status` shows, read from the node's file (over HTTP a node tells only
    that it is up)."""
    with home.open_node(DATA / name) as node:
        return status.status(node)


def wait_until(what: str, check, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: timed out waiting for {what}")
        time.sleep(0.3)


Clock = home.SettableClock


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


COMPLAINT = "等候时间太长，窗口只有一人"


def rated(node, cid: str, clerk: str, rng: random.Random) -> None:
    """Most citizens rate a case that ended (一事一评), most of them satisfied."""
    if rng.random() < 0.8:
        score = rng.choices(("satisfied", "basic", "unsatisfied"), (80, 15, 5))[0]
        try:
            ratings.rate(node, cid, score, COMPLAINT if score == "unsatisfied" else "", clerk)
        except YimenError:
            pass  # it did not end after all (a step left for the town)


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
                refused = cases.not_accept(node, clerk, item.code, id_number(rng), name, "申请人不属于本村户籍")
                rated(node, refused["case_id"], clerk, rng)
                continue
            cid = cases.accept(node, clerk, cases.Application(item.code, id_number(rng), name, given, deferred))["case_id"]
            if item.immediate:
                rated(node, cid, clerk, rng)
                continue
            fate = rng.random()
            if fate < 0.1:
                step(node, cid, "supplement", clerk, reason="申请表签名缺失，请补正")
            elif fate < 0.15:
                step(node, cid, "returned", clerk, reason="不符合申请条件")
                rated(node, cid, clerk, rng)
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
                    rated(node, cid, clerk, rng)
    clock.now = start


def count(name: str, sql: str) -> int:
    with home.open_node(DATA / name) as node:
        return node.store.conn.execute(sql).fetchone()[0]


def uses_city_catalog(name: str) -> bool:
    """Does the node use the city's sample catalog (each item the city's, none its own)?"""
    with home.open_node(DATA / name) as node:
        used = catalog.list_items(node, include_cancelled=True)
    return len(used) >= 60 and all(r["publisher"] == CITY for r in used)


def checks() -> list[str]:
    problems = []
    a_cases = count("village-a", "SELECT count(*) FROM cases")
    for name in ("town", "district", "city"):
        if count(name, "SELECT count(*) FROM cases") != a_cases:
            problems.append(f"{name} does not hold all of village A's cases")
    if count("village-b", "SELECT count(*) FROM cases WHERE case_id LIKE '440608100201-%'"):
        problems.append("village B received cases of village A")
    for name in ("village-a", "village-b"):
        if not uses_city_catalog(name):
            problems.append(f"{name} does not use the city's catalog")
    for name, *_ in CHAIN:
        if node_status(name)["quarantined"]:
            problems.append(f"{name} quarantined seals")
        with home.open_node(DATA / name) as node:
            live = projections.dump(node.store)
            projections.rebuild(node.store, node.calendar)
            if projections.dump(node.store) != live:
                problems.append(f"{name}: rebuild did not reproduce the projections")
    a_ratings = count("village-a", "SELECT count(*) FROM ratings")
    if not a_ratings or count("city", "SELECT count(*) FROM ratings") != a_ratings:
        problems.append("village A's ratings did not all reach the city")
    if json.loads(run("town", "reconcile", "--json", show=False)):
        problems.append("reconcile found differences between the town and the district")
    return problems


def main() -> int:
    print("== 一门 Yimen demo: a four-level chain in data/demo/ (recreated)", flush=True)
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    # the nodes' databases unlock with one key file, as if on a USB stick (made by the first init)
    os.environ[vault.ENV_KEY_FILE] = str(DATA / "usb" / "yimen.key")
    procs, urls = {}, {}
    try:
        for name, rc, title, parent in CHAIN:
            run(name, "init", "--region", rc, "--name", title, "--admin-id", "a01", "--admin-name", "管理员",
                "--password-stdin", show=False, password=ADMIN_PASSWORD)
            if name == "village-b":  # a village that imported the catalog standing alone, before it joins
                with resources.as_file(SAMPLE) as path:
                    run(name, "catalog", "import", str(path), show=False)
            procs[name], urls[name] = serve(name)
            print(f"   {name:<10} {rc:<13} {title:<14} {urls[name]}", flush=True)
            if parent:
                code = json.loads(run(parent, "invite", "--region", rc, "--json", show=False))["code"]
                run(name, "enroll", "--parent", urls[parent], "--code", code, "--address", urls[name], show=False)
        with resources.as_file(SAMPLE) as path:
            run("city", "catalog", "import", str(path))
        run("town", "clerk", "add", "--id", "t01", "--name", "赵春燕", *[f"--role={r}" for r in
            ("民政", "社保", "人社", "教育", "残联", "退役军人", "农业农村", "住建", "卫健")], "--password-stdin",
            password=CLERK_PASSWORD)
        for v in ("village-a", "village-b"):
            run(v, "clerk", "add", "--id", "c01", "--name", "李敏", *[f"--role={r}" for r in
                ("民政", "社保", "医保", "人社", "卫健", "村委会")], "--password-stdin", show=v == "village-a",
                password=CLERK_PASSWORD)
            run(v, "clerk", "add", "--id", "c02", "--name", "王芳", *[f"--role={r}" for r in
                ("教育", "残联", "退役军人", "农业农村", "住建", "村委会")], "--password-stdin", show=False,
                password=CLERK_PASSWORD)
        links = {n: {purpose: json.loads(run(n, "clerk", "link", clerk, "--minutes", str(LINK_MINUTES), "--json",
                                             show=False))["path"] for purpose in ("check", "you")}
                 for n, clerk in (("village-a", "c01"), ("town", "t01"))}
        wait_until("the catalog to reach the villages",
                   lambda: all(uses_city_catalog(v) for v in ("village-a", "village-b")))
        print("\n== village A: simulating three weeks at the window (offline edits; the chain syncs them) ...")
        clock = Clock(home.china_now())
        with home.open_node(DATA / "village-a", clock=clock) as node:
            three_weeks(node, clock, random.Random(2026))
            total = node.store.count("case")
        wait_until("village A's cases to reach the city", lambda: node_status("city")["cases"] == total)
        rated_here = count("village-a", "SELECT count(*) FROM ratings")
        wait_until("village A's ratings to reach the city",
                   lambda: count("city", "SELECT count(*) FROM ratings") == rated_here)
        decide_at_town()
        wait_until("the town's decisions to reach village A", lambda: count(
            "village-a", "SELECT count(*) FROM case_events WHERE node = '440608100000'") > 0)
        run("village-a", "login", "--id", "c01", "--password-stdin", password=CLERK_PASSWORD)
        show()
        problems = checks()
        problems += my_space()
        problems += demo_pages.sign_in(urls["village-a"], "c01", CLERK_PASSWORD, "李敏")
        problems += demo_pages.sign_in(urls["town"], "t01", CLERK_PASSWORD, "赵春燕")
        problems += demo_pages.follow_link(urls["village-a"], links["village-a"]["check"], "李敏")
        if problems:
            print("\nCHECK FAILED: " + "; ".join(problems), file=sys.stderr)
            return 1
        live = sys.stdin.isatty()  # otherwise the servers stop below; the data stays
        servers = f" (servers: {', '.join(f'{n} {u}' for n, u in urls.items())})" if live else ""
        curl = f"\n  curl {urls['town']}/v1/status     # whether it is up: all it tells a stranger" if live else ""
        print(f"""
== checks passed: cases and their ratings reached the city, the town's decisions came back
   to village A (never to village B), both villages use the city's catalog, reconcile finds nothing to repair,
   nothing quarantined, projections equal a rebuild; a result deposited at village A was
   reused at village B under the citizen's consent, its e-certificate verified there, and
   village B purged it when the consent was withdrawn; clerks sign in to the pages of
   village A and the town.

The window (web pages; the browser asks once to accept each node's own certificate). Each
link signs its clerk in once, within {LINK_MINUTES // 60} hours; then use the id and password:
  village A  {urls['village-a']}{links['village-a']['you']}
             c01 (李敏), password {CLERK_PASSWORD}
  town       {urls['town']}{links['town']['you']}
             t01 (赵春燕), password {CLERK_PASSWORD}
  (each node's admin is a01, password {ADMIN_PASSWORD}: 督办 /board, 一事一评 /ratings, 同步 /chain, 管理 /admin)
  To try: accept a case at village A (/accept), print its receipt, follow the receipt's QR;
  the town's inbox (/inbox) holds the two newest cases waiting for its step.{'' if live else chr(10) + '  (the nodes stop when the demo ends; run it on a terminal to keep them)'}

Where to look{servers}:
  export YIMEN_KEY_FILE=data/demo/usb/yimen.key              # unlocks the nodes (the "USB stick")
  .venv/bin/yimen --home data/demo/city case list            # the city sees every case
  .venv/bin/yimen --home data/demo/village-a case list --card red
  .venv/bin/yimen --home data/demo/town status               # peers, traffic, quarantine{curl}
  .venv/bin/yimen --home data/demo/village-b cert verify --image data/demo/certificate.png
  YIMEN_HOME=data/demo/village-a .venv/bin/yimen case accept --item SB-003 \\
      --applicant-id 440608199001011235 --applicant-name 陈美玲 --all-materials   # as c01, signed in
Sign-ins (yimen login --id ID): each node's admin a01, password {ADMIN_PASSWORD}; clerks c01 and c02
(villages) and t01 (town), password {CLERK_PASSWORD}.""")
        if live:
            print("\nThe chain keeps running; press Ctrl-C to stop it.", flush=True)
            try:
                while all(p.poll() is None for p in procs.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        print("== stopped every node the demo started", flush=True)


def a_result_at_village_a() -> tuple[str, str, str, str]:
    """A result deposited at village A (doc id, type, citizen's ID number and name) whose
    type some village item asks for as a material."""
    with home.open_node(DATA / "village-a") as node:
        wanted = {m.doc_type for r in catalog.list_items(node) for m in catalog.current(node, r["code"]).materials}
        for doc_id, doc_type in node.store.conn.execute(
                "SELECT doc_id, doc_type FROM space_docs WHERE source = 'result' ORDER BY doc_id"):
            if doc_type in wanted:
                body = node.store.get(doc_id).value()["space"]
                return doc_id, doc_type, body["citizen_id"], body["citizen_name"]
    raise SystemExit("demo failed: village A deposited no result that another item reuses")


def item_needing(doc_type: str) -> str:
    with home.open_node(DATA / "village-b") as node:
        for r in catalog.list_items(node):
            item = catalog.current(node, r["code"])
            if item.accept_level == "village" and any(m.doc_type == doc_type for m in item.materials):
                return item.code
    raise SystemExit(f"demo failed: no village item asks for {doc_type}")


def my_space() -> list[str]:
    """A citizen of village A at village B's window: consent, fetch, reuse, verify, withdraw."""
    doc_id, doc_type, person, name = a_result_at_village_a()
    print(f"\n== My Space: {name} brings nothing to village B that village A already issued", flush=True)
    run("village-a", "space", "show", person)
    text = json.loads(run("village-a", "cert", "show", doc_id, "--png", str(DATA / "certificate.png"), "--json",
                          show=False))["text"]
    print(f"   e-certificate {doc_id}: {len(text)} characters, QR in data/demo/certificate.png", flush=True)
    run("village-b", "login", "--id", "c01", "--password-stdin", show=False, password=CLERK_PASSWORD)
    consent = json.loads(run("village-b", "space", "consent", "--person", person, "--name", name, "--types", doc_type,
                             "--days", "7", "--purpose", "办理本村事项", "--json"))["consent_id"]
    run("village-b", "space", "fetch", "--wait", "60")
    problems = []
    accepted = json.loads(run("village-b", "case", "accept", "--item", item_needing(doc_type), "--applicant-id", person,
                              "--applicant-name", name, "--all-materials", "--json", show=False))
    if not any(r["doc_id"] == doc_id for r in accepted.get("reused", {}).values()):
        problems.append("village B did not reuse village A's result")
    print(f"   village B accepted {accepted['case_id']}: "
          + "; ".join(f"{m} from My Space ({r['doc_id']})" for m, r in accepted.get("reused", {}).items()), flush=True)
    run("village-b", "cert", "verify", "--image", str(DATA / "certificate.png"))  # the QR, as a phone photographs it
    run("village-b", "space", "withdraw", consent, "--reason", "事项已受理")
    if count("village-b", f"SELECT count(*) FROM docs WHERE doc_id = '{doc_id}'"):
        problems.append("village B kept the document after the consent was withdrawn")
    if not count("town", f"SELECT count(*) FROM docs WHERE doc_id = '{doc_id}'"):
        problems.append("the town lost village A's document")
    return problems


def decide_at_town() -> None:
    """A town clerk approves the town step of every case waiting for it but the newest
    two (left in the town's inbox, 待办)."""
    with home.open_node(DATA / "town") as node:
        waiting = [r["case_id"] for r in caselist.list_cases(node, status="in_review", limit=1000)]
        decided = 0
        for cid in waiting[2:] if len(waiting) > 4 else waiting:
            try:
                cases.act(node, cid, "approve", "t01")
                decided += 1
            except YimenError:  # the current step is not the town's (yet)
                pass
    print(f"\n== town clerk 赵春燕 approved the town step of {decided} case(s)", flush=True)


def show() -> None:
    run("city", "case", "list", "--limit", "6")
    reds = json.loads(run("village-a", "case", "list", "--card", "red", "--json", show=False))["rows"]
    decided = json.loads(run("village-a", "case", "list", "--status", "approved", "--json", show=False))["rows"]
    for row in (decided or reds)[:1]:
        run("village-a", "case", "show", row["case_id"])
    run("district", "report", "overdue")
    run("village-a", "report", "refusals", "--week")
    run("town", "status")


if __name__ == "__main__":
    sys.exit(main())
