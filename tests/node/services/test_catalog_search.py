"""Finding an item to accept: by a part of its code or name, or by the pinyin initials of
its name, consecutive (zdsh: 最低生活) or in order with gaps (dbsq, 低保: 最低生活保障申请);
only the items of the clerk's departments that this node's level accepts."""

from __future__ import annotations

from hypothesis import given, strategies as st

from support import MINI_CATALOG, TOWN
from yimen.node import home
from yimen.node.services import catalog
from yimen.schema.catalog import parse_catalog_json

HANZI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
NAMES = st.text(HANZI, min_size=1, max_size=12)
CODES = st.from_regex(r"[A-Z]{1,3}-[0-9]{1,3}", fullmatch=True)


@given(NAMES, CODES, st.data())
def test_any_part_of_the_code_or_the_name_finds_the_item(name, code, data):
    i = data.draw(st.integers(0, len(name) - 1))
    j = data.draw(st.integers(i + 1, len(name)))
    assert catalog.match_rank(name[i:j], code, name) in (0, 1)  # 0: the part is in the code too
    k = data.draw(st.integers(0, len(code) - 1))
    assert catalog.match_rank(code[k:].lower(), code, name) == 0


@given(NAMES, st.data())
def test_consecutive_initials_of_any_reading_find_the_item(name, data):
    i = data.draw(st.integers(0, len(name) - 1))
    j = data.draw(st.integers(i + 1, len(name)))
    letters = catalog.initials(name)
    query = "".join(data.draw(st.sampled_from(sorted(letters[p]))) for p in range(i, j))
    assert catalog.match_rank(query, "0", name) in (1, 2)
    assert catalog.match_rank(" ".join(query.upper()), "0", name) in (1, 2)  # case and blanks do not matter


@given(NAMES, st.data())
def test_characters_or_initials_in_order_with_gaps_find_the_item(name, data):
    places = sorted(data.draw(st.sets(st.integers(0, len(name) - 1), min_size=1)))
    letters = catalog.initials(name)
    query = "".join(data.draw(st.sampled_from([name[p], *sorted(letters[p])])) for p in places)
    assert catalog.match_rank(query, "0", name) is not None


@given(NAMES, CODES, st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=6))
def test_a_query_with_a_character_found_nowhere_finds_nothing(name, code, query):
    possible = set(code.lower()) | set(name) | set().union(*catalog.initials(name))
    if any(c.lower() not in possible for c in query):
        assert catalog.match_rank(query, code, name) is None


def test_the_ranking_and_the_examples(node):
    rank = catalog.match_rank
    assert rank("", "T-DIBAO", "最低生活保障申请") == 0
    assert rank("dibao", "T-DIBAO", "最低生活保障申请") == 0
    assert rank("生活", "T-DIBAO", "最低生活保障申请") == 1
    assert rank("zdsh", "T-DIBAO", "最低生活保障申请") == 2
    assert rank("dbsq", "T-DIBAO", "最低生活保障申请") == rank("低保", "T-DIBAO", "最低生活保障申请") == 3
    assert rank("cq", "X", "重庆") == rank("zq", "X", "重庆") == 2  # every reading of 重
    assert rank("qz", "X", "重庆") is None  # order counts
    assert [r["code"] for r in catalog.list_items(node, "sbcb")] == ["T-IMM"]  # the CLI's search too


def test_only_the_clerks_departments_and_this_levels_items(node, tmp_path):
    assert [r["code"] for r in catalog.acceptable(node, ["社保"])] == ["T-IMM"]
    everything = ["民政", "社保", "村委会"]
    assert [r["code"] for r in catalog.acceptable(node, everything)] == ["T-DIBAO", "T-IMM", "T-LOCAL"]
    assert [r["code"] for r in catalog.acceptable(node, everything, "sb")] == ["T-IMM", "T-DIBAO"]  # 社保… before 最低生活保…
    assert catalog.acceptable(node, ["管理员"]) == []
    town_only = """{"items": [{"code": "T-TOWN", "name": "镇级事项", "department": "民政", "legal_basis": "条例",
     "accept_level": "town", "steps": [[{"level": "town", "department": "民政"}]], "time_limit_days": 5, "fee": 0,
     "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]}]}"""
    village = home.init(tmp_path / "v2", "440608100202", "另一村")
    town = home.init(tmp_path / "town", TOWN, "镇")
    try:
        for n in (village, town):
            catalog.import_items(n, parse_catalog_json(town_only, "2026-01-01"))
        assert catalog.acceptable(village, ["民政"]) == []
        assert [r["code"] for r in catalog.acceptable(town, ["民政"])] == ["T-TOWN"]
        catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
        assert [r["code"] for r in catalog.acceptable(town, ["民政"])] == ["T-DIBAO", "T-TOWN"]  # a village's item too
    finally:
        village.close()
        town.close()
