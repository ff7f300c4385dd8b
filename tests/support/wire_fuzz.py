"""The fuzz hub: a town's real server with two villages enrolled, the valid messages a real
village sends it (the base the mutators of `support.mutate` start from), and the
invariants every answer must keep. Used by tests/node/server/test_fuzz_routes.py and by
scripts/fuzz_wire.py (which also runs it against a `yimen serve` process).

Invariants, for every request:
- an answer comes (the connection is never dropped), and when it is not 2xx it is JSON
  with an `error` code;
- no 5xx at all, except 503 `node_busy` (the database was busy: the sender retries);
- no traceback in the answer, and nothing logged at ERROR level while it was handled;
- nothing written for a refused request (any answer but 2xx and 422, which stores the
  good seals of a batch and quarantines the rest): SQLite's `data_version`, read from a
  connection of our own, is what it was;
- a push whose only mutations are inside its seals (well formed, well signed) goes in
  (200, or 422 with the bad seals quarantined alone): one seal never refuses a batch;
- what was accepted can be applied: the hub's apply (`catch_up`) never fails on it, and
  every case listed has the identity its id and verified scope give it (no body can
  list a case as another node's).
Afterwards `still_serves` checks that the hub still syncs a good peer: a fresh case from
the other village goes up, and a catalog change comes down to it; and that village A
itself is not cut off (a case it sealed before the round still goes up).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import MINI_CATALOG, id_number
from support.chain import push
from support.mutate import Context, EnrollPlan, Plan
from support.served import Answer, Request, ServedNode
from yimen.node import home
from yimen.node.replication import catch_up_all, engine, signing_key
from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.node.services.uplink import sync_once
from yimen.schema.catalog import parse_catalog_json
from yimen.schema import region
from yimen.schema.errors import YimenError
from yimen.sync import digests
from yimen.sync.engine import public_bytes
from yimen.sync.transports import wire

TOWN, VA, VB, STRANGER = "440608100", "440608100201", "440608100202", "440608100203"
ROUTES = ("/v1/hello", "/v1/push", "/v1/pull", "/v1/reconcile", "/v1/seals", "/v1/enroll", "/v1/status")


class Server(Protocol):
    """The hub's server as the fuzz sees it (in this process, or a `yimen serve`)."""

    url: str

    def data_version(self) -> int: ...
    def error_lines(self) -> list[str]: ...
    def call(self, fn: Any, *args: Any) -> Any: ...
    def settle(self) -> None: ...
    def send(self, request: Request) -> Answer: ...


class InProcess(ServedNode):
    """`ServedNode` with the interface the fuzz hub uses (the materializer off: what a push
    stored is applied by `settle`, so the hub is quiet between requests)."""

    def error_lines(self) -> list[str]:
        return self.errors.since(0)

    def settle(self) -> None:
        self.call(catch_up_all, self.node)


@dataclass
class Outcome:
    route: str
    what: str
    answer: Answer
    problems: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)  # at ERROR level while it was handled
    partial_write: bool = False

    @property
    def status_class(self) -> str:
        return "dropped" if self.answer.status is None else f"{self.answer.status // 100}xx"

    def describe(self) -> str:
        return (f"{self.route} answered {self.answer.status} {self.answer.body[:300]!r}"
                f" to {self.what}: " + "; ".join(self.problems))


@dataclass
class Tally:
    """The figures of a fuzz run."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_route: Counter = field(default_factory=Counter)
    server_errors: int = 0  # 5xx answers (503 node_busy included); dropped connections are counted apart
    tracebacks: int = 0
    partial_writes: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        self.requests += 1
        self.statuses[o.status_class] += 1
        self.by_route[o.route, o.status_class] += 1
        self.server_errors += o.answer.status is not None and o.answer.status >= 500
        self.tracebacks += bool(TRACEBACK.search(o.answer.body)) or any("with traceback" in line for line in o.logged)
        self.partial_writes += o.partial_write
        self.problems += [o.describe()] if o.problems else []

    def figures(self) -> dict[str, Any]:
        return {"requests": self.requests, "statuses": dict(sorted(self.statuses.items())),
                "5xx": self.server_errors, "dropped": self.statuses["dropped"], "tracebacks": self.tracebacks,
                "partial_writes": self.partial_writes, "problems": len(self.problems)}


def enrolled_villages(root: Path, town: home.Node) -> dict[str, home.Node]:
    """Villages A and B enrolled at `town` (and a stranger that never was), each with the
    clerk c01."""
    villages = {rc: home.init(root / rc, rc, f"村{rc[-3:]}") for rc in (VA, VB, STRANGER)}
    for rc in (VA, VB):
        enrollment.apply_answer(villages[rc], enrollment.admit(town, enrollment.request(villages[rc])))
    for v in villages.values():
        clerks.add(v, "c01", "李敏", ["民政", "社保", "村委会"])
    return villages


def make_town(root: Path) -> tuple[home.Node, dict[str, home.Node]]:
    """The town with the mini catalog and its villages; A and B hold the catalog and have
    each sent the town a first case (so the town knows their Loro peers)."""
    town = home.init(root / "town", TOWN, "荷城街道")
    villages = enrolled_villages(root, town)
    catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
    for rc in (VA, VB):
        push(town, villages[rc])
        cases.accept(villages[rc], "c01", cases.Application("T-IMM", id_number(900 + int(rc[-1])), "陈美玲",
                                                           {"居民身份证": None}, {}))
        push(villages[rc], town)
    return town, villages


def make_template(root: Path) -> Path:
    """`make_town` in `root`, closed: what `open_copy` copies."""
    town, villages = make_town(root)
    for n in (town, *villages.values()):
        n.close()
    return root


def open_copy(template: Path, folder: Path) -> tuple[home.Node, dict[str, home.Node]]:
    """A fresh copy of the template's town and villages."""
    for name in ("town", VA, VB, STRANGER):
        shutil.copytree(template / name, folder / name)
    return home.open_node(folder / "town"), {rc: home.open_node(folder / rc) for rc in (VA, VB, STRANGER)}


