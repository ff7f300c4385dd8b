"""The reuse rule: which materials a citizen's space satisfies, and by which document."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from yimen.personal_space.reuse import Held, best, satisfied, usable

TYPES = ("id_card", "household_register", "income_proof", "disability_certificate")
TODAY = "2026-11-16"
days = st.sampled_from(["", "2026-01-01", "2026-11-15", "2026-11-16", "2027-03-01"])


@st.composite
def spaces(draw) -> list[Held]:
    n = draw(st.integers(0, 8))
    return [Held(doc_id=f"440608100201-D2026-{i:06d}", doc_type=draw(st.sampled_from(TYPES)),
                 source=draw(st.sampled_from(["result", "scan"])), issued_on=draw(days.filter(bool)),
                 valid_until=draw(days), deposited_at=draw(st.sampled_from(["2026-11-01T09:00:00+08:00",
                                                                           "2026-11-02T09:00:00+08:00"])))
            for i in range(n)]


materials = st.lists(st.tuples(st.sampled_from(["甲", "乙", "丙", "丁", "戊"]), st.one_of(st.none(), st.sampled_from(TYPES))),
                     max_size=5, unique_by=lambda m: m[0])


@given(materials, spaces(), st.sets(st.sampled_from(["甲", "乙", "丙"])), st.randoms())
def test_a_material_is_satisfied_exactly_when_a_usable_document_of_its_type_is_held(mats, docs, scanned, rnd):
    chosen = satisfied(mats, docs, TODAY, scanned)
    for name, doc_type in mats:
        candidates = [d for d in docs if d.doc_type == doc_type and usable(d, TODAY)]
        if doc_type is None or not candidates or name in scanned:
            assert name not in chosen
            continue
        d = chosen[name]
        assert d in candidates and usable(d, TODAY)
        # no candidate ranks above it: a result before a scan, then the latest issued, then deposited
        key = lambda x: (x.source == "result", x.issued_on, x.deposited_at, x.doc_id)  # noqa: E731
        assert key(d) == max(map(key, candidates))
    assert set(chosen) <= {name for name, _ in mats}
    shuffled = list(docs)
    rnd.shuffle(shuffled)
    assert satisfied(mats, shuffled, TODAY, scanned) == chosen  # the same choice at every replica


@given(spaces())
def test_an_expired_document_is_never_chosen(docs):
    for d in best(docs, TODAY).values():
        assert not d.valid_until or d.valid_until >= TODAY


def test_a_document_valid_until_today_is_still_usable_and_yesterdays_is_not():
    assert usable(Held("a", "id_card", valid_until=TODAY), TODAY)
    assert not usable(Held("a", "id_card", valid_until="2026-11-15"), TODAY)
    assert usable(Held("a", "id_card"), TODAY)


def test_a_material_without_a_type_is_never_satisfied():
    assert satisfied([("申请表", None)], [Held("a", "id_card")], TODAY) == {}
