"""`yimen space`'s services: where each document held here came from, the state of each
consent, the limits of a consent, who may withdraw one."""

from __future__ import annotations

import pytest

from support import dump, id_number
from support.space import consent, document, foreign_document
from yimen.node.config import Config
from yimen.node.errors import InvalidConfig
from yimen.node.services import audit, space, space_desk
from yimen.schema.errors import SchemaError
from yimen.schema.words import UnknownWord


def test_show_says_where_each_document_came_from_and_each_consents_state(node, clock):
    own = document(node, id_number(1), "income_proof")
    live_one = consent(node, id_number(1), ("income_proof",), days=30)
    short = consent(node, id_number(1), ("id_card",), days=1)
    gone = consent(node, id_number(1), ("household_register",))
    space.withdraw_consent(node, gone, "c01", "本人申请")
    received = foreign_document(node, "440608100202", id_number(1), "income_proof")
    clock.advance(days=2)
    shown = space_desk.show(node, id_number(1), "c01")
    origins = {d["doc_id"]: d["origin"] for d in shown["documents"]}
    assert origins[own] == {"from": "home"}
    assert origins[received] == {"from": "consent", "home": "440608100202", "consents": [live_one]}
    states = {c["consent_id"]: c["state"] for c in shown["consents"]}
    assert states == {live_one: "live", short: "expired", gone: "withdrawn"}
    assert shown["citizen_masked"].startswith("440608") and id_number(1) not in str(shown)
    assert [e["action"] for e in audit.trail(node, id_number=id_number(1))][-1] == "space_show"
    assert space_desk.show(node, id_number(2), "c01")["documents"] == []


def test_a_town_sees_its_villages_documents_as_theirs(tmp_path, clock):
    from yimen.node import home
    town = home.init(tmp_path / "town", "440608100000", "某镇", clock=clock)
    try:
        doc_id = foreign_document(town, "440608100201", id_number(1), "income_proof")
        [d] = space_desk.show(town, id_number(1), None)["documents"]
        assert d["doc_id"] == doc_id and d["origin"] == {"from": "subtree", "home": "440608100201"}
    finally:
        town.close()


def test_a_consent_runs_at_most_the_configured_days(node):
    with pytest.raises(space_desk.ConsentTooLong, match="30"):
        space_desk.give_consent(node, "c01", id_number(1), "陈美玲", ("income_proof",), 31, "救助")
    with pytest.raises(space_desk.ConsentTooLong):
        space_desk.give_consent(node, "c01", id_number(1), "陈美玲", ("income_proof",), 0, "救助")
    with pytest.raises(SchemaError):
        space_desk.give_consent(node, "c01", id_number(1), "陈美玲", ("income_proof",), 3, "  ")
    r = space_desk.give_consent(node, "c01", id_number(1), "陈美玲", ("income_proof",), None, "救助")
    assert r["days"] == 30 and r["expires_at"] == "2026-12-16T09:00:00+08:00"
    with pytest.raises(InvalidConfig):
        Config(region_code="440608100201", name="村", consent_max_days=0)


def test_types_by_code_or_chinese_name():
    assert space_desk.doc_types_of("残疾人证、id_card,户口簿，id_card") == (
        "disability_certificate", "household_register", "id_card")
    with pytest.raises(UnknownWord):
        space_desk.doc_types_of("护照")
    with pytest.raises(SchemaError):
        space_desk.doc_types_of(" , ")


def test_a_consent_is_withdrawn_at_its_window_or_above_and_only_once(node):
    given = consent(node, id_number(1))
    first = space_desk.withdraw(node, "c01", given, "本人申请")
    assert not first["already"] and first["withdrawn_at"] == "2026-11-16T09:00:00+08:00"
    before = dump(node)
    assert space_desk.withdraw(node, "c01", given)["already"] and dump(node) == before
    with pytest.raises(space.UnknownConsent):
        space_desk.withdraw(node, "c01", "440608100201-C2026-000099")


def test_a_consent_of_another_window_is_not_withdrawn_here(tmp_path, clock):
    from yimen.node import home
    from yimen.node.services import clerks
    other = home.init(tmp_path / "b", "440608100202", "另一村", clock=clock)
    village = home.init(tmp_path / "a", "440608100201", "示范村", clock=clock)
    try:
        given = consent(other, id_number(1))
        doc = other.store.get(given)
        with village.store.transaction():  # as if it had reached this village
            copy = village.store.new_doc(given, "consent", other.node_id)
            copy.update("consent", doc.value()["consent"])
            village.store.save(copy, village.node_id)
            from yimen.node.projections import refresh
            refresh(village.store, copy, village.calendar, new=True)
        clerks.add(village, "c01", "李敏", ["民政"])
        before = dump(village)
        with pytest.raises(space_desk.ConsentNotHere, match="440608100202"):
            space_desk.withdraw(village, "c01", given)
        assert dump(village) == before
    finally:
        other.close()
        village.close()