def context(town: home.Node, thief: home.Node, victim: home.Node) -> Context:
    """The thief's key, and what `Named` values stand for: the victim village, its Loro
    peer (bound to it at the town), one of its future receipt numbers, ..."""
    year = thief.clock().year
    return Context(signing_key(thief), thief.node_id, town.node_id, {
        "victim": victim.node_id, "victim_peer": victim.store.peer, "stranger": STRANGER,
        "parent": "440608000000", "hub": town.node_id, "city": "440600000000",
        "victim_case": f"{victim.node_id}-{year}-000999", "hub_item": f"item:{town.node_id}:T-IMM",
        "victim_record": f"node:{victim.node_id}"})


class Hub:
    """The base messages a real village A sends, the checks, and the good peer B."""

    def __init__(self, server: Server, town: home.Node, villages: dict[str, home.Node]):
        self.server, self.town, self.villages = server, town, villages
        self.va, self.vb, self.stranger = villages[VA], villages[VB], villages[STRANGER]
        self.tally = Tally()
        self.stalled_by = ""  # the first request whose seals the hub could not apply
        self.cases = iter(range(1, 10**6))
        self.regions = iter(range(300, 1000))
        self.catalog_version = 3
        for v in (self.va, self.vb):
            v.config = replace(v.config, parent_url=server.url)
        self.ctx = context(town, self.va, self.vb)

    def new_case(self, village: home.Node) -> str:
        app = cases.Application("T-IMM", id_number(next(self.cases)), "陈美玲", {"居民身份证": None}, {})
        return cases.accept(village, "c01", app)["case_id"]

    # -- the base: what village A really sends ------------------------------------------------
    def base(self, path: str) -> dict[str, Any]:
        if path == "/v1/push":
            return self._push()
        if path == "/v1/pull":
            since = engine(self.va).positions(self.town.node_id)[0]
            return {"protocol": wire.PROTOCOL, "since": since, "max_bytes": 1 << 20, "wait": 0}
        if path == "/v1/reconcile":
            return {"protocol": wire.PROTOCOL, "digests": digests.digests(digests.listing(self.va.store))}
        if path == "/v1/seals":
            ids = [r[0] for r in self.va.store.conn.execute("SELECT case_id FROM cases LIMIT 3")]
            return {"protocol": wire.PROTOCOL, "docs": ids}
        if path == "/v1/enroll":
            return self._enroll()
        return {"protocol": wire.PROTOCOL}

    def held(self) -> int:
        """How far the town says it holds village A's feed."""
        return self.server.call(lambda: engine(self.town).positions(VA)[0])

    def _push(self) -> dict[str, Any]:
        """A fresh case of village A's, sealed, in the batch the town is due next (from
        where the town says it holds A's feed, or from the fresh seal if the town says
        it holds more than A ever had)."""
        self.new_case(self.va)
        eng = engine(self.va)
        head = eng.feed_head()
        eng.seal_pending()
        batch = eng.next_batch(self.town.node_id, min(self.held(), head))
        return {"protocol": wire.PROTOCOL, "start": batch.start, "next": batch.next,
                "seals": [[b, s] for b, s in batch.seals]}

    def _enroll(self) -> dict[str, Any]:
        region = f"440608100{next(self.regions):03d}"
        code = self.server.call(enrollment.invite, self.town, region)["code"]
        key = public_bytes(Ed25519PrivateKey.generate()).hex()
        return {"code": code, "request": {"type": "enroll_request", "protocol": enrollment.PROTOCOL,
                                          "region": region, "name": "新村", "public_key": key, "address": ""}}

    def request(self, path: str, plan: Plan | EnrollPlan | Request) -> Request:
        if isinstance(plan, Request):
            return plan
        base = self.base(path)
        return plan.apply(base, self.ctx) if isinstance(plan, EnrollPlan) else plan.apply(path, base, self.ctx)

    # -- the checks -----------------------------------------------------------------------------
    def check(self, path: str, plan: Any) -> Outcome:
        request = self.request(path, plan)
        forged = self.server.call(misattributed_cases, self.town) if path == "/v1/push" else []
        version, logged = self.server.data_version(), len(self.server.error_lines())
        answer = self.server.send(request)
        outcome = Outcome(path, repr(plan)[:2000], answer)
        outcome.problems += _answer_problems(request, answer)
        outcome.logged = self.server.error_lines()[logged:]
        if outcome.logged:
            outcome.problems.append(f"logged at ERROR level: {outcome.logged[:3]}")
        accepted = answer.status is not None and (200 <= answer.status < 300 or answer.status == 422)
        if isinstance(plan, Plan) and plan.only_seals and path == "/v1/push" and not accepted:
            outcome.problems.append("the whole batch refused for a bad seal (it must be quarantined alone)")
        if not accepted and self.server.data_version() != version:
            outcome.partial_write = True
            outcome.problems.append("a refused request wrote to the database")
        if accepted and path == "/v1/push":
            try:
                self.server.settle()
            except Exception as e:  # noqa: BLE001 (what the hub's apply raised is the finding)
                self.stalled_by = self.stalled_by or outcome.what
                outcome.problems.append(f"the hub's apply failed on what it accepted: {e!r}; "
                                        f"it has failed since it accepted {self.stalled_by}")
            outcome.problems += [p for p in self.server.call(misattributed_cases, self.town) if p not in forged]
        self.tally.add(outcome)
        return outcome

    def still_serves(self) -> None:
        """Village B's fresh case goes up, and the town's new catalog version comes down;
        and village A itself (whose key signed the mutations) still gets its cases up,
        one of them sealed before the round (as a round whose link broke leaves it): an
        acknowledgement the town was tricked into must not cut A off."""
        sealed_before = self.new_case(self.va)
        engine(self.va).seal_pending()
        self.syncs(self.va, sealed_before)
        self.syncs(self.vb)

    def syncs(self, village: home.Node, *earlier: str) -> None:
        case_id = self.new_case(village)
        self.catalog_version += 1
        changed = MINI_CATALOG.replace('"time_limit_days": 3', f'"time_limit_days": {self.catalog_version}')
        self.server.call(catalog.import_items, self.town, parse_catalog_json(changed, "2026-01-01"))
        stats = asyncio.run(asyncio.wait_for(sync_once(village), 60))
        # (village A's older seals may be quarantined: its own key rewrote its own documents)
        assert stats.pushed >= 1 and (village is self.va or not stats.quarantined), stats
        asyncio.run(asyncio.wait_for(sync_once(village), 60))
        self.server.settle()
        for cid in (*earlier, case_id):
            row = self.server.call(lambda: self.town.store.conn.execute(
                "SELECT node FROM cases WHERE case_id = ?", (cid,)).fetchone())
            assert row == (village.node_id,), f"{village.node_id}'s case {cid} is not listed at the town: {row}"
        assert catalog.current(village, "T-LOCAL").time_limit_days == self.catalog_version


