"""The transfer rule and resuming (pure): any split of any file, cut at any chunks (the one
in flight lost), resumed from what is missing, reassembles the same bytes, and moves each
chunk at most once more than it needs."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, strategies as st

from yimen.personal_space import files
from yimen.personal_space.transfer import Budget, Holder, may_move, missing
from yimen.sync.transports.chunks import check_hashes
from yimen.sync.transports.wire import WireError

A, B, TOWN_A, TOWN_B = "440608100201", "440608100202", "440608100000", "440608101000"


@given(data=st.binary(max_size=5000), chunk_size=st.integers(1, 700),
       cuts=st.lists(st.integers(0, 20), max_size=4))
def test_any_split_cut_anywhere_and_resumed_reassembles_the_same_bytes(data, chunk_size, cuts):
    sent: dict[str, bytes] = {}
    ref = files.split(io.BytesIO(data), "scan.pdf", put=sent.__setitem__, chunk_size=chunk_size)
    held: dict[str, bytes] = {}
    moved = 0
    for cut in [*cuts, None]:  # each attempt moves whole chunks until the link is cut
        for i, digest in enumerate(missing(ref.chunks, set(held))):
            moved += 1  # on the wire, whether it arrives whole or not
            if cut is not None and i == cut:
                break  # cut mid-chunk: that chunk is lost, nothing of it is kept
            held[digest] = sent[digest]
    assert b"".join(files.join(ref, (held[c] for c in ref.chunks))) == data
    lost = sum(1 for c in cuts if c < len(ref.chunks))  # at most one chunk lost per cut
    assert moved <= len(set(ref.chunks)) + lost


def test_a_chunk_moves_only_to_a_peer_that_may_hold_a_document_listing_it():
    no_consent = Holder("d1", A, lambda: [])
    assert may_move([no_consent], A) and may_move([no_consent], TOWN_A)
    assert not may_move([no_consent], B) and not may_move([no_consent], TOWN_B) and not may_move([], TOWN_A)
    consented = Holder("d1", A, lambda: [B])
    assert may_move([consented], B) and not may_move([consented], TOWN_B)
    assert may_move([no_consent, consented], B)  # any document listing it will do


def test_going_down_a_document_of_the_peers_own_subtree_lets_nothing_through():
    """A village that wrote a document listing a hash it saw (another's chunk) gets nothing
    down by it; only a document from outside, under its consent, does."""
    forged = Holder("d2", B, lambda: [])
    assert may_move([forged], B) and not may_move([forged], B, down=True)  # taken from B, never given to it
    assert not may_move([forged, Holder("d1", A, lambda: [])], B, down=True)
    assert may_move([forged, Holder("d1", A, lambda: [B])], B, down=True)


def test_the_home_decides_without_asking_for_consents():
    def boom():
        raise AssertionError("consents looked up")
    assert may_move([Holder("d1", A, boom)], TOWN_A)


def test_a_budget_ends_on_bytes_or_time_whichever_first():
    now = [0.0]
    b = Budget(100, 2.0, clock=lambda: now[0])
    assert b.left()
    b.spend(100)
    assert not b.left()
    b = Budget(100, 2.0, clock=lambda: now[0])
    now[0] = 2.5
    assert not b.left()


@pytest.mark.parametrize("value", [None, "ab" * 32, ["AB" * 32], ["a" * 63], [1], ["a" * 64] * 4097])
def test_hash_lists_from_outside_are_checked(value):
    with pytest.raises(WireError):
        check_hashes(value)


def test_a_hash_list_loses_its_repeats():
    assert check_hashes(["a" * 64, "b" * 64, "a" * 64]) == ["a" * 64, "b" * 64]
