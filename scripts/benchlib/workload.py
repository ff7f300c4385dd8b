"""The benchmarks' workload: applicants, applications, catalog, clerks and cases.

`Gen` draws applicants from fixed-seed generators. `generate` makes the sync benchmark's
cases at a village: each is four Loro changes' worth of actions at the window (accept,
submit, approve by 村委会, then supplement or deliver). The first cases go through the
public `cases.accept` / `cases.act`; the rest through `make_case_fast`, which writes the
same document with public pieces only (`Store.new_doc`, `Doc.update` / `append`,
`Store.save`, `projections.refresh`) without re-reading document and catalog for every
action: three to four times faster (2000 cases on a busy 2-core machine: 29 s through
accept/act, 7.5 s). It saves a case once, as one change (the seal would merge one change
per action into one anyway: contiguous changes of one peer travel as one). The shape check
compares the documents of both paths, so a drift of the library's case document from this
maker shows in the results (`shape_ok`); a change in how `accept` numbers its cases stops
the run.

`Gen.window_application`, `working_days` and `slot` make bench_local's day at the window.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from yimen.node import home
from yimen.node.cli.progress import counted as progress
from yimen.node.services import cases, catalog, clerks
from yimen.schema import case as lifecycle
from yimen.schema.catalog import DEPARTMENTS, parse_catalog_json
from yimen.schema.idnumber import check_digit, validate_id_number

TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=home.CHINA_TZ)
START = TODAY - timedelta(days=60)
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
            "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉志鹏海燕春梅林"
         "丹宇浩婷雪琳晨欣怡俊思源佳慧子轩梓涵雨桐嘉宁德福贵荣金凤秋菊冬生")
SUPPLEMENT_REASONS = ("户口簿复印件不清晰，请重新提供", "收入证明缺少单位盖章", "申请表未签字",
                      "相片不符合要求", "证明材料已过期，请提供近三个月内的证明", "家庭成员信息填写不完整")
CLERKS = (("c01", "李敏"), ("c02", "王芳"), ("c03", "陈美玲"))
SAMPLE_CATALOG = "data/catalog_sample.json"  # in the yimen.node package
OPEN_MINUTES = (8 * 60 + 30, 17 * 60 + 30)  # the service window: 08:30-17:30
TESTS = Path(__file__).resolve().parents[2] / "tests"


# -- catalog and clerks -------------------------------------------------------------------------
def sample_catalog_text() -> str:
    return (resources.files("yimen.node") / SAMPLE_CATALOG).read_text("utf-8")


def catalog_text(wait_s: float) -> tuple[str, str]:
    """The shipped sample catalog (waiting up to `wait_s` for it to appear and parse), or
    the tests' mini catalog; and where it came from."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            text = sample_catalog_text()
            if parse_catalog_json(text, "2026-01-01"):
                return text, "node/" + SAMPLE_CATALOG
        except Exception as e:  # noqa: BLE001 - still being written, or absent
            err = e
        else:
            err = None
        if time.monotonic() >= deadline:
            break
        print(f"catalog_sample.json not usable yet ({err}); waiting", file=sys.stderr)
        time.sleep(5)
    sys.path.insert(0, str(TESTS))
    from support import MINI_CATALOG  # type: ignore[import-not-found]
    return MINI_CATALOG, "tests/support MINI_CATALOG"


def publish_catalog(node: home.Node, text: str) -> None:
    catalog.import_items(node, parse_catalog_json(text, "2026-01-01"))


def add_clerks(node: home.Node) -> list[str]:
    """The three clerks of `CLERKS`, each with every department; returns their ids."""
    for clerk_id, name in CLERKS:
        clerks.add(node, clerk_id, name, list(DEPARTMENTS))
    return [clerk_id for clerk_id, _ in CLERKS]


# -- when: the window's working days ----------------------------------------------------------
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


