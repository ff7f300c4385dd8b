"""The chain replicates through the engine (in-memory transport): flows up, down, and
never sideways."""

from __future__ import annotations

import pytest

from chain import make_chain, push, sync_all
from conftest import id_number
from yimen.node import cases


@pytest.fixture
def chain(tmp_path):
    nodes = make_chain(tmp_path)
    yield nodes
    for n in nodes.values():
        n.close()


def _statuses(node):
    return dict(node.store.conn.execute("SELECT case_id, status FROM cases").fetchall())


def test_case_flows_up_decision_flows_down_never_sideways(chain):
    sync_all(chain)
    va = chain["village_a"]
    cid = cases.accept(va, "c01", cases.Application(
        "T-DIBAO", id_number(), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cases.act(va, cid, "submit", "c01")
    cases.act(va, cid, "approve", "c01")
    sync_all(chain)
    for name in ("town", "district", "city"):
        assert _statuses(chain[name]) == {cid: "in_review"}
    assert _statuses(chain["village_b"]) == {}
    cases.act(chain["town"], cid, "approve", "t01")
    sync_all(chain)
    for name in ("village_a", "town", "district", "city"):
        assert _statuses(chain[name]) == {cid: "approved"}
    assert _statuses(chain["village_b"]) == {}


def test_catalog_flows_down_to_every_village(chain):
    sync_all(chain)
    for n in chain.values():
        assert n.store.count("catalog_item") == 3


def test_receiving_twice_changes_nothing(chain):
    sync_all(chain)
    town, va = chain["town"], chain["village_a"]
    cases.accept(va, "c01", cases.Application("T-IMM", id_number(), "陈", {"居民身份证": None}, {}))
    push(va, town)
    before = list(town.store.conn.iterdump())
    from yimen.node.replication import engine
    batch = engine(va).next_batch(town.node_id, 0)
    receipt = engine(town).receive(va.node_id, batch)
    assert receipt.imported == 0 and receipt.duplicates == len(batch.seals) > 0
    after = [line for line in town.store.conn.iterdump()]
    assert [l for l in after if "peers" not in l] == [l for l in before if "peers" not in l]
