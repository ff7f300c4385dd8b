"""Anti-entropy: per-scope digests and listings, and the checks on what a peer sends of them
(a reconcile request's digests, a parent's listing, the ids and seals asked for): every
malformed shape is MalformedReconcile, never a TypeError or a KeyError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.sync import digests
from yimen.sync.digests import MAX_DOCS, MAX_SCOPES, MalformedReconcile

SCOPES = ["44", "4406", "440608", "440608100", "440608100201", "440608100000"]
scopes = st.sampled_from(SCOPES)
doc_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)
listings = st.dictionaries(scopes, st.dictionaries(doc_ids, st.binary(max_size=20), max_size=5), max_size=4)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=14) | st.binary(max_size=14),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=14) | st.binary(max_size=14),
                                                                inner, max_size=4), max_leaves=12)


@given(listings)
def test_digests_of_a_listing_pass_the_check_and_compare_equal_to_themselves(lst):
    mine = digests.digests(lst)
    assert digests.check_digests(mine) == mine
    assert digests.mismatched(mine, mine) == []
    assert digests.check_listing(lst) == lst


@given(listings, listings)
def test_mismatched_scopes_are_exactly_those_whose_documents_differ(a, b):
    got = digests.mismatched(digests.digests(a), digests.digests(b))
    assert got == sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))


def check_or_refused(check, value) -> None:
    try:
        check(value)
    except MalformedReconcile as e:
        assert e.code == "bad_request" and e.zh and e.en


@given(anything)
def test_any_value_is_accepted_or_refused_as_malformed(value):
    """What msgpack can carry (bytes keys made `mismatched` raise TypeError sorting)."""
    for check in (digests.check_digests, digests.check_listing, digests.check_doc_ids, digests.check_seals):
        check_or_refused(check, value)


@pytest.mark.parametrize("theirs", [
    {b"440608100201": "ab" * 32}, {"440608100201": "ab" * 32, b"4406": "ab" * 32}, {"4406": b"x" * 64},
    {"not-a-region": "ab" * 32}, {"4406 ": "ab" * 32}, {"440600": "ab" * 32}, {"4406": "ab"}, {"4406": None},
    ["4406"], "4406", None,
])
def test_malformed_digests_are_refused(theirs):
    with pytest.raises(MalformedReconcile):
        digests.check_digests(theirs)


def test_the_digests_map_is_bounded():
    codes = (f"440608{town:03d}{village:03d}" for town in range(1, 1000) for village in range(1, 1000))
    many = {code: "ab" * 32 for code, _ in zip(codes, range(MAX_SCOPES + 1))}
    with pytest.raises(MalformedReconcile):
        digests.check_digests(many)
    many.popitem()
    assert len(digests.check_digests(many)) == MAX_SCOPES


@pytest.mark.parametrize("docs", [[5], [b"c1"], ["a b"], ["x" * 129], [""], "c1", None, ["c"] * (MAX_DOCS + 1)])
def test_malformed_doc_id_lists_are_refused(docs):
    with pytest.raises(MalformedReconcile):
        digests.check_doc_ids(docs)


def test_seals_answered_are_byte_pairs():
    assert digests.check_seals([[b"body", b"sig"]]) == [(b"body", b"sig")]
    for bad in ([[b"body"]], [["body", b"sig"]], [(b"b", b"s", b"x")], None, {"a": 1}):
        with pytest.raises(MalformedReconcile):
            digests.check_seals(msgpack.unpackb(msgpack.packb(bad, use_bin_type=True), raw=False,
                                                strict_map_key=False))
