"""Who may write what: a document's id names its owner (`owner`), its scope must be the
owner's region, and its author the owner or an ancestor (`may_write`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema import region
from yimen.sync.docs import KINDS
from yimen.sync import visibility
from yimen.sync.visibility import flow, may_write, owner, visible, write_refusal

CITY, DISTRICT, TOWN, OTHER_TOWN = "4406", "440608", "440608100", "440608200"
VILLAGE, VILLAGE_B, OTHER_VILLAGE = "440608100201", "440608100202", "440608200201"
CASE_B = f"{VILLAGE_B}-2026-000002"  # village B's next receipt number


@pytest.mark.parametrize("doc_id, kind, scope, expected", [
    (f"{VILLAGE}-2026-000001", "case", VILLAGE, VILLAGE),
    (f"{TOWN}-2026-000001", "case", TOWN, TOWN),
    (f"{VILLAGE}-k1", "consent", VILLAGE, VILLAGE),
    (f"{VILLAGE}-file-1", "space_doc", VILLAGE, VILLAGE),
    (f"{VILLAGE}-a", "audit", VILLAGE, VILLAGE),
    (f"node:{VILLAGE}", "node", TOWN, VILLAGE),  # the owner is in the id, whatever the scope says
    (f"revocation:{VILLAGE}", "revocation", VILLAGE, VILLAGE),
    (f"item:{CITY}:T-IMM", "catalog_item", CITY, CITY),  # an item's id names its publisher and code
    (f"item:{VILLAGE}:T-IMM", "catalog_item", CITY, VILLAGE),  # one code, published at another level
    ("c1", "case", VILLAGE, None),  # no owner in the id
    (f"-{VILLAGE}", "case", VILLAGE, None),
    (f"{VILLAGE}-", "case", VILLAGE, None),
    (f" {VILLAGE}-2026-000001", "case", VILLAGE, None),  # nothing around the code
    ("440608100201\u0661-2026-1", "case", VILLAGE, None),  # ASCII digits only
    ("999999-2026-1", "case", "999999", None),  # not a region code
    (f"node-{VILLAGE}", "node", VILLAGE, None),
    (f"node:{VILLAGE}", "revocation", VILLAGE, None),
    ("T-IMM", "catalog_item", CITY, None),
    ("item:", "catalog_item", CITY, None),
    ("item:T-IMM", "catalog_item", CITY, None),  # names no publisher
    (f"item:{CITY}:", "catalog_item", CITY, None),
    (f"item:{CITY}", "catalog_item", CITY, None),
    ("item:not-a-region:T-IMM", "catalog_item", CITY, None),
    (f"{VILLAGE}-2026-000001", "unknown kind", VILLAGE, None),
])
def test_the_owner_is_read_from_the_id(doc_id, kind, scope, expected):
    assert owner(doc_id, kind) == expected


@pytest.mark.parametrize("author, doc_id, kind, scope, reason", [
    (VILLAGE, f"{VILLAGE}-2026-000001", "case", VILLAGE, None),
    (TOWN, f"{VILLAGE}-2026-000001", "case", VILLAGE, None),  # an ancestor appends its decisions
    (CITY, f"{VILLAGE}-2026-000001", "case", VILLAGE, None),
    (TOWN, f"node:{VILLAGE}", "node", VILLAGE, None),  # the parent writes the node record
    (CITY, f"node:{CITY}", "node", CITY, None),  # the root writes its own
    (CITY, f"item:{CITY}:T-IMM", "catalog_item", CITY, None),
    (DISTRICT, f"item:{TOWN}:T-IMM", "catalog_item", TOWN, None),  # an ancestor publishes a new version
    (VILLAGE, f"item:{VILLAGE}:T-IMM", "catalog_item", VILLAGE, None),  # a code of the city's, its own item
    (VILLAGE, f"item:{CITY}:T-IMM", "catalog_item", VILLAGE,
     f"document item:{CITY}:T-IMM belongs to {CITY}, not to scope {VILLAGE}"),  # no squatting a code
    # receipt-number squatting: a village's key and B's next number
    (VILLAGE, CASE_B, "case", VILLAGE, f"document {CASE_B} belongs to {VILLAGE_B}, not to scope {VILLAGE}"),
    (VILLAGE, CASE_B, "case", VILLAGE_B, f"node {VILLAGE} may not write documents of {VILLAGE_B}"),
    (VILLAGE, f"{TOWN}-2026-000001", "case", TOWN, f"node {VILLAGE} may not write documents of {TOWN}"),
    (TOWN, f"{OTHER_VILLAGE}-2026-000001", "case", OTHER_VILLAGE,
     f"node {TOWN} may not write documents of {OTHER_VILLAGE}"),
    (TOWN, f"{OTHER_VILLAGE}-2026-000001", "case", TOWN,
     f"document {OTHER_VILLAGE}-2026-000001 belongs to {OTHER_VILLAGE}, not to scope {TOWN}"),
    (VILLAGE, f"node:{VILLAGE_B}", "node", VILLAGE, f"document node:{VILLAGE_B} belongs to {VILLAGE_B}"),
    (VILLAGE, f"item:{TOWN}:T-IMM", "catalog_item", TOWN, f"node {VILLAGE} may not write documents of {TOWN}"),
    (VILLAGE, "c1", "case", VILLAGE, "names no owner"),
    (TOWN, f"revocation:{VILLAGE}", "revocation", VILLAGE, None),  # an ancestor revokes
    (VILLAGE, f"revocation:{VILLAGE}", "revocation", VILLAGE, "may not write its own revocation"),
    # an e-certificate's revocation: by its issuer or an ancestor, never by another village
    (VILLAGE, f"credential_revocation:{VILLAGE}", "credential_revocation", VILLAGE, None),
    (TOWN, f"credential_revocation:{VILLAGE}", "credential_revocation", VILLAGE, None),
    (VILLAGE_B, f"credential_revocation:{VILLAGE}", "credential_revocation", VILLAGE,
     f"node {VILLAGE_B} may not write documents of {VILLAGE}"),
    ("not-a-node", f"{VILLAGE}-2026-000001", "case", VILLAGE, "may not write"),
    (VILLAGE, f"{VILLAGE}-1", "case", "not-a-region", "not to scope not-a-region"),
])
def test_may_write(author, doc_id, kind, scope, reason):
    refusal = write_refusal(author, doc_id, kind, scope)
    assert may_write(author, doc_id, kind, scope) is (reason is None)
    if reason is not None:
        zh, en = refusal
        assert reason in en and zh


REGIONS = st.sampled_from([CITY, DISTRICT, TOWN, OTHER_TOWN, VILLAGE, VILLAGE_B, OTHER_VILLAGE])


@given(author=REGIONS, own=REGIONS, scope=REGIONS, kind=st.sampled_from(KINDS), rest=st.text(min_size=1))
def test_a_document_is_written_only_in_its_owners_scope_by_the_owner_or_an_ancestor(author, own, scope, kind, rest):
    doc_id = {"node": f"node:{own}", "revocation": f"revocation:{own}", "credential_revocation": f"credential_revocation:{own}",
              "catalog_item": f"item:{own}:{rest}", "rating": f"{own}-{rest}:rating"}.get(kind, f"{own}-{rest}")
    assert owner(doc_id, kind) == own
    self_revoking = kind == "revocation" and author == own
    assert may_write(author, doc_id, kind, scope) == (scope == own and region.is_within(own, author)
                                                      and not self_revoking)


@given(author=st.text(), doc_id=st.text(), kind=st.text(), scope=st.text())
def test_any_text_gets_an_answer_never_an_error(author, doc_id, kind, scope):
    refusal = write_refusal(author, doc_id, kind, scope)
    assert refusal is None or all(isinstance(t, str) and t for t in refusal)
    if refusal is None:  # whatever it was given, what may be written is owned and in scope
        assert owner(doc_id, kind) == scope and region.is_within(scope, author)


OTHER_CITY_VILLAGE = "440701100201"


@pytest.mark.parametrize("scope, kind, node, seen", [
    (VILLAGE, "case", TOWN, True), (VILLAGE, "case", CITY, True),  # everything flows up
    (VILLAGE, "case", VILLAGE_B, False), (TOWN, "case", VILLAGE, False),
    (TOWN, "catalog_item", VILLAGE, True), (TOWN, "catalog_item", OTHER_VILLAGE, False),  # down: inside the scope
    (VILLAGE, "node", OTHER_VILLAGE, True), (VILLAGE, "revocation", VILLAGE_B, True),  # the city's trust list
    (OTHER_TOWN, "node", VILLAGE, True), (CITY, "revocation", VILLAGE, True),
    (VILLAGE, "node", OTHER_CITY_VILLAGE, False),  # another city's nodes are not this city's
    (VILLAGE, "space_doc", CITY, True), (VILLAGE, "space_doc", VILLAGE_B, False),  # in the stream: up only
    (VILLAGE, "credential_revocation", OTHER_VILLAGE, True),  # revoked e-certificates: the trust list
    (VILLAGE, "credential_revocation", OTHER_CITY_VILLAGE, False),
])
def test_visible_by_flow(scope, kind, node, seen):
    assert visible(scope, flow(kind), node) is seen


@given(scope=REGIONS, node=REGIONS, kind=st.sampled_from(KINDS))
def test_the_flows_nest_city_wide_above_down_above_up(scope, node, kind):
    """What a document flowing up may be seen by, a down one may too, and a city-wide one."""
    ups, downs, city = (visible(scope, f, node) for f in (visibility.UP, visibility.DOWN, visibility.CITY))
    assert (not ups or downs) and (not downs or city)
    assert visible(scope, flow(kind), node) in (ups, downs, city)


@given(scope=REGIONS, node=REGIONS, consented=st.lists(REGIONS, max_size=3))
def test_a_space_document_is_held_by_its_home_its_ancestors_and_the_path_to_a_consent(scope, node, consented):
    held = visibility.may_hold(scope, node, consented)
    assert held == (visible(scope, visibility.SPACE, node) or any(region.is_within(x, node) for x in consented))
    assert visibility.may_hold(scope, node, []) == visible(scope, visibility.UP, node)
    if held and consented:  # a consent only ever adds holders: X and X's ancestors
        assert visibility.may_hold(scope, node, consented[:1] + consented)
