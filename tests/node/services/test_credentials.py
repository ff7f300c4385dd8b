"""E-certificates at nodes: a village issues, another node of the city verifies with no link,
revocations (of the certificate, of the issuer's key) reach the verifier through sync."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings, strategies as st

from support import Clock, id_number
from support.chain import make_chain, push, sync_all
from yimen.node import home
from yimen.node.replication import engine
from yimen.node.services import audit, credentials, trust
from yimen.personal_space import credential

CERT = "440608100201-D2026-000001"
SPACE = {"doc_type": "marriage_certificate", "title": "结婚证", "citizen_id": id_number(7), "citizen_name": "王小明",
         "issuer": "440608100201", "issuer_name": "示范A村", "issued_on": "2026-11-16", "valid_until": "",
         "case_id": "440608100201-2026-000001"}


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ))


@pytest.fixture
def chain(tmp_path, clock):
    nodes = make_chain(tmp_path, clock=clock)
    sync_all(nodes)
    yield nodes
    for n in nodes.values():
        n.close()


def deposit(node, doc_id: str = CERT, **fields) -> str:
    """A space document with its credential, as the deposit on `complete` makes it; its YM1 text."""
    space = {**SPACE, **fields}
    cred = credentials.issue(node, doc_id, space)
    with node.store.transaction():
        doc = node.store.new_doc(doc_id, "space_doc", node.node_id)
        doc.update("space", {**space, "source": "result", "deposited_at": node.now(), "clerk_id": "c01", "credential": cred})
        node.store.save(doc, node.node_id)
    return credential.to_text(cred)


def test_another_node_of_the_city_verifies_with_no_link(chain):
    text = deposit(chain["village_a"])  # nothing synced since: village B only holds the trust list
    v = credentials.verify(chain["village_b"], text)
    assert v.valid, v.reason
    assert v.claims.cert_id == CERT and v.claims.holder_name == "王小明"
    assert v.issuer == {"region": "440608100201", "name": "示范A村", "key_id": chain["village_a"].store.keys.known(
        "440608100201")[0][1].hex()}
    assert credentials.verify(chain["city"], text).valid


def test_a_changed_text_or_a_stranger_fails(chain, tmp_path, clock):
    text = deposit(chain["village_a"])
    i = len(text) // 2
    changed = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
    assert not credentials.verify(chain["village_b"], changed).valid
    stranger = home.init(tmp_path / "stranger", "440705100201", "外市村", clock=clock)
    try:
        v = credentials.verify(stranger, text)
        assert not v.valid and "trust list" in v.reason[1] and "信任名单" in v.reason[0]
    finally:
        stranger.close()


def test_a_revoked_certificate_fails_once_the_revocation_arrived(chain):
    a, b = chain["village_a"], chain["village_b"]
    text = deposit(a)
    r = credentials.revoke(a, CERT, "信息有误，已重新签发")
    assert r["issuer"] == a.node_id and not r["already"]
    assert not credentials.verify(a, text).valid
    assert credentials.verify(b, text).valid  # not arrived yet
    sync_all(chain)
    v = credentials.verify(b, text)
    assert not v.valid and "信息有误" in v.reason[0] and "revoked" in v.reason[1]
    assert credentials.revoke(a, CERT, "again")["already"]


def test_an_ancestor_may_revoke_another_village_may_not(chain):
    a = chain["village_a"]
    text = deposit(a)
    sync_all(chain)
    with pytest.raises(credentials.NotTheIssuer):
        credentials.revoke(chain["village_b"], CERT, "不是我签发的")
    credentials.revoke(chain["town"], CERT, "镇级撤销")
    sync_all(chain)
    assert not credentials.verify(a, text).valid and not credentials.verify(chain["village_b"], text).valid


def test_a_key_revoked_before_issue_fails_after_does_not(chain, clock):
    a, b = chain["village_a"], chain["village_b"]
    before = deposit(a)
    clock.advance(hours=1)
    trust.revoke(chain["town"], a.node_id, "笔记本电脑被盗")
    sync_all(chain)
    clock.advance(hours=1)
    after = deposit(a, "440608100201-D2026-000002")  # a thief's: the stolen key still signs
    assert credentials.verify(b, before).valid
    v = credentials.verify(b, after)
    assert not v.valid and "被盗" in v.reason[0]


def test_a_backdated_credential_fails_where_its_document_is_held(chain, clock):
    """A stolen key writes an `iat` before the revocation: a node holding the document sees
    its seal after the cut; one that does not cannot tell (the documented limitation)."""
    a, town = chain["village_a"], chain["town"]
    clock.advance(hours=2)
    trust.revoke(town, a.node_id, "笔记本电脑被盗")
    clock.advance(hours=1)
    now = clock.now
    clock.advance(hours=-2)  # after A's certificate, before the revocation
    text = deposit(a)
    clock.now = now
    engine(a).seal_pending()
    assert credentials.verify(a, text).valid  # the revocation has not reached A yet
    push(town, a)
    v = credentials.verify(a, text)
    assert not v.valid and "#" in v.reason[1] and "cut" in v.reason[1]
    sync_all(chain)
    assert credentials.verify(chain["village_b"], text).valid  # no document there: only iat to go by


def test_data_age_is_reported_never_a_failure(chain, clock):
    b = chain["village_b"]
    text = deposit(chain["village_a"])
    clock.advance(days=3)
    v = credentials.verify(b, text)
    assert v.valid and v.data_age_days == 3
    assert v.as_dict("zh")["data_age"] == "吊销信息截至 3 天前"
    assert v.as_dict("en")["data_age"] == "revocations as of 3 days ago"
    assert credentials.verify(chain["city"], text).data_age_days == 0  # the root: its own trust list


def test_an_expired_certificate_fails(chain, clock):
    text = deposit(chain["village_a"], valid_until="2026-11-20")
    assert credentials.verify(chain["village_b"], text).valid
    clock.advance(days=5)
    v = credentials.verify(chain["village_b"], text)
    assert not v.valid and "2026-11-20" in v.reason[1]


def test_show_leaves_an_audit_entry_and_unknown_ids_fail(chain):
    a = chain["village_a"]
    text = deposit(a)
    shown = credentials.show(a, CERT, "c01")
    assert shown["text"] == text and shown["verdict"].valid and shown["qr_version"] <= 12
    entries = audit.trail(a, id_number=SPACE["citizen_id"])
    assert [e["action"] for e in entries] == ["cert_show"]
    for bad in ("440608100201-D2026-999999", "x" * 10_000, "case:1"):
        with pytest.raises(credentials.UnknownCertificate):
            credentials.show(a, bad)


def test_garbage_is_an_invalid_verdict_never_an_error(chain):
    for garbage in ("", "hello", "YM1:", "YM1:%%%", b"\xff\xfe", "YM1:" + "0" * 5000):
        v = credentials.verify(chain["village_b"], garbage)
        assert not v.valid and v.reason[0] and v.reason[1]


def test_revoke_needs_a_reason_and_an_id(chain):
    with pytest.raises(credentials.NoRevocationReason):
        credentials.revoke(chain["village_a"], CERT, "  ")
    with pytest.raises(credentials.UnknownCertificate):
        credentials.revoke(chain["village_a"], "nonsense", "原因")


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """A village that issued one certificate, and its town (module-wide: for hypothesis)."""
    nodes = make_chain(tmp_path_factory.mktemp("chain"), clock=Clock(datetime(2026, 11, 16, 9, 0, tzinfo=home.CHINA_TZ)))
    sync_all(nodes)
    text = deposit(nodes["village_a"])
    yield nodes["town"], text
    for n in nodes.values():
        n.close()


@settings(max_examples=60)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400), st.integers(0, 400).flatmap(
    lambda i: st.tuples(st.just(i), st.characters()))))
def test_verify_never_raises_and_a_changed_text_never_passes(issued, garbage):
    town, text = issued
    if isinstance(garbage, tuple):  # one character of the real text changed
        i, ch = garbage
        i %= len(text)
        if ch == text[i]:
            return
        garbage = text[:i] + ch + text[i + 1:]
    v = credentials.verify(town, garbage)
    assert not v.valid and v.reason[0] and v.reason[1]
    assert credentials.verify(town, text).valid


def test_a_result_issued_before_the_village_joined_is_valid_one_after_its_certificate_ended_is_not(chain, clock):
    """A village works before it joins a chain, with the key its certificate later vouches
    for: its results stay valid. After its certificate ended, its key vouches for nothing."""
    from yimen.node.services.enrollment import CERT_DAYS
    a, b = chain["village_a"], chain["village_b"]
    clock.advance(days=-30)
    early = deposit(a)
    assert credentials.verify(b, early).valid
    clock.advance(days=30 + CERT_DAYS + 1)
    late = deposit(a, "440608100201-D2026-000002")
    v = credentials.verify(b, late)
    assert not v.valid and "expired" in v.reason[1]
