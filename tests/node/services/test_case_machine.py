"""Stateful test of the case lifecycle through the real services on a real node: random
acceptances, refusals and actions by random clerks, with the clock moving. Every action
either succeeds or changes nothing, and the projections always agree with the documents."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from support import MINI_CATALOG, VILLAGE, Clock, dump, id_number
from yimen.node.services import cases, catalog, clerks
from yimen.node import home
from yimen.node.projections import case_events, deferred_materials
from yimen.schema import case as lifecycle
from yimen.schema.catalog import parse_catalog_json
from yimen.schema.errors import YimenError

ITEM_CODES = ("T-IMM", "T-LOCAL", "T-DIBAO")
ITEM_MATERIALS = {i.code: tuple(m.name for m in i.materials)
                  for i in parse_catalog_json(MINI_CATALOG, "2026-01-01")}
MATERIALS = ("居民身份证", "户口簿", "相片", "收入证明")
# Repeats weight the draws toward what can succeed, so cases get far in 25 steps.
HOW = ("provided",) * 5 + ("deferred", "absent")
ACTS = tuple(a for a in lifecycle.ACTIONS if a not in ("accept", "not_accepted"))
LIKELY_ACTS = ACTS + ("submit", "approve", "approve", "approve", "deliver", "issue_result",
                      "complete", "supply")
FORWARD = ("submit", "approve", "deliver", "issue_result", "complete", "supply")
CLERKS = ("c01", "c01", "c01", "c02")
REASONS = ("", "  ", "材料不清晰", "申请人不符合条件")
DEPARTMENTS = (None, None, None, "民政", "村委会", "社保")


class CaseMachine(RuleBasedStateMachine):
    cases = Bundle("cases")

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="yimen-machine-"))
        self.clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))
        self.node = home.init(self.tmp / "village", VILLAGE, "示范村党群服务中心", clock=self.clock)
        catalog.import_items(self.node, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
        clerks.add(self.node, "c01", "李敏", ["民政", "社保", "村委会"])
        clerks.add(self.node, "c02", "王芳", ["社保"])
        self.seq = 0
        self.histories: dict[str, list] = {}  # case id -> history last seen
        self.terminal: dict[str, str] = {}  # case id -> terminal status once reached

    def teardown(self):
        self.node.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _attempt(self, call):
        """Run a service call; on a refusal the database must be exactly as before."""
        before = dump(self.node)
        try:
            return call()
        except YimenError:
            assert dump(self.node) == before
            return None

    # ------------------------------------------------------------------ rules
    @rule(target=cases, code=st.sampled_from(ITEM_CODES), clerk=st.sampled_from(CLERKS),
          data=st.data())
    def accept(self, code, clerk, data):
        """Each of the item's materials provided, deferred or absent; sometimes one the item
        does not have."""
        self.seq += 1
        names = list(ITEM_MATERIALS[code])
        if data.draw(st.integers(0, 9), label="foreign material") == 0:
            names.append("不存在的材料")
        how = {m: data.draw(st.sampled_from(HOW), label=m) for m in names}
        provided = {m: None for m, h in how.items() if h == "provided"}
        deferred = {m: None for m, h in how.items() if h == "deferred"}
        app = cases.Application(code, id_number(self.seq), "陈美玲", provided, deferred)
        row = self._attempt(lambda: cases.accept(self.node, clerk, app))
        if row is None:
            return multiple()
        assert row["status"] == ("completed" if code == "T-IMM" else "accepted")
        assert row["deferred_open"] == len(deferred)
        return row["case_id"]

    @rule(target=cases, code=st.sampled_from(ITEM_CODES), clerk=st.sampled_from(CLERKS),
          reason=st.sampled_from(REASONS), often_skip=st.integers(0, 3))
    def not_accept(self, code, clerk, reason, often_skip):
        if often_skip:  # refused applications are dead ends: make them rarer than cases
            return multiple()
        self.seq += 1
        row = self._attempt(lambda: cases.not_accept(
            self.node, clerk, code, id_number(self.seq), "王建国", reason))
        if row is None:
            assert not reason.strip() or clerk == "c02" and code != "T-IMM"
            return multiple()
        assert row["status"] == "not_accepted"
        return row["case_id"]

    @rule(case_id=cases, action=st.sampled_from(LIKELY_ACTS), clerk=st.sampled_from(CLERKS),
          reason=st.sampled_from(REASONS), department=st.sampled_from(DEPARTMENTS),
          material=st.sampled_from((None,) + MATERIALS + ("户口簿", "收入证明")))
    def act(self, case_id, action, clerk, reason, department, material):
        old = self.histories[case_id]
        row = self._attempt(lambda: cases.act(self.node, case_id, action, clerk, reason=reason,
                                              department=department, material=material))
        history = self.node.store.get(case_id).value()["history"]
        if row is None:
            assert history == old
        else:
            assert len(history) == len(old) + 1 and history[-1]["action"] == action
            assert history[-1]["actor"] == clerk and history[-1]["node"] == VILLAGE

    @rule(case_id=cases, reason=st.sampled_from(REASONS[2:]), times=st.integers(1, 4),
          data=st.data())
    def act_next(self, case_id, reason, times, data):
        """Up to `times` actions the node itself offers for the case (`show`'s next_actions,
        mostly ones that move it forward); each succeeds for c01, who holds every role the
        mini catalog needs. The node's own clerks only, so the invariants run after each."""
        for _ in range(times):
            shown = cases.show(self.node, case_id)
            if not shown["next_actions"]:
                assert shown["status"] in lifecycle.TERMINAL
                return
            forward = [a for a in shown["next_actions"] if a in FORWARD]
            choices = forward if forward and data.draw(st.integers(0, 3), label="forward") \
                else shown["next_actions"]
            action = data.draw(st.sampled_from(choices), label="action")
            outstanding = sorted(n for n, m in shown["materials"].items()
                                 if m["status"] == "deferred" and not self._delivered(case_id, n))
            material = outstanding[0] if action == "deliver" else None
            row = cases.act(self.node, case_id, action, "c01", reason=reason, material=material)
            assert row["last_action"] == action
            self.projections_follow_the_documents()

    def _delivered(self, case_id, name):
        history = self.node.store.get(case_id).value()["history"]
        return any(e["action"] == "deliver" and e.get("material") == name for e in history)

    @rule(hours=st.integers(min_value=1, max_value=72))
    def advance_clock(self, hours):
        self.clock.advance(hours=hours)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def projections_follow_the_documents(self):
        store = self.node.store
        docs = list(store.docs("case"))
        assert store.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == len(docs)
        for doc in docs:
            value = doc.value()
            case_id, history = doc.doc_id, value["history"]
            old = self.histories.get(case_id, [])
            assert history[:len(old)] == old, "history lost or rewrote an event"
            self.histories[case_id] = history
            item = catalog.of_case(self.node, value["case"])
            state = lifecycle.replay(case_events(value), item, deferred_materials(value))
            assert state.status in lifecycle.STATUSES
            assert state.conflicts == ()  # one node, no merges: nothing can lose
            status, n_conflicts = store.conn.execute(
                "SELECT status, conflicts FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            assert status == state.status and n_conflicts == 0
            n_events = store.conn.execute(
                "SELECT count(*) FROM case_events WHERE case_id = ?", (case_id,)).fetchone()[0]
            assert n_events == len(history)
            if case_id in self.terminal:
                assert status == self.terminal[case_id], "a terminal case moved on"
            elif status in lifecycle.TERMINAL:
                self.terminal[case_id] = status


CaseMachine.TestCase.settings = settings(CaseMachine.TestCase.settings, max_examples=30,
                                         stateful_step_count=25)
TestCaseMachine = CaseMachine.TestCase