# -- applicants and applications ----------------------------------------------------------------
class Gen:
    """Applicants and applications from fixed-seed generators. Names come from `rng` unless
    `name_seed` gives them a generator of their own; `districts` are the two digits after
    4406 of the id numbers; `compound` is the share of compound surnames."""

    def __init__(self, seed: int, name_seed: int | None = None,
                 districts: tuple[str, ...] = ("08", "04", "05", "06", "07"), compound: float = 0.0):
        self.rng = random.Random(seed)
        self.names = self.rng if name_seed is None else random.Random(name_seed)
        self.districts, self.compound = districts, compound

    def name(self) -> str:
        r = self.names
        compound = self.compound and r.random() < self.compound
        surname = r.choice(COMPOUND_SURNAMES) if compound else r.choice(SURNAMES)
        return surname + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2, 2))))

    def id_number(self) -> str:
        r = self.rng
        birth = date(1935, 1, 1) + timedelta(days=r.randrange(365 * 73))  # 1935..2007
        district = r.choice(self.districts) if len(self.districts) > 1 else self.districts[0]
        body = f"4406{district}{birth:%Y%m%d}{r.randrange(1000):03d}"
        return body + check_digit(body)

    def sha(self) -> str:
        return hashlib.sha256(self.rng.randbytes(32)).hexdigest()

    def phone(self, share: float) -> str:
        r = self.rng
        # prefixes of real mobile networks: accept checks the number (`schema.phone`)
        return f"{r.choice(('138', '150', '186', '199'))}{r.randrange(10**8):08d}" if r.random() < share else ""

    def chain_application(self, item) -> tuple[cases.Application, str | None]:
        """The sync benchmark's: three materials provided with their scans' SHA-256 (two
        when an item of four defers one, or one of three does); optional ones not brought."""
        r = self.rng
        needed = [m for m in item.materials if m.requirement != "optional"]
        deferrable = [m.name for m in needed if m.requirement == "deferrable"]
        deferred = r.choice(deferrable) if deferrable and (len(needed) > 3 or r.random() < 0.4) else None
        provided = {m.name: self.sha() for m in needed if m.name != deferred}
        app = cases.Application(item.code, self.id_number(), self.name(), provided,
                                {deferred: None} if deferred else {}, self.phone(0.8))
        return app, deferred

    def window_application(self, item) -> cases.Application:
        """The local benchmark's: every item; a quarter of the promised ones defer a
        deferrable material, optional materials are brought 30% of the time."""
        r = self.rng
        deferrable = [m.name for m in item.materials if m.requirement == "deferrable"]
        deferred: dict[str, str | None] = {}
        if deferrable and not item.immediate and r.random() < 0.25:
            deferred[r.choice(deferrable)] = None
        provided = {m.name: self.sha() for m in item.materials
                    if m.name not in deferred and (m.requirement != "optional" or r.random() < 0.3)}
        phone = self.phone(0.7)
        return cases.Application(item.code, self.id_number(), self.name(), provided, deferred, phone)


# -- the sync benchmark's cases -----------------------------------------------------------------
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


def make_case_api(node: home.Node, clock: home.SettableClock, gen: Gen, item, at: datetime) -> str:
    app, deferred = gen.chain_application(item)
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


def materials_of(item, app: cases.Application, deadline: str) -> dict[str, dict[str, Any]]:
    """A case's `materials` map, as `cases.accept` writes it for a valid application."""
    out: dict[str, dict[str, Any]] = {}
    for m in item.materials:
        if m.name in app.provided:
            out[m.name] = {"status": "provided", "sha256": app.provided[m.name], "doc_type": m.doc_type}
        elif m.name in app.deferred:
            out[m.name] = {"status": "deferred", "due": app.deferred[m.name] or deadline, "doc_type": m.doc_type}
        elif m.requirement == "optional":
            out[m.name] = {"status": "missing", "doc_type": m.doc_type}
        else:
            raise ValueError(f"{item.code}: mandatory material {m.name} neither provided nor deferred")
    return out


