from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from yimen.schema import region
from yimen.schema.errors import SchemaError
from yimen.schema.region import (
    InvalidRegionCode,
    ancestors,
    is_within,
    level,
    level_rank,
    normalize,
    parent_code,
    prefix,
)

GAOMING_TOWN = "440608100000"


# --- normalize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("44", "440000000000"),
        ("4406", "440600000000"),
        ("440608", "440608000000"),
        ("440608100", "440608100000"),
        ("440608100001", "440608100001"),
        ("  440608 \n", "440608000000"),
    ],
)
def test_normalize_accepts_prefixes(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_accepts_zero_tail_prefix_as_higher_level() -> None:
    assert normalize("440600") == "440600000000"
    assert level("440600") == "city"


@pytest.mark.parametrize("raw", [440608, None, b"440608", 44.0])
def test_normalize_rejects_non_string(raw: object) -> None:
    with pytest.raises(InvalidRegionCode, match="string"):
        normalize(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["4406a8", "4406-08", "４４０６０８", "4406 08", "44.6"])
def test_normalize_rejects_non_digits(raw: str) -> None:
    with pytest.raises(InvalidRegionCode, match="digits|must have"):
        normalize(raw)


def test_non_digit_message_names_the_character() -> None:
    with pytest.raises(InvalidRegionCode) as info:
        normalize("4406a8")
    assert "'a'" in info.value.en
    assert "“a”" in info.value.zh


@pytest.mark.parametrize(
    "raw", ["4", "440", "44060", "4406081", "44060810", "4406081000", "4406081000011"]
)
def test_normalize_rejects_wrong_length(raw: str) -> None:
    with pytest.raises(InvalidRegionCode, match="must have 12 digits"):
        normalize(raw)


def test_empty_string_is_a_length_error() -> None:
    with pytest.raises(InvalidRegionCode, match="has 0"):
        normalize("   ")


@pytest.mark.parametrize(
    "raw",
    ["00", "10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70", "72", "80",
     "83", "99"],
)
def test_normalize_rejects_unknown_province(raw: str) -> None:
    with pytest.raises(InvalidRegionCode, match="unknown province"):
        normalize(raw + "0608")


@pytest.mark.parametrize(
    "raw",
    ["11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82"],
)
def test_normalize_accepts_every_province_range_boundary(raw: str) -> None:
    assert normalize(raw) == raw + "0" * 10


@pytest.mark.parametrize(
    "raw",
    ["440000100000", "440600100000", "440608000001", "440008000000", "440000000001"],
)
def test_normalize_rejects_non_zero_part_below_zero_part(raw: str) -> None:
    with pytest.raises(InvalidRegionCode, match="is zero"):
        normalize(raw)


def test_cities_without_districts_may_skip_the_district_part() -> None:
    # Dongguan: 东城街道 and one of its communities.
    assert normalize("441900003000") == "441900003000"
    assert level("441900003001") == "village"
    assert parent_code("441900003000") == "441900000000"
    assert ancestors("441900003001") == ["441900003000", "441900000000", "440000000000"]


def test_cities_without_districts_still_need_trailing_zeros_below_town() -> None:
    with pytest.raises(InvalidRegionCode):
        normalize("441900000001")


def test_error_is_a_schema_error_with_code_and_both_languages() -> None:
    with pytest.raises(SchemaError) as info:
        normalize("99")
    assert info.value.code == "invalid_region_code"
    assert info.value.zh != info.value.en
    assert "99" in info.value.zh


# --- level, prefix, parent, ancestors -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("440000000000", "province"),
        ("440600000000", "city"),
        ("440608000000", "district"),
        ("440608100000", "town"),
        ("440608100001", "village"),
        ("4406", "city"),
    ],
)
def test_level(code: str, expected: str) -> None:
    assert level(code) == expected


def test_level_rank_orders_levels() -> None:
    assert [level_rank(x) for x in region.LEVELS] == [0, 1, 2, 3, 4]


