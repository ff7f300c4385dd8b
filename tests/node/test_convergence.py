"""Convergence of the chain under an unreliable transport.

Five real nodes (city → district → town → villages A and B, see chain.py) are joined by an
in-memory transport that loses, duplicates, reorders and delays batches, loses
acknowledgements, and cuts and heals links, while clerks accept and act on cases at the
villages and the town, the city publishes catalog changes and node processes restart. Whatever happened, once every
link is healed and the nodes sync to quiescence:

1. every node's projections equal a rebuild from its own documents;
2. a document held by two nodes has the same value at both;
3. every node holds exactly the documents it may see (`visible`), so a case of village A
   is never at village B;
4. no change is lost or applied twice: every holder of a document has the same change rows,
   nothing is pending and nothing is quarantined (nothing here is forged); every event the
   clerks wrote is in the history, once.

The transport follows the engine's protocol: a sender offers `next_batch(dst, since)` from
what it believes the receiver holds (the last acknowledgement, `positions(dst)[1]`), or,
pipelining, from the end of the last batch it sent; the receiver refuses a batch that
starts past what it holds (`OutOfOrder`: a gap, nothing written) and acknowledges
`recv_upto`, which may be lost on the way back.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from support.chain import PARENT, make_chain, push, sync_all
from support import MINI_CATALOG, Clock, id_number
from yimen.sync.store import driver
from yimen.node.services import cases, catalog
from yimen.node import home
from yimen.node.home import CHINA_TZ, Node
from yimen.node.projections import dump, rebuild
from yimen.node.replication import engine
from yimen.schema import case as lifecycle
from yimen.schema.catalog import parse_catalog_json
from yimen.schema.errors import YimenError
from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync.visibility import flow, visible

VILLAGES = ("village_a", "village_b")
LINKS = tuple(PARENT)  # a link is named by its child; it carries both directions
DIRECTED = tuple((c, p) for c, p in PARENT.items()) + tuple((p, c) for c, p in PARENT.items())
CLERK = {"village_a": "c01", "village_b": "c01", "town": "t01"}
BATCH_BYTES = 1024  # small: one or two seals per batch, so streams need several batches

ITEM_CODES = ("T-IMM", "T-LOCAL", "T-DIBAO")
# Most runs start with the catalog and node records everywhere; some start from nothing synced,
# where first contact happens through the unreliable transport (see
# test_record_and_seal_of_its_node_in_one_batch).
START_SYNCED = (1, 1, 1, 0)
ACTS = tuple(a for a in lifecycle.ACTIONS if a not in ("accept", "not_accepted"))
# Repeats weight the draws toward what can succeed, so cases get somewhere in 30 steps.
LIKELY_ACTS = ACTS + ("submit", "submit", "approve", "approve", "approve", "approve",
                      "deliver", "issue_result", "complete")
REASONS = ("", "材料不清晰")


def _catalog_with_local_limit(days: int):
    text = MINI_CATALOG.replace('"time_limit_days": 3,', f'"time_limit_days": {days},')
    assert text != MINI_CATALOG or days == 3
    return parse_catalog_json(text, "2026-01-01")


def _application(code: str, seq: int, defer: bool) -> cases.Application:
    """A complete application for `code`; with `defer`, the deferrable material comes later."""
    if code == "T-IMM":
        return cases.Application(code, id_number(seq), "陈美玲", {"居民身份证": None}, {})
    later = {"T-LOCAL": "户口簿", "T-DIBAO": "收入证明"}[code]
    provided = {"居民身份证": None} if defer else {"居民身份证": None, later: None}
    return cases.Application(code, id_number(seq), "陈美玲", provided, {later: None} if defer else {})


def _held(node: Node) -> dict[str, tuple[str, str]]:
    """doc_id -> (kind, scope) of every document the node holds."""
    return {d: (k, s) for d, k, s in node.store.conn.execute("SELECT doc_id, kind, scope FROM docs")}


def _count(node: Node, table: str) -> int:
    return node.store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


class Chain:
    """The five nodes and the unreliable transport between them (shared by the state
    machine and the fixed scenario)."""

    def __init__(self, root: Path):
        self.root = root
        self.clock = Clock(datetime(2026, 11, 16, 9, 0, tzinfo=CHINA_TZ))  # a Monday
        self.nodes = make_chain(root, clock=self.clock)
        self.queues: dict[tuple[str, str], list[Batch]] = {d: [] for d in DIRECTED}
        self.sent_hint: dict[tuple[str, str], int] = {d: 0 for d in DIRECTED}  # end of last batch sent
        self.cut: set[str] = set()
        self.events: dict[str, int] = {}  # case id -> events written by the clerks
        self.local_limit = 3
        self.seq = 0
        self.stats = {"gaps": 0, "delivered": 0, "acks_lost": 0, "dropped": 0}

    def close(self) -> None:
        for n in self.nodes.values():
            n.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- transport ---------------------------------------------------------------------------
    @staticmethod
    def link_of(src: str, dst: str) -> str:
        return src if PARENT.get(src) == dst else dst

    def send(self, src: str, dst: str, copies: int = 1, pipeline: bool = False) -> Batch | None:
        if self.link_of(src, dst) in self.cut:
            return None
        e = engine(self.nodes[src])
        e.seal_pending()
        since = e.positions(self.nodes[dst].node_id)[1]
        if pipeline:
            since = max(since, self.sent_hint[(src, dst)])
        batch = e.next_batch(self.nodes[dst].node_id, since, BATCH_BYTES)
        assert batch.start == since and batch.next >= since
        assert batch.size <= BATCH_BYTES or len(batch.seals) == 1
        self.sent_hint[(src, dst)] = max(self.sent_hint[(src, dst)], batch.next)
        self.queues[(src, dst)].extend([batch] * copies)
        return batch

    def news(self) -> list[tuple[str, str]]:
        """The live directed links whose sender has seals the receiver has not acknowledged
        (sealing first, as a sender does)."""
        out = []
        for src, dst in DIRECTED:
            if self.link_of(src, dst) not in self.cut:
                e = engine(self.nodes[src])
                e.seal_pending()
                dst_id = self.nodes[dst].node_id
                if e.next_batch(dst_id, e.positions(dst_id)[1], 1).seals:
                    out.append((src, dst))
        return out

    def deliver(self, src: str, dst: str, index: int = 0, ack: bool = True, defer: bool = False) -> bool:
        """Deliver one queued batch (with `defer`, stored and forwarded, applied later by
        `catch_up`); False if the link is cut or nothing is queued."""
        queue = self.queues[(src, dst)]
        if self.link_of(src, dst) in self.cut or not queue:
            return False
        batch = queue.pop(index % len(queue))
        s, d = self.nodes[src], self.nodes[dst]
        held = engine(d).positions(s.node_id)[0]
        if batch.start > held:  # a gap: refused whole, nothing written
            before = list(driver.iterdump(d.store.conn))
            try:
                engine(d).receive(s.node_id, batch)
            except OutOfOrder:
                pass
            else:
                raise AssertionError(f"batch from {batch.start} accepted while holding {held}")
            assert list(driver.iterdump(d.store.conn)) == before
            self.stats["gaps"] += 1
            return True
        receipt = engine(d).receive(s.node_id, batch, defer=defer)
        assert receipt.quarantined == []
        assert receipt.recv_upto == max(held, batch.next)
        assert engine(d).positions(s.node_id)[0] == receipt.recv_upto
        self.stats["delivered"] += 1
        if ack:
            engine(s).set_sent(d.node_id, receipt.recv_upto)
        else:
            self.stats["acks_lost"] += 1
        return True

    def drop(self, src: str, dst: str, index: int = 0) -> None:
        queue = self.queues[(src, dst)]
        if queue:
            queue.pop(index % len(queue))
            self.stats["dropped"] += 1

    def heal_all(self) -> None:
        self.cut.clear()
        for q in self.queues.values():
            q.clear()

    # -- edits ---------------------------------------------------------------------------------
    def accept(self, at: str, code: str, defer: bool = False) -> str | None:
        self.seq += 1
        self.clock.advance(minutes=1)
        try:
            row = cases.accept(self.nodes[at], CLERK[at], _application(code, self.seq, defer))
        except YimenError:  # e.g. the catalog has not reached this village yet
            return None
        case_id = row["case_id"]
        self.events[case_id] = len(self.nodes[at].store.get(case_id).value()["history"])
        assert self.events[case_id] == (2 if code == "T-IMM" else 1)
        return case_id

    def act(self, at: str, case_id: str, action: str, reason: str = "") -> bool:
        node = self.nodes[at]
        value = node.store.get(case_id).value()
        material = next((n for n, m in sorted(value.get("materials", {}).items())
                         if m.get("status") == "deferred"), None)
        self.clock.advance(minutes=1)
        try:
            cases.act(node, case_id, action, CLERK[at], reason=reason,
                      material=material if action == "deliver" else None)
        except YimenError:
            assert node.store.get(case_id).value() == value
            return False
        self.events[case_id] += 1
        return True

    def restart(self, name: str) -> None:
        node = self.nodes[name]
        node.close()
        self.nodes[name] = home.open_node(node.home, clock=self.clock)

    def publish(self, days: int) -> None:
        result = catalog.import_items(self.nodes["city"], _catalog_with_local_limit(days))
        assert result.updated == ([] if days == self.local_limit else ["T-LOCAL"])
        self.local_limit = days

    # -- checks ----------------------------------------------------------------------------------
    def no_quarantine(self) -> None:
        for name, n in self.nodes.items():
            assert _count(n, "quarantine") == 0, f"{name} quarantined a seal"

    def nothing_unseen(self) -> None:
        """No node ever holds a document it may not see."""
        for name, n in self.nodes.items():
            for doc_id, (kind, scope) in _held(n).items():
                assert visible(scope, flow(kind), n.node_id), f"{doc_id} ({scope}) at {name}"

    def converge(self) -> None:
        """Heal, forget everything in flight, sync until nothing moves."""
        self.heal_all()
        sync_all(self.nodes, rounds=6)
        for n in self.nodes.values():
            while engine(n).catch_up():
                pass
        for child, parent in PARENT.items():
            c, p = self.nodes[child], self.nodes[parent]
            assert push(c, p) == 0 and push(p, c) == 0, f"{child}↔{parent} still moving after sync_all"

    def check_converged(self) -> None:
        nodes = self.nodes
        held = {name: _held(n) for name, n in nodes.items()}
        everywhere: dict[str, tuple[str, str]] = {}
        for docs in held.values():
            everywhere.update(docs)

        # (3) every node holds exactly the documents it may see
        for name, n in nodes.items():
            for doc_id, (kind, scope) in everywhere.items():
                may = visible(scope, flow(kind), n.node_id)
                assert (doc_id in held[name]) == may, \
                    f"{doc_id} (kind {kind}, scope {scope}) {'missing at' if may else 'leaked to'} {name}"
                if doc_id in held[name]:
                    assert held[name][doc_id] == (kind, scope)
        assert not set(held["village_a"]) & {d for d, (k, _) in held["village_b"].items() if k == "case"}
        assert not set(held["village_b"]) & {d for d, (k, _) in held["village_a"].items() if k == "case"}

        # (2) one value per document
        values: dict[str, tuple[str, dict]] = {}
        for name, n in nodes.items():
            for doc in n.store.docs():
                v = doc.value()
                if doc.doc_id in values:
                    first, expected = values[doc.doc_id]
                    assert v == expected, f"{doc.doc_id} differs between {first} and {name}"
                else:
                    values[doc.doc_id] = (name, v)

        # (4) the same change rows everywhere, nothing pending, nothing quarantined,
        #     nothing left unsealed, every clerk's event present once
        changes: dict[str, tuple[str, set]] = {}
        for name, n in nodes.items():
            assert _count(n, "pending") == 0, f"pending changes left at {name}"
            assert _count(n, "quarantine") == 0, f"quarantined seals at {name}"
            assert n.store.conn.execute(
                "SELECT count(*) FROM changes WHERE seal_seq IS NULL").fetchone()[0] == 0
            rows: dict[str, set] = {}
            for doc_id, peer, start, end in n.store.conn.execute(
                    "SELECT doc_id, peer, counter_start, counter_end FROM changes"):
                rows.setdefault(doc_id, set()).add((peer, start, end))
            assert set(rows) == set(held[name]), f"{name}: documents without change rows or rows without documents"
            for doc_id, spans in rows.items():
                if doc_id in changes:
                    first, expected = changes[doc_id]
                    assert spans == expected, f"change rows of {doc_id} differ between {first} and {name}"
                else:
                    changes[doc_id] = (name, spans)
        for case_id, n_events in self.events.items():
            assert len(values[case_id][1]["history"]) == n_events, f"{case_id}: events lost or doubled"
        for name, n in nodes.items():
            cat = n.store.get(catalog.doc_id(nodes["city"].node_id, "T-LOCAL")).value()
            latest = cat["versions"][max(cat["versions"], key=int)]
            assert latest["time_limit_days"] == self.local_limit, name

        # (1) projections are a pure function of the documents; every case is projected
        for name, n in nodes.items():
            assert _count(n, "projection_waiting") == 0, f"{name}: a case waits for its catalog item"
            assert _count(n, "cases") == sum(1 for k, _ in held[name].values() if k == "case")
            before = dump(n.store)
            rebuild(n.store, n.calendar)
            assert dump(n.store) == before, f"{name}: projections differ from a rebuild"


class ConvergenceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.chain = Chain(Path(tempfile.mkdtemp(prefix="yimen-convergence-")))

    def teardown(self):
        try:
            # Only when every step passed: otherwise the step's own failure is the report.
            if sys.exc_info()[0] is None:
                self.chain.converge()
                self.chain.check_converged()
        finally:
            self.chain.close()

    @initialize(synced=st.sampled_from(START_SYNCED))
    def start(self, synced):
        """Usually begin with the catalog and the node records everywhere; sometimes from
        nothing synced (the catalog and the keys of the nodes below then travel through the
        unreliable transport too)."""
        if synced:
            sync_all(self.chain.nodes)

    # -- transport ---------------------------------------------------------------------------
    def _link(self, data):
        """A directed link, usually one with something to carry."""
        news = self.chain.news()
        busy = data.draw(st.sampled_from((True, True, True, False)), label="busy")
        return data.draw(st.sampled_from(news if news and busy else DIRECTED), label="link")

    @rule(data=st.data(), copies=st.sampled_from((1, 1, 1, 2)), pipeline=st.sampled_from((False, False, True)))
    def send(self, data, copies, pipeline):
        """Queue the next batch of a link (duplicated sometimes); pipelined, it starts where
        the last batch sent ended instead of at the last acknowledgement."""
        self.chain.send(*self._link(data), copies=copies, pipeline=pipeline)

    def _deliverable(self):
        return sorted(d for d, q in self.chain.queues.items() if q and Chain.link_of(*d) not in self.chain.cut)

    @precondition(lambda self: bool(self._deliverable()))
    @rule(data=st.data(), index=st.integers(0, 7), ack=st.sampled_from((True, True, True, False)),
          defer=st.booleans())
    def deliver(self, data, index, ack, defer):
        """Deliver a random queued batch (so batches overtake each other), applied at once
        or stored and forwarded; its acknowledgement may be lost."""
        link = data.draw(st.sampled_from(self._deliverable()), label="link")
        assert self.chain.deliver(*link, index=index, ack=ack, defer=defer)

    @precondition(lambda self: any(engine(n).backlog() for n in self.chain.nodes.values()))
    @rule(data=st.data())
    def catch_up(self, data):
        """A node applies the oldest seal it stored and forwarded."""
        name = data.draw(st.sampled_from(sorted(n for n, node in self.chain.nodes.items() if engine(node).backlog())))
        assert engine(self.chain.nodes[name]).catch_up(max_seals=1) == 1

    @rule(data=st.data())
    def burst(self, data):
        """A spell of traffic on one direction of a link: sends (some pipelined, some
        duplicated) interleaved with deliveries of random queued batches, acks sometimes lost."""
        link = self._link(data)
        for _ in range(data.draw(st.integers(1, 4), label="rounds")):
            self.chain.send(*link, copies=data.draw(st.sampled_from((1, 1, 2)), label="copies"),
                            pipeline=data.draw(st.booleans(), label="pipeline"))
            for _ in range(data.draw(st.integers(1, 3), label="deliveries")):
                self.chain.deliver(*link, index=data.draw(st.integers(0, 7), label="index"),
                                   ack=data.draw(st.sampled_from((True, True, False)), label="ack"))

    @precondition(lambda self: any(self.chain.queues.values()))
    @rule(data=st.data(), index=st.integers(0, 7))
    def drop(self, data, index):
        link = data.draw(st.sampled_from(sorted(d for d, q in self.chain.queues.items() if q)), label="link")
        self.chain.drop(*link, index=index)

    @precondition(lambda self: len(self.chain.cut) < 2)
    @rule(data=st.data())
    def cut(self, data):
        self.chain.cut.add(data.draw(st.sampled_from(sorted(set(LINKS) - self.chain.cut)), label="link"))

    @precondition(lambda self: bool(self.chain.cut))
    @rule(data=st.data())
    def heal(self, data):
        self.chain.cut.discard(data.draw(st.sampled_from(sorted(self.chain.cut)), label="link"))

    # -- edits ---------------------------------------------------------------------------------
    @rule(at=st.sampled_from(VILLAGES), code=st.sampled_from(ITEM_CODES + ("T-DIBAO",)), defer=st.booleans())
    def accept(self, at, code, defer):
        self.chain.accept(at, code, defer)

    def _cases_at(self, at):
        """The cases projected at `at` that its clerk may act on (the town's clerk holds only
        民政, the department of T-DIBAO), open ones only if there are any."""
        rows = self.chain.nodes[at].store.conn.execute(
            "SELECT case_id, status FROM cases WHERE ? OR item_code = 'T-DIBAO' ORDER BY case_id",
            (at != "town",))
        held = [(c, s in cases.OPEN_STATUSES) for c, s in rows]
        return [c for c, is_open in held if is_open] or [c for c, _ in held]

    def _act(self, at, case_id, data, offered, reason):
        """An action the node offers for the case (`show`), or any action at all (most are
        then refused)."""
        choices = cases.show(self.chain.nodes[at], case_id)["next_actions"] if offered else []
        action = data.draw(st.sampled_from(choices or LIKELY_ACTS), label=f"action at {at}")
        self.chain.act(at, case_id, action, reason)

    @precondition(lambda self: any(self._cases_at(n) for n in CLERK))
    @rule(data=st.data(), offered=st.sampled_from((True, True, False)), reason=st.sampled_from(REASONS))
    def act(self, data, offered, reason):
        """A clerk acts on a case their node holds."""
        at = data.draw(st.sampled_from([n for n in ("town", "town", *VILLAGES) if self._cases_at(n)]), label="at")
        self._act(at, data.draw(st.sampled_from(self._cases_at(at)), label="case"), data, offered, reason)

    @precondition(lambda self: bool(self._cases_at("town")))
    @rule(data=st.data(), reason=st.sampled_from(REASONS))
    def act_concurrently(self, data, reason):
        """The village and the town act on the same case, each on its own copy: their
        histories merge later and the replay flags the loser as a conflict."""
        case_id = data.draw(st.sampled_from(self._cases_at("town")), label="case")
        scope = self.chain.nodes["town"].store.get(case_id).scope
        village = next(v for v in VILLAGES if self.chain.nodes[v].node_id == scope)
        for at in (village, "town"):
            self._act(at, case_id, data, True, reason)

    @rule(days=st.integers(1, 6))
    def publish(self, days):
        self.chain.publish(days)

    @rule(name=st.sampled_from(tuple(PARENT) + ("city",)))
    def restart(self, name):
        """A node process restarts: a new Loro peer id, nothing else lost."""
        self.chain.restart(name)

    # -- cheap invariants ------------------------------------------------------------------------
    @invariant()
    def nothing_quarantined_nothing_unseen(self):
        self.chain.no_quarantine()
        self.chain.nothing_unseen()


ConvergenceMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", 15)), stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestConvergence = ConvergenceMachine.TestCase


def test_cut_off_village_catches_up(tmp_path):
    """Village A works cut off: it accepts three cases while the others move on (the city
    publishes a new time limit); the town approves nothing. After healing, one sync brings
    everyone to the same state, and village B never sees A's cases."""
    chain = Chain(tmp_path / "chain")
    try:
        sync_all(chain.nodes)
        chain.cut.add("village_a")
        made = [chain.accept("village_a", code, defer=(code == "T-DIBAO"))
                for code in ("T-IMM", "T-LOCAL", "T-DIBAO")]
        assert all(made)
        assert chain.act("village_a", made[2], "submit")
        chain.publish(5)
        # the transport keeps running on the live links; A's link does nothing
        for _ in range(4):
            for src, dst in DIRECTED:
                chain.send(src, dst)
                while chain.deliver(src, dst):
                    pass
        assert not chain.nodes["town"].store.exists(made[0])
        assert chain.send("village_a", "town") is None and not chain.deliver("village_a", "town")
        assert catalog.current(chain.nodes["village_b"], "T-LOCAL").time_limit_days == 5
        chain.converge()
        chain.check_converged()
        for name in ("village_a", "town", "district", "city"):
            statuses = dict(chain.nodes[name].store.conn.execute("SELECT case_id, status FROM cases"))
            assert statuses == {made[0]: "completed", made[1]: "accepted", made[2]: "in_review"}, name
        assert _count(chain.nodes["village_b"], "cases") == 0
    finally:
        chain.close()


def test_record_and_seal_of_its_node_in_one_batch(tmp_path):
    """Regression (first contact along the chain): the district relays to the city, in one
    batch, its own record of the town (carrying the town's key) followed by seals the town
    authored (its records of the villages). The city must learn the key mid-batch, not
    quarantine the town's seals as from an unknown node and move past them for good."""
    chain = Chain(tmp_path / "chain")
    try:
        town, district, city = (chain.nodes[n] for n in ("town", "district", "city"))
        push(town, district)
        push(district, city)
        assert city.store.conn.execute("SELECT author, seq, reason FROM quarantine").fetchall() == []
        assert city.store.exists("node:440608100201") and city.store.exists("node:440608100202")
        chain.converge()
        chain.check_converged()
    finally:
        chain.close()
