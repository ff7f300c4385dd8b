"""A document that cannot be projected (issue 8): it is kept and replicated, listed
nowhere, shown once in quarantine with its id and reason; a rebuild, a bundle import and a
later good edit all go on around it."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from support import accept, listed
from support.chain import push, synced_chain
from support.forge import UNBINDABLE, bad_case
from yimen.node.cli.main import main
from yimen.node.projections import dump, rebuild, refresh
from yimen.node.replication import engine
from yimen.node.services import status
from yimen.node.services.bundles import export_bundle


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path) as nodes:
        yield nodes


def unlisted(node) -> dict[str, str]:
    return {q["doc_id"]: q["reason"] for q in status.quarantine(node) if q.get("doc_id")}


def cli(node, *args):
    return CliRunner().invoke(main, ["--home", str(node.home), "--lang", "en", *args])


def test_a_document_that_cannot_be_listed_is_kept_shown_once_and_rebuilt_the_same(chain, caplog):
    va, town, district = chain["village_a"], chain["town"], chain["district"]
    good = accept(va, 1)
    bad = [bad_case(va, field, value) for field, value in UNBINDABLE]
    with caplog.at_level(logging.WARNING, "yimen.projections"):
        push(va, town)
        push(town, district)
    assert len([r for r in caplog.records if bad[0] in r.getMessage()]) == 2  # once at each hub
    for node in (town, district):
        assert listed(node) == {good} and sorted(unlisted(node)) == sorted(bad)
        assert all(node.store.exists(c) for c in bad)
        live = dump(node.store)
        assert rebuild(node.store, node.calendar) == 3 + len(bad) + 1
        assert dump(node.store) == live
    reasons = unlisted(district)
    assert reasons[bad[0]] == "applicant_name is not text: ['陈', '美玲']"
    assert reasons[bad[1]] == "applicant_id is not text: {'n': 1}"
    assert reasons[bad[2]].startswith("item_version is not an integer")
    assert reasons[bad[3]] == "item_code is longer than 256 characters (300)"
    assert reasons[bad[4]] == "applicant_name is longer than 1024 characters (30000)"
    # touched again, it is still shown once
    doc = va.store.get(bad[0])
    doc.put("case", "applicant_phone", "13800000000")
    with va.store.transaction():
        va.store.save(doc, va.node_id)
    caplog.clear()
    with caplog.at_level(logging.WARNING, "yimen.projections"):
        push(va, town)
    assert list(unlisted(town)).count(bad[0]) == 1 and not caplog.records
    # and a later good edit by its owner lists it again
    doc.put("case", "applicant_name", "陈美玲")
    with va.store.transaction():
        va.store.save(doc, va.node_id)
        assert refresh(va.store, doc, va.calendar)["applicant_name"] == "陈美玲"
    push(va, town)
    assert listed(town) == {good, bad[0]} and bad[0] not in unlisted(town)


def test_a_bundle_holding_such_a_document_imports_whole_without_a_traceback(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    bad = bad_case(va, "applicant_name", ["陈", "美玲"])
    good = accept(va, 1)
    engine(va).seal_pending()
    export_bundle(va, town.node_id, tmp_path / "up.yimen")
    out = cli(town, "bundle", "import", str(tmp_path / "up.yimen"), "--json")
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    summary = json.loads(out.output[out.output.index("{"):])
    assert (summary["imported"], summary["quarantined"]) == (summary["seals"], 0)
    assert engine(town).backlog() == 0 and listed(town) == {good} and town.store.exists(bad)
    out = cli(town, "quarantine", "list")
    assert out.exit_code == 0 and bad in out.output and "applicant_name is not text" in out.output
    out = cli(town, "status", "--json")
    assert json.loads(out.output)["unlisted_documents"] == 1
    out = cli(town, "rebuild")
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    assert listed(town) == {good}