def misattributed_cases(node: home.Node) -> list[str]:
    """Listed cases whose identity is not the verified one: a case id names its node, the
    row's scope and node are that node, and the document is held in that scope."""
    rows = node.store.conn.execute(
        "SELECT c.case_id, c.scope, c.node, d.scope FROM cases c JOIN docs d ON d.doc_id = c.case_id").fetchall()
    out = []
    for case_id, scope, by, held in rows:
        try:
            held = region.normalize(held)
        except YimenError:
            pass
        if not (case_id[:12] == scope == by == held):
            out.append(f"case {case_id} listed as of scope {scope} by {by}, held in scope {held!r}")
    return out


TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")


def _answer_problems(request: Request, answer: Answer) -> list[str]:
    if answer.status is None:
        return [f"no answer: the connection was dropped ({answer.failure})"]
    problems = []
    if TRACEBACK.search(answer.body):
        problems.append("a traceback in the answer")
    if answer.status >= 500 and not (answer.status == 503 and b"node_busy" in answer.body):
        problems.append(f"a server error {answer.status}")
    if not 200 <= answer.status < 300 and request.method != "HEAD":
        try:
            error = json.loads(answer.body).get("error")
        except (ValueError, AttributeError):
            error = None
        if answer.content_type != "application/json" or not isinstance(error, str) or not error:
            problems.append(f"not a JSON error ({answer.content_type})")
    return problems
