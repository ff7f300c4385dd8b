"""The checks before a document is listed: every value binds to SQLite or is refused with a
reason (`invalid`), and a history event counts only if the node it names wrote it
(`forgeries`)."""

from __future__ import annotations


import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from yimen.sync.store import driver
from yimen.node.projection_rules import (CASE_SPEC, EVENT_SPEC, ITEM_SPEC, RowSpec, Unprojectable, forgeries, invalid,
                                         short)
from yimen.sync.docs import Doc

VILLAGE, TOWN, DISTRICT = "440608100201", "440608100000", "440608000000"
CASE = f"{VILLAGE}-2026-000001"

ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=8)
    | st.builds(str.__mul__, st.sampled_from("x名"), st.sampled_from([255, 256, 257, 1024, 1025, 16_385])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5)


@pytest.mark.parametrize("spec", [CASE_SPEC, EVENT_SPEC, ITEM_SPEC], ids=["cases", "case_events", "catalog_items"])
@given(data=st.data())
def test_a_row_either_binds_or_is_refused_with_a_reason(spec, data):
    row = {col: data.draw(ANYTHING, label=col) for col in spec}
    reason = invalid(row, spec)
    if reason is not None:
        assert isinstance(reason, str) and reason.split()[0] in spec and len(reason) < 200
        return
    conn = driver.connect(":memory:")
    conn.execute(f"CREATE TABLE t ({', '.join(spec)})")
    conn.execute(f"INSERT INTO t VALUES ({', '.join('?' * len(spec))})", [row[c] for c in spec])
    assert conn.execute("SELECT * FROM t").fetchone() == tuple(row[c] for c in spec)
    conn.close()


@pytest.mark.parametrize("value, reason", [
    (["陈"], "applicant_name is not text: ['陈']"),
    ("名" * 1025, "applicant_name is longer than 1024 characters (1025)"),
    (None, "applicant_name is missing"),
    (7, "applicant_name is not text: 7"),
])
def test_the_reason_names_the_column_and_the_value(value, reason):
    row = {"case_id": CASE, "applicant_name": value}
    assert invalid(row, RowSpec(case_id="id", applicant_name="name")) == reason


def test_a_quoted_value_is_cut():
    assert short("x" * 1000) == repr("x" * 1000)[:57] + "..."


NODES = [VILLAGE, TOWN, DISTRICT]
ACTIONS = ["accept", "not_accepted", "submit", "approve", "reject", "complete"]
STEP = st.tuples(st.sampled_from(NODES), st.sampled_from(NODES), st.sampled_from(ACTIONS), st.booleans())


@given(steps=st.lists(STEP, max_size=8))
@example(steps=[(VILLAGE, VILLAGE, "accept", False), (TOWN, TOWN, "accept", True), (VILLAGE, VILLAGE, "accept", True)])
def test_an_event_counts_only_if_the_node_it_names_wrote_it(steps):
    """Each step: a node (its own Loro peer) appends an event naming some node, or
    rewrites the `node` of the event before (a later write of that key by another peer).
    What counts is who wrote each key's value as it stands (Loro's last editor of the key):
    a value another node wrote and the named node wrote over is the named node's again."""
    peers = {n: i + 11 for i, n in enumerate(NODES)}
    doc = Doc.new(CASE, "case", VILLAGE, peers[VILLAGE])
    doc.update("case", {"case_id": CASE, "applicant_name": "陈"})
    doc.commit()
    writers: list[dict[str, str]] = []  # per event: key -> the node that wrote its value
    for writer, named, action, rewrite in steps:
        doc = Doc.from_bytes(CASE, "case", VILLAGE, doc.oplog(), peers[writer])
        if rewrite and writers:
            entry = doc._loro.get_list("history").get(len(writers) - 1).container
            if entry.get("node").value != named:  # (writing the value a key holds is no op)
                entry.insert("node", named)
                writers[-1]["node"] = writer
        else:
            doc.append("history", {"action": action, "node": named})
            writers.append({"action": writer, "node": writer})
        doc.commit()
    history = doc.value().get("history", [])
    expected = {i for i, (e, who) in enumerate(zip(history, writers))
                if set(who.values()) != {e["node"]} or (e["action"] in ("accept", "not_accepted") and e["node"] != VILLAGE)}
    authors = {p: n for n, p in peers.items() if doc.has_change(p, 1)}
    assert forgeries(doc, history, authors) == expected


def test_content_written_by_another_node_than_the_owner_is_refused():
    doc = Doc.new(CASE, "case", VILLAGE, 11)
    doc.update("case", {"case_id": CASE, "applicant_name": "陈"})
    doc.append("history", {"action": "accept", "node": VILLAGE})
    doc.commit()
    town = Doc.from_bytes(CASE, "case", VILLAGE, doc.oplog(), 22)
    town.append("history", {"action": "approve", "node": TOWN})
    town.commit()
    assert forgeries(town, town.value()["history"], {11: VILLAGE, 22: TOWN}) == frozenset()
    assert forgeries(town, town.value()["history"], {11: VILLAGE, 22: None}) == frozenset()  # own, unsealed
    town.put("materials", "居民身份证", {"status": "provided"})
    town.commit()
    with pytest.raises(Unprojectable, match=f"case content written by {TOWN}, not by its owner {VILLAGE}"):
        forgeries(town, town.value()["history"], {11: VILLAGE, 22: TOWN})