def make_case_fast(node: home.Node, clock: home.SettableClock, gen: Gen, item, at: datetime) -> str:
    """The document `accept` + three `act` calls make, in one `Store.save`."""
    app, deferred = gen.chain_application(item)
    clerk = gen.rng.choice(CLERKS)[0]
    clock.now = at
    today = at.date()
    applicant_id = validate_id_number(app.applicant_id, today=today)
    deadline = node.calendar.add_working_days(today, item.time_limit_days).isoformat()
    materials = materials_of(item, app, deadline)
    action, kw = fourth_action(gen, deferred)
    steps = [("accept", item.department, {}), ("submit", item.department, {}),
             ("approve", "村委会", {"step": 0, "department": "村委会"}), (action, item.department, kw)]
    events = []
    for i, (act, role, extra) in enumerate(steps):
        if i:
            clock.now += timedelta(minutes=gen.rng.uniform(5, 120)) if i == 1 else \
                timedelta(hours=gen.rng.uniform(2, 48) if i == 2 else gen.rng.uniform(1, 72))
        events.append(lifecycle.Event(act, clerk, role, node.node_id, node.now(), reason=extra.get("reason", ""),
                                      step=extra.get("step"), department=extra.get("department"),
                                      material=extra.get("material")))
    return save_case(node, item, applicant_id, app, materials, events)


def save_case(node: home.Node, item, applicant_id: str, app: cases.Application,
              materials: dict[str, Any], events: list[lifecycle.Event]) -> str:
    """Store the case as `accept` does (`cases.record`: each event checked, the next
    receipt number, projection rows)."""
    return cases.record(node, item, applicant_id, app, materials, events)["case_id"]


def shape(value: dict[str, Any]) -> tuple:
    return (tuple(sorted(value)), tuple(sorted(value["case"])),
            tuple(sorted({(e["action"], tuple(sorted(e))) for e in value["history"]})),
            tuple(sorted({(m["status"], tuple(sorted(m))) for m in value["materials"].values()})))


def generate(node: home.Node, clock: home.SettableClock, n: int, seed: int, api_n: int) -> dict[str, Any]:
    """`n` cases at the village, the first `api_n` through `cases.accept`/`act`."""
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
    return {"ids": ids, "gen_s": gen_s, "api_cases": min(api_n, n), "items": len(items),
            **check_generated(node, ids, seed, api_n)}


def check_generated(node: home.Node, ids: list[str], seed: int, api_n: int) -> dict[str, Any]:
    """Same document shape on both paths (a fast-path bug would make the benchmark lie),
    every case in review or waiting for a supplement with no conflict."""
    n, conn = len(ids), node.store.conn
    api_shapes = {shape(node.store.get(c).value()) for c in ids[:api_n]}
    fast_sample = random.Random(seed).sample(ids[api_n:], min(200, n - api_n)) if n > api_n else []
    fast_shapes = {shape(node.store.get(c).value()) for c in fast_sample}
    sample = random.Random(seed + 7).sample(ids, min(500, n))
    sizes = [len(json.dumps(node.store.get(c).value(), ensure_ascii=False).encode()) for c in sample]
    statuses = dict(conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())
    conflicts = conn.execute("SELECT count(*) FROM cases WHERE conflicts > 0").fetchone()[0]
    if conflicts or not set(statuses) <= {"in_review", "supplement"} or node.store.count("case") != n:
        raise RuntimeError(f"generated cases are not as intended: {statuses}, {conflicts} with conflicts, "
                           f"{node.store.count('case')} case documents for {n}")
    return {"shape_ok": fast_shapes <= api_shapes or not fast_shapes or not api_shapes,
            "shape_detail": sorted(map(str, fast_shapes - api_shapes))[:3],
            "case_json_bytes": round(sum(sizes) / len(sizes)), "statuses": statuses,
            "conflicts": conflicts,
            "changes": conn.execute("SELECT count(*) FROM changes WHERE kind='case'").fetchone()[0]}


def extra_actions(node: home.Node, clock: home.SettableClock, case_ids: list[str], rng: random.Random) -> int:
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
