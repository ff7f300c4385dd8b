"""Who publishes which catalog item at which level: a village that imported a catalog while
standing alone, then joined a chain whose city publishes the same items, ends with the
city's items and versions, keeps its open cases on the versions they were accepted under,
and nothing is quarantined anywhere, however many times the chain syncs."""

from __future__ import annotations

import pytest

from support import MINI_CATALOG, id_number
from support.chain import CHAIN, PARENT, sync_all
from yimen.node import home, projections
from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.node.services import status as node_status
from yimen.schema.catalog import parse_catalog_json

LOCAL_ONLY = """{"items": [{"code": "V-ONLY", "name": "村级特色事项", "department": "村委会",
 "legal_basis": "村规民约", "accept_level": "village", "steps": [], "time_limit_days": 0, "fee": 0,
 "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]}]}"""


def _items(text: str):
    return parse_catalog_json(text, "2026-01-01")


@pytest.fixture
def joined(tmp_path):
    """Village A imports the mini catalog and a local item standing alone, accepts a case
    under its own T-LOCAL, then the chain is enrolled and the city publishes the mini
    catalog with T-LOCAL changed (time limit 3 → 5 working days)."""
    nodes = {name: home.init(tmp_path / name, rc, title) for name, rc, title in CHAIN}
    a = nodes["village_a"]
    catalog.import_items(a, _items(MINI_CATALOG))
    catalog.import_items(a, _items(LOCAL_ONLY))
    clerks.add(a, "c01", "李敏", ["民政", "社保", "村委会"])
    early = cases.accept(a, "c01", cases.Application("T-LOCAL", id_number(1), "陈美玲",
                                                     {"居民身份证": None, "户口簿": None}, {}))["case_id"]
    for child, parent in PARENT.items():
        enrollment.apply_answer(nodes[child], enrollment.admit(nodes[parent], enrollment.request(nodes[child])))
    catalog.import_items(nodes["city"], _items(MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 5')))
    sync_all(nodes)
    yield nodes, early
    for n in nodes.values():
        n.close()


def _quarantined(nodes) -> dict[str, int]:
    return {name: len(node_status.quarantine(n)) for name, n in nodes.items()}


def test_a_village_that_imported_alone_takes_the_citys_items_after_joining(joined):
    nodes, _ = joined
    a, city = nodes["village_a"], nodes["city"]
    assert _quarantined(nodes) == dict.fromkeys(nodes, 0)
    item = catalog.current(a, "T-LOCAL")
    assert (item.publisher, item.time_limit_days) == (city.node_id, 5)
    assert {r["code"]: r["publisher"] for r in catalog.list_items(a)} == {
        "T-IMM": city.node_id, "T-DIBAO": city.node_id, "T-LOCAL": city.node_id, "V-ONLY": a.node_id}
    # a new case is accepted under the city's version
    row = cases.accept(a, "c01", cases.Application("T-LOCAL", id_number(2), "王芳", {"居民身份证": None, "户口簿": None}, {}))
    assert row["time_limit_days"] == 5


def test_open_cases_keep_the_version_they_were_accepted_under(joined):
    nodes, early = joined
    a, town = nodes["village_a"], nodes["town"]
    assert cases.get_row(a, early)["time_limit_days"] == 3
    assert cases.act(a, early, "submit", "c01")["status"] == "in_review"
    sync_all(nodes)
    assert cases.get_row(town, early)["time_limit_days"] == 3  # the town projects it with A's own version
    assert catalog.of_case(town, a.store.get(early).value()["case"]).publisher == a.node_id


def test_the_city_s_new_versions_keep_reaching_the_village_and_nothing_is_refused_twice(joined):
    nodes, _ = joined
    a, city = nodes["village_a"], nodes["city"]
    catalog.import_items(city, _items(MINI_CATALOG.replace('"time_limit_days": 3', '"time_limit_days": 7')))
    for _ in range(3):
        sync_all(nodes)
    assert catalog.current(a, "T-LOCAL").time_limit_days == 7
    assert catalog.current(a, "T-LOCAL").version == 2  # the city's second (versions are per publisher)
    assert _quarantined(nodes) == dict.fromkeys(nodes, 0)


def test_an_item_only_a_lower_level_publishes_stays_its_own(joined):
    nodes, _ = joined
    a, b, town = nodes["village_a"], nodes["village_b"], nodes["town"]
    assert catalog.current(a, "V-ONLY").publisher == a.node_id
    for other in (b, town):  # the town holds A's item (for A's cases) but does not use it
        assert "V-ONLY" not in {r["code"] for r in catalog.list_items(other)}
    assert town.store.get(catalog.doc_id(a.node_id, "V-ONLY")) is not None
    assert b.store.get(catalog.doc_id(a.node_id, "V-ONLY")) is None  # a village's items stay in its line


def test_an_import_leaves_an_ancestors_codes_alone_and_drift_lists_the_village_s_own(joined):
    nodes, _ = joined
    a, city = nodes["village_a"], nodes["city"]
    again = catalog.import_items(a, _items(MINI_CATALOG))
    assert sorted(again.ancestors) == ["T-DIBAO", "T-IMM", "T-LOCAL"] and not again.updated
    drift = catalog.drift(a)
    assert [(d["code"], d["own_version"], d["version"], d["publisher"], d["same_standard"]) for d in drift] == [
        ("T-LOCAL", 1, 1, city.node_id, False)]
    assert node_status.status(a)["catalog_drift"] == drift


def test_a_rebuild_reproduces_the_catalog_of_every_level(joined):
    nodes, _ = joined
    for n in nodes.values():
        before = projections.dump(n.store)
        projections.rebuild(n.store, n.calendar)
        assert projections.dump(n.store) == before
