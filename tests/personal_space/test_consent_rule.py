"""The consent rule, as properties: `visibility.may_hold` (the one rule) and what a
consent covers at a node (`consent_rule`): with and without consent, expired, withdrawn,
a holder outside the requester's subtree."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from yimen.personal_space.consent_rule import (EXPIRED, NO_CONSENT, WITHDRAWN, HeldConsent, HeldDoc, consented,
                                               covered, may_keep, purge_reason)
from yimen.schema import region
from yimen.sync.visibility import may_hold

CITY, DISTRICT, TOWN, TOWN2 = "4406", "440608", "440608100", "440608101"
VILLAGE_A, VILLAGE_B, VILLAGE_C = "440608100201", "440608100202", "440608101201"
NODES = [CITY, DISTRICT, TOWN, TOWN2, VILLAGE_A, VILLAGE_B, VILLAGE_C]
REGIONS = st.sampled_from(NODES)
TYPES = st.sampled_from(["income_proof", "id_card", "household_register"])
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=8)))
SUBJECTS = st.sampled_from(["s1", "s2"])


def at(hours: int) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


@st.composite
def consents(draw) -> HeldConsent:
    withdrawn = draw(st.booleans())
    return HeldConsent(f"{draw(REGIONS)}-C2026-{draw(st.integers(1, 9)):06d}", draw(SUBJECTS), draw(REGIONS),
                       tuple(draw(st.sets(TYPES, min_size=1))), at(draw(st.integers(-48, 48))),
                       at(-1) if withdrawn else "")


@st.composite
def docs(draw) -> HeldDoc:
    return HeldDoc(f"{VILLAGE_A}-D2026-{draw(st.integers(1, 9)):06d}", draw(SUBJECTS), draw(TYPES), draw(REGIONS))


def within(inner: str, outer: str) -> bool:
    return region.is_within(inner, outer)


@given(home=REGIONS, node=REGIONS)
def test_without_consent_only_the_home_and_its_ancestors_hold_a_space_document(home, node):
    assert may_hold(home, node, []) == within(home, node)


@given(home=REGIONS, node=REGIONS, given_at=st.lists(REGIONS, max_size=3))
def test_a_consent_at_x_lets_x_and_its_ancestors_hold_it_and_no_one_else(home, node, given_at):
    assert may_hold(home, node, given_at) == (within(home, node) or any(within(x, node) for x in given_at))
    if not within(home, node) and node not in given_at and not any(within(x, node) for x in given_at):
        assert not may_hold(home, node, given_at)  # a sibling of the consent's node: never


@given(c=consents(), doc=docs(), requester=REGIONS, others=st.lists(consents(), max_size=3))
def test_what_a_consent_covers_for_a_requester(c, doc, requester, others):
    now = NOW.isoformat()
    got = covered(c, [doc], requester, [c, *others], now)
    if got:
        assert c.live(now) and not c.withdrawn_at and c.expires_at > now  # live: neither withdrawn nor expired
        assert within(c.node, requester)  # the requester is the consent's node or above it
        assert doc.subject == c.subject and doc.doc_type in c.types  # the citizen's, of a type it names
        assert not within(doc.home, requester)  # it does not get it in the stream already
    expected = (c.live(now) and within(c.node, requester) and doc.subject == c.subject
                and doc.doc_type in c.types and not within(doc.home, requester))
    assert got == ([doc.doc_id] if expected else [])


@given(doc=docs(), requester=REGIONS, c=consents())
def test_an_expired_or_withdrawn_consent_covers_nothing(doc, requester, c):
    live = HeldConsent(c.consent_id, doc.subject, c.node, (doc.doc_type,), at(24))
    ended = [HeldConsent(c.consent_id, doc.subject, c.node, (doc.doc_type,), at(-1)),
             HeldConsent(c.consent_id, doc.subject, c.node, (doc.doc_type,), at(24), at(-1))]
    now = NOW.isoformat()
    for gone in ended:
        assert covered(gone, [doc], requester, [gone], now) == []
        assert consented([gone], doc.subject, doc.doc_type, now) == []
    assert covered(live, [doc], requester, [live], now) == (
        [doc.doc_id] if within(c.node, requester) and not within(doc.home, requester) else [])


@given(doc=docs(), holder=REGIONS, held=st.lists(consents(), max_size=4))
def test_a_holder_keeps_a_document_only_under_a_live_consent_within_it_else_says_why(doc, holder, held):
    now = NOW.isoformat()
    mine = [c for c in held if c.subject == doc.subject and doc.doc_type in c.types and within(c.node, holder)]
    keep = may_keep(doc, holder, held, now)
    assert keep == (within(doc.home, holder) or any(c.live(now) for c in mine))
    if not keep:
        reason = purge_reason(doc, holder, held, now)
        assert reason == (WITHDRAWN if any(c.withdrawn_at for c in mine) else EXPIRED if mine else NO_CONSENT)
        for c in mine:  # and no consent there would bring it back
            assert covered(c, [doc], holder, held, now) == []


def test_a_document_whose_body_cannot_be_read_is_purged_as_held_under_no_consent():
    assert purge_reason(None, VILLAGE_C, [], NOW.isoformat()) == NO_CONSENT