def test_level_rank_rejects_unknown_level() -> None:
    with pytest.raises(ValueError, match="unknown region level"):
        level_rank("county")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("440000000000", "44"), ("440600", "4406"), ("440608", "440608"), (GAOMING_TOWN, "440608100")],
)
def test_prefix(code: str, expected: str) -> None:
    assert prefix(code) == expected


def test_parent_code_chain() -> None:
    assert parent_code("440608100001") == GAOMING_TOWN
    assert parent_code(GAOMING_TOWN) == "440608000000"
    assert parent_code("440608") == "440600000000"
    assert parent_code("4406") == "440000000000"
    assert parent_code("44") is None


def test_ancestors_parent_first() -> None:
    assert ancestors("440608100001") == [
        GAOMING_TOWN,
        "440608000000",
        "440600000000",
        "440000000000",
    ]
    assert ancestors("44") == []


def test_is_within_basic() -> None:
    assert is_within("440608100001", "440608")
    assert is_within("440608", "440608000000")
    assert not is_within("440608", "440608100")
    assert not is_within("440607100000", "440608")
    assert not is_within("450608000000", "44")


def test_is_within_normalizes_and_validates_both_sides() -> None:
    with pytest.raises(InvalidRegionCode):
        is_within("440608", "99")
    with pytest.raises(InvalidRegionCode):
        is_within("4406081", "44")


# --- properties -----------------------------------------------------------------------

provinces = st.sampled_from(sorted(region.PROVINCE_CODES))


@st.composite
def region_codes(draw: st.DrawFn) -> str:
    """A valid code of any level (non-zero parts down to the level, zeros below)."""
    depth = draw(st.integers(0, 4))
    widths = (2, 2, 3, 3)
    parts = [draw(provinces)]
    for width in widths[:depth]:
        parts.append(str(draw(st.integers(1, 10**width - 1))).zfill(width))
    return "".join(parts).ljust(12, "0")


@given(region_codes())
def test_normalize_is_idempotent_and_prefix_round_trips(code: str) -> None:
    assert normalize(code) == code
    assert normalize(prefix(code)) == code
    assert len(prefix(code)) == region.PREFIX_LEN[level(code)]


@given(region_codes())
def test_code_is_within_each_of_its_ancestors(code: str) -> None:
    chain = ancestors(code)
    assert len(chain) == level_rank(level(code))
    for ancestor in chain:
        assert is_within(code, ancestor)
        assert not is_within(ancestor, code)


@given(region_codes())
def test_ancestor_levels_strictly_decrease_to_province(code: str) -> None:
    ranks = [level_rank(level(c)) for c in [code, *ancestors(code)]]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) == len(ranks)
    assert ranks[-1] == 0


@given(region_codes())
def test_is_within_is_reflexive(code: str) -> None:
    assert is_within(code, code)
    assert is_within(prefix(code), code)


@given(region_codes(), region_codes(), region_codes())
def test_is_within_is_transitive(a: str, b: str, c: str) -> None:
    # Build a chain from a's ancestors so the premise holds often, plus random triples.
    chain = [a, *ancestors(a)]
    for child, mid, top in [(a, b, c), (chain[0], chain[len(chain) // 2], chain[-1])]:
        if is_within(child, mid) and is_within(mid, top):
            assert is_within(child, top)


@given(region_codes(), st.data())
def test_siblings_are_not_within_each_other(code: str, data: st.DataObject) -> None:
    parent = parent_code(code)
    assume(parent is not None)
    lvl = level(code)
    start, end = region.PREFIX_LEN[level(parent)], region.PREFIX_LEN[lvl]
    width = end - start
    other_part = data.draw(st.integers(1, 10**width - 1).map(lambda n: str(n).zfill(width)))
    assume(other_part != code[start:end])
    sibling = code[:start] + other_part + code[end:]
    assert parent_code(sibling) == parent
    assert not is_within(sibling, code)
    assert not is_within(code, sibling)
