"""Space document and consent bodies: what is built reads back the same; anything else is
MalformedSpaceDocument, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from support import id_number
from yimen.personal_space import citizen
from yimen.personal_space.documents import (Consent, FileRef, MalformedSpaceDocument, SpaceDocument, covers, live,
                                            read_consent, read_space_doc)
from yimen.schema.doc_types import DOC_TYPES

HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
TEXT = st.text(max_size=40)


@st.composite
def files(draw):
    size = draw(st.integers(0, 5 << 20))
    n = max(1, -(-size // (1 << 20)))
    return FileRef(draw(HEX), draw(TEXT), "image/jpeg", size, tuple(draw(st.lists(HEX, min_size=n, max_size=n))))


@st.composite
def space_docs(draw):
    return SpaceDocument(
        doc_type=draw(st.sampled_from(sorted(DOC_TYPES))), title=draw(TEXT), citizen_id=id_number(draw(st.integers(1, 999))),
        citizen_name=draw(st.text(min_size=1, max_size=10).filter(str.strip)), issuer="440608100201",
        issuer_name=draw(TEXT), issued_on="2026-11-16", source=draw(st.sampled_from(["result", "scan"])),
        deposited_at="2026-11-16T09:00:00+08:00", clerk_id="c01", case_id=draw(st.sampled_from(["", "440608100201-2026-000001"])),
        credential=draw(st.none() | st.binary(max_size=300)),
        files=tuple({f.hash: f for f in draw(st.lists(files(), max_size=3))}.values()))


@given(space_docs())
def test_a_space_document_reads_back_as_built(d):
    got = read_space_doc({"space": d.space_map(), "files": d.files_map()})
    assert got == SpaceDocument(**{**vars(d), "files": tuple(sorted(d.files, key=lambda f: f.hash))})


@given(st.dictionaries(st.sampled_from(["space", "files", "x"]),
                       st.recursive(st.none() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                                    max_leaves=12)))
def test_anything_else_is_malformed_never_another_error(value):
    for read in (read_space_doc, read_consent):
        try:
            read(value)
        except MalformedSpaceDocument:
            pass


@given(space_docs(), st.sampled_from(["doc_type", "citizen_id", "issued_on", "source", "deposited_at"]),
       st.one_of(st.integers(), st.text(max_size=30), st.none()))
def test_a_changed_field_that_breaks_its_rule_is_refused(d, key, value):
    space = {**d.space_map(), key: value}
    try:
        got = read_space_doc({"space": space, "files": d.files_map()})
    except MalformedSpaceDocument:
        return
    assert getattr(got, key) == value  # accepted only if it is still a valid value


def consent(**kw) -> Consent:
    base = dict(node="440608100202", citizen_id=id_number(1), citizen_name="陈美玲", types=("income_proof",),
                purpose="临时救助", granted_at="2026-11-16T09:00:00+08:00", expires_at="2026-12-16T09:00:00+08:00",
                clerk_id="c01", clerk_name="李敏")
    return Consent(**{**base, **kw})


def test_a_consent_reads_back_and_is_live_until_it_expires_or_is_withdrawn():
    c = consent()
    assert read_consent({"consent": c.consent_map(), "withdrawn": {}}) == c
    assert live(c.expires_at, "", "2026-12-16T08:59:59+08:00")
    assert not live(c.expires_at, "", "2026-12-16T09:00:00+08:00")
    assert not live(c.expires_at, "2026-11-20T10:00:00+08:00", "2026-11-21T10:00:00+08:00")
    assert live(c.expires_at, "", "2026-12-16T00:59:59+00:00")  # offsets are compared as times
    assert covers(c.types, "income_proof") and not covers(c.types, "id_card")


def test_a_citizen_is_found_by_a_keyed_hash_only():
    key = bytes(32)
    s = citizen.subject(key, id_number(1))
    assert len(s) == 32 and id_number(1) not in s
    assert s == citizen.subject(key, id_number(1).lower()) != citizen.subject(bytes([1]) * 32, id_number(1))


@pytest.mark.parametrize("field, value", [
    ("expires_at", "2026-12-16T09:00:00"),  # no offset: not comparable with any node's clock
    ("granted_at", "2026-11-16"),
    ("expires_at", "2127-11-16T09:00:00+08:00"),  # a century: more than any node honours
    ("expires_at", "2026-11-15T09:00:00+08:00"),  # before it was given
])
def test_a_consent_whose_times_break_the_rules_is_malformed(field, value):
    with pytest.raises(MalformedSpaceDocument):
        read_consent({"consent": {**consent().consent_map(), field: value}})


def test_a_time_that_cannot_be_compared_is_never_live():
    assert not live("2026-12-16T09:00:00", "", "2026-11-16T09:00:00+08:00")
    assert not live("not a time", "", "2026-11-16T09:00:00+08:00")
