"""My Space at the window: a result deposited when its case completes (at the window and
for an immediate item, once), the space looked up at acceptance (in the same village and
after a consent brought another village's document), scans kept with consent."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from support import MINI_CATALOG, dump, id_number
from support.space import document, foreign_document
from yimen.node.errors import MaterialsIncomplete
from yimen.node.files import FileUnusable
from yimen.node.services import audit, catalog, cases, space_reuse
from yimen.schema.catalog import parse_catalog_json

WITH_RESULT = MINI_CATALOG.replace('"name": "社保参保证明打印", "department": "社保", ',
                                   '"name": "社保参保证明打印", "department": "社保", "result_type": "social_insurance_record", ')


def app(item: str, provided=(), deferred=(), seq: int = 1, scans=None) -> cases.Application:
    given = {m: None for m in provided} | dict(scans or {})
    return cases.Application(item, id_number(seq), "陈美玲", given, {m: None for m in deferred})


def space_rows(node, cid: str | None = None) -> list[tuple]:
    sql = "SELECT doc_id, doc_type, source, case_id, citizen_name, issuer, has_credential FROM space_docs"
    return node.store.conn.execute(sql + (" WHERE case_id = ?" if cid else "") + " ORDER BY doc_id",
                                   (cid,) if cid else ()).fetchall()


def completed_local(node, seq: int = 1) -> str:
    cid = cases.accept(node, "c01", app("T-LOCAL", ("居民身份证", "户口簿"), seq=seq))["case_id"]
    cases.act(node, cid, "submit", "c01")
    cases.act(node, cid, "approve", "c01", department="村委会")
    cases.act(node, cid, "approve", "c01", department="民政")
    cases.act(node, cid, "issue_result", "c01")
    return cid


def test_a_completed_case_deposits_its_result_once_in_the_same_transaction(node):
    cid = completed_local(node)
    assert space_rows(node) == []  # issued, not yet completed: nothing deposited
    cases.act(node, cid, "complete", "c01")
    [(doc_id, doc_type, source, case_id, name, issuer, _)] = space_rows(node)
    assert (doc_type, source, case_id, name, issuer) == ("residence_proof", "result", cid, "陈美玲", node.node_id)
    assert doc_id == f"{node.node_id}-D2026-000001"
    body = node.store.get(doc_id).value()["space"]
    assert body["citizen_id"] == id_number(1) and body["clerk_id"] == "c01" and body["issued_on"] == "2026-11-16"
    # a second deposit of the same case (a replayed completion) adds nothing
    item = catalog.current(node, "T-LOCAL")
    assert space_reuse.deposit(node, item, cid, id_number(1), "陈美玲", "c01") is None
    assert len(space_rows(node)) == 1
    assert [e["action"] for e in audit.trail(node, case=cid)][-2:] == ["complete", "space_deposit"]


def test_an_item_without_a_result_type_deposits_nothing(node):
    cid = cases.accept(node, "c01", app("T-IMM", ("居民身份证",)))["case_id"]
    assert cases.get_row(node, cid)["status"] == "completed" and space_rows(node) == []


def test_an_immediate_item_deposits_at_acceptance(node):
    catalog.import_items(node, parse_catalog_json(WITH_RESULT, "2026-11-16"))
    row = cases.accept(node, "c01", app("T-IMM", ("居民身份证",)))
    assert row["status"] == "completed"
    assert [r[1:4] for r in space_rows(node)] == [("social_insurance_record", "result", row["case_id"])]


def test_a_failed_completion_deposits_nothing(node, monkeypatch):
    cid = completed_local(node)
    before = dump(node)

    def broken(*_a, **_k):
        raise RuntimeError("the credential could not be made")
    monkeypatch.setattr(space_reuse, "credential_maker", lambda n: broken)
    with pytest.raises(RuntimeError):
        cases.act(node, cid, "complete", "c01")
    assert dump(node) == before and cases.get_row(node, cid)["status"] == "result_issued"


def test_the_credential_is_made_with_the_documents_id_before_it_is_saved(node, monkeypatch):
    seen = []

    def issue(doc_id, space_map):
        seen.append((doc_id, space_map["case_id"], node.store.get(doc_id)))
        return b"\xd2cwt"
    monkeypatch.setattr(space_reuse, "credential_maker", lambda n: issue)
    cid = completed_local(node)
    cases.act(node, cid, "complete", "c01")
    [(doc_id, *_, has_credential)] = space_rows(node)
    assert seen == [(doc_id, cid, None)] and has_credential == 1
    assert node.store.get(doc_id).value()["space"]["credential"] == b"\xd2cwt"


def test_acceptance_takes_from_the_space_what_it_holds(node):
    doc_id = document(node, id_number(1), "income_proof")
    row = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",)))  # 收入证明 not brought
    assert row["reused"] == {"收入证明": {"status": "reused", "doc_id": doc_id,
                                      "sha256": hashlib.sha256(doc_id.encode()).hexdigest(), "doc_type": "income_proof"}}
    materials = cases.show(node, row["case_id"])["materials"]
    assert materials["收入证明"]["status"] == "reused" and materials["居民身份证"]["status"] == "provided"
    assert row["deferred_open"] == 0
    entry = [e for e in audit.trail(node, case=row["case_id"]) if e["action"] == "space_reuse"]
    assert len(entry) == 1 and json.loads(entry[0]["detail"])["docs"] == {"收入证明": doc_id}
    # another citizen's space is not this one's
    other = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",), deferred=("收入证明",), seq=2))
    assert other["reused"] == {} and other["deferred_open"] == 1


def test_a_mandatory_material_held_in_the_space_need_not_be_brought(node):
    document(node, id_number(1), "id_card")
    row = cases.accept(node, "c01", app("T-IMM"))
    assert row["status"] == "completed" and list(row["reused"]) == ["居民身份证"]
    with pytest.raises(MaterialsIncomplete):
        cases.accept(node, "c01", app("T-IMM", seq=2))


def test_no_reuse_and_a_scan_given_keep_the_clerks_word(node, tmp_path):
    document(node, id_number(1), "income_proof")
    refused = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",), deferred=("收入证明",)), reuse=False)
    assert refused["reused"] == {} and refused["deferred_open"] == 1
    scanned = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",), scans={"收入证明": "ab" * 32}, seq=1),
                           duplicate_ok=True)
    assert scanned["reused"] == {}
    assert cases.show(node, scanned["case_id"])["materials"]["收入证明"] == {
        "status": "provided", "sha256": "ab" * 32, "doc_type": "income_proof"}


def test_the_first_files_hash_is_recorded_and_a_result_is_preferred(node, tmp_path):
    from yimen.node.services import space_files
    scan = tmp_path / "证明.pdf"
    scan.write_bytes(b"%PDF income")
    ref = space_files.store_file(node, scan)
    document(node, id_number(1), "income_proof", files=(ref,))
    row = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",)))
    assert row["reused"]["收入证明"]["sha256"] == ref.hash == hashlib.sha256(b"%PDF income").hexdigest()
    result = document(node, id_number(1), "income_proof", source="result", case_id="440608100201-2026-000099")
    again = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",)), duplicate_ok=True)
    assert again["reused"]["收入证明"]["doc_id"] == result


def test_a_document_received_under_consent_is_reused(node):
    from support.space import consent
    consent(node, id_number(1), ("income_proof",))
    doc_id = foreign_document(node, "440608100202", id_number(1), "income_proof")
    row = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",)))
    assert row["reused"]["收入证明"]["doc_id"] == doc_id


@pytest.mark.parametrize("ended", ["withdrawn", "expired", "none", "other types"])
def test_a_document_held_under_a_consent_that_ended_is_not_reused(node, clock, ended):
    from support.space import consent
    from yimen.node.services import space
    given = consent(node, id_number(1), ("id_card",) if ended == "other types" else ("income_proof",), days=1)
    if ended == "withdrawn":
        space.withdraw_consent(node, given, "c01", "本人申请")
    elif ended == "expired":
        clock.advance(days=2)
    elif ended == "none":
        node.store.conn.execute("DELETE FROM space_consents")  # as if it had never reached here
    foreign_document(node, "440608100202", id_number(1), "income_proof")
    row = cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",), deferred=("收入证明",)))
    assert row["reused"] == {} and row["deferred_open"] == 1


def test_scans_are_kept_in_the_space_only_when_asked(node, tmp_path):
    scan = tmp_path / "身份证.jpg"
    scan.write_bytes(b"\xff\xd8 id card")
    digest = cases.file_sha256(scan)
    plain = cases.accept(node, "c01", app("T-IMM", scans={"居民身份证": digest}))
    assert plain["kept_in_space"] == {} and space_rows(node) == [] and node.store.chunks.total()[0] == 0
    kept = cases.accept(node, "c01", app("T-IMM", scans={"居民身份证": digest}, seq=2), keep={"居民身份证": scan})
    [(doc_id, doc_type, source, case_id, *_)] = space_rows(node)
    assert kept["kept_in_space"] == {"居民身份证": doc_id} and (doc_type, source, case_id) == ("id_card", "scan", "")
    files = node.store.conn.execute("SELECT file_hash, name, mime FROM space_files WHERE doc_id = ?", (doc_id,)).fetchall()
    assert files == [(digest, "身份证.jpg", "image/jpeg")]
    # the next time, that citizen brings nothing
    assert list(cases.accept(node, "c01", app("T-IMM", seq=2))["reused"]) == ["居民身份证"]


def test_a_refused_acceptance_keeps_nothing(node, tmp_path):
    scan = tmp_path / "收入.pdf"
    scan.write_bytes(b"income")
    before = dump(node)
    with pytest.raises(MaterialsIncomplete):  # 居民身份证 missing
        cases.accept(node, "c01", app("T-DIBAO", scans={"收入证明": cases.file_sha256(scan)}), keep={"收入证明": scan})
    assert dump(node) == before
    scan.unlink()  # gone between the fingerprint and the keeping: the case is not accepted either
    with pytest.raises(FileUnusable):
        cases.accept(node, "c01", app("T-DIBAO", ("居民身份证",), scans={"收入证明": "ab" * 32}), keep={"收入证明": scan})
    assert dump(node) == before


def test_the_lookup_and_the_deposit_are_quick(node):
    document(node, id_number(1), "income_proof")
    item = catalog.current(node, "T-DIBAO")
    start = time.perf_counter()
    for _ in range(20):
        assert space_reuse.offers(node, id_number(1), item, set())
    assert (time.perf_counter() - start) / 20 < 0.05  # the benchmark measures it; this is a gross check


def test_a_scan_of_a_material_the_catalog_gives_no_type_is_not_kept(node, tmp_path):
    untyped = MINI_CATALOG.replace('"居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]}',
                                   '"居民身份证", "requirement": "mandatory"}]}', 1)
    catalog.import_items(node, parse_catalog_json(untyped, "2026-11-16"))
    scan = tmp_path / "身份证.jpg"
    scan.write_bytes(b"id card")
    row = cases.accept(node, "c01", app("T-IMM", scans={"居民身份证": cases.file_sha256(scan)}), keep={"居民身份证": scan})
    assert row["kept_in_space"] == {} and row["not_kept"] == ["居民身份证"] and space_rows(node) == []


def test_a_result_deposited_at_a_village_is_reused_at_its_town_after_sync(tmp_path):
    from support.chain import synced_chain, sync_all
    with synced_chain(tmp_path) as nodes:
        village, town = nodes["village_a"], nodes["town"]
        kept = document(village, id_number(1), "income_proof")
        sync_all(nodes)  # the space flows up: the town finds the citizen by the city's key
        row = cases.accept(town, "t01", app("T-DIBAO", ("居民身份证",)))
        assert row["reused"]["收入证明"]["doc_id"] == kept and row["deferred_open"] == 0
        assert cases.accept(nodes["village_b"], "c01", app("T-DIBAO", ("居民身份证",), deferred=("收入证明",)))[
            "reused"] == {}  # another village holds no one's space without a consent
