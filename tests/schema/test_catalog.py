"""Tests for yimen.schema.catalog: the shipped samples, round trips, validation rules."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema.catalog import (
    DEPARTMENTS, DOC_TYPES, LEVELS, REQUIREMENTS, STATUSES, CatalogItem, InvalidCatalog,
    Material, Reviewer, items_to_csv, parse_catalog, parse_catalog_csv, parse_catalog_json,
)
from yimen.schema.errors import SchemaError

DATA = Path(__file__).parents[2] / "node" / "data"


def _load_json() -> list[CatalogItem]:
    return parse_catalog_json((DATA / "catalog_sample.json").read_text(encoding="utf-8"))


def _village_only(item: CatalogItem) -> bool:
    return bool(item.steps) and all(r.level == "village" for s in item.steps for r in s)


# ---------------------------------------------------------------- shipped samples

def test_sample_json_parses_with_enough_items() -> None:
    items = _load_json()
    codes = [item.code for item in items]
    assert len(items) >= 61
    assert len(set(codes)) == len(codes)
    assert sum(item.immediate for item in items) >= 10
    assert any(len(step) > 1 for item in items for step in item.steps)
    assert sum(_village_only(item) for item in items) >= 3
    assert all(item.status == "active" and item.version == 1 for item in items)
    assert all(item.effective_date == "2026-01-01" for item in items)
    assert all(item.accept_level == "village" for item in items)


def test_sample_json_covers_the_departments_and_material_kinds() -> None:
    items = _load_json()
    departments = {item.department for item in items}
    assert {"民政", "卫健", "人社", "社保", "医保", "教育", "残联", "退役军人",
            "村委会"} <= departments
    requirements = {m.requirement for item in items for m in item.materials}
    assert requirements == set(REQUIREMENTS)
    assert all(2 <= len(item.materials) <= 6 for item in items)


def test_sample_json_title() -> None:
    raw = json.loads((DATA / "catalog_sample.json").read_text(encoding="utf-8"))
    assert raw["catalog"] == "高明区村居一门式首批服务事项（样例）"


def test_sample_csv_parses_and_differs_from_json() -> None:
    text = (DATA / "catalog_sample.csv").read_text(encoding="utf-8")
    items = parse_catalog_csv(text, default_effective_date="2026-03-01")
    assert len(items) == 5
    assert not {i.code for i in items} & {i.code for i in _load_json()}
    assert any(item.immediate for item in items)
    assert any(len(step) > 1 for item in items for step in item.steps)
    by_code = {item.code: item for item in items}
    assert by_code["CW-101"].effective_date == "2026-03-01"
    assert by_code["CW-101"].status == "active"
    assert by_code["MZ-101"].effective_date == "2026-01-01"
    assert parse_catalog(text, "csv", "2026-03-01") == items


# ---------------------------------------------------------------- strategies

NAME_ALPHABET = "社会救助申请证明材料户口簿民政卫健abcXYZ019 《》（）、,\"\n"
names = st.text(NAME_ALPHABET, min_size=1, max_size=12).filter(
    lambda s: s == s.strip() and s != "")
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
iso_dates = st.one_of(st.just(""), st.dates().map(date.isoformat))


@st.composite
def step_lists(draw: st.DrawFn, accept_level: str) -> list[list[Reviewer]]:
    """Steps that never move down the hierarchy and never go below the accepting level."""
    top = LEVELS.index(accept_level)
    steps = []
    for _ in range(draw(st.integers(0, 4))):
        reviewers = draw(st.lists(
            st.builds(Reviewer, st.sampled_from(LEVELS[:top + 1]), st.sampled_from(DEPARTMENTS)),
            min_size=1, max_size=3, unique=True))
        steps.append(reviewers)
        top = min(LEVELS.index(r.level) for r in reviewers)
    return steps


materials = st.builds(Material, names, st.sampled_from(REQUIREMENTS),
                      st.one_of(st.none(), st.sampled_from(sorted(DOC_TYPES))))


@st.composite
def catalog_items(draw: st.DrawFn) -> CatalogItem:
    accept_level = draw(st.sampled_from(LEVELS))
    immediate = draw(st.booleans())
    return CatalogItem(
        code=draw(codes), name=draw(names), department=draw(st.sampled_from(DEPARTMENTS)),
        legal_basis=draw(names), accept_level=accept_level,
        steps=[] if immediate else draw(step_lists(accept_level)),
        materials=draw(st.lists(materials, max_size=5, unique_by=lambda m: m.name)),
        time_limit_days=0 if immediate else draw(st.integers(1, 365)),
        fee=draw(st.one_of(st.integers(0, 10_000).map(float), st.floats(
            min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))),
        status=draw(st.sampled_from(STATUSES)), version=draw(st.integers(1, 10**6)),
        effective_date=draw(iso_dates), clock_pauses_on_supplement=draw(st.booleans()),
        result_type=draw(st.one_of(st.just(""), st.sampled_from(sorted(DOC_TYPES)))))


def _unique_codes(items: list[CatalogItem]) -> bool:
    return len({item.code for item in items}) == len(items)


# ---------------------------------------------------------------- round trips

@given(catalog_items())
def test_dict_round_trip(item: CatalogItem) -> None:
    d = item.to_dict()
    assert CatalogItem.from_dict(d) == item
    assert CatalogItem.from_dict(json.loads(json.dumps(d, ensure_ascii=False))) == item
    assert list(d) == ["code", "name", "department", "legal_basis", "accept_level", "steps",
                       "materials", "time_limit_days", "fee", "status", "version",
                       "effective_date"] + ([] if item.clock_pauses_on_supplement
                                            else ["clock_pauses_on_supplement"]) + (
                           ["result_type"] if item.result_type else [])


def test_an_item_names_the_document_type_of_its_result() -> None:
    item = CatalogItem.from_dict(_base())
    assert item.result_type == "" and "result_type" not in item.to_dict()  # older documents read the same
    made = CatalogItem.from_dict({**_base(), "result_type": "residence_proof"})
    assert made.to_dict()["result_type"] == "residence_proof" and not made.same_standard(item)
    assert parse_catalog_csv(items_to_csv([made])) == [made]
    for bad in ("passport", 7, " residence_proof x"):
        with pytest.raises(InvalidCatalog) as e:
            CatalogItem.from_dict({**_base(), "result_type": bad})
        assert e.value.field == "result_type"
    with pytest.raises(InvalidCatalog) as e:
        parse_catalog_csv(f"{HEADER},result_type\n{ROW},passport\n")
    assert e.value.field == "result_type" and e.value.where == "第2行"


def test_the_sample_catalog_says_which_items_deposit_a_document() -> None:
    results = {item.code: item.result_type for item in _load_json() if item.result_type}
    assert len(results) >= 12
    assert results["CL-001"] == "disability_certificate" and results["CW-001"] == "residence_proof"
    assert set(results.values()) <= set(DOC_TYPES)


def test_the_clock_pauses_on_supplement_unless_the_item_says_not() -> None:
    item = CatalogItem.from_dict(_base())
    assert item.clock_pauses_on_supplement is True
    # the default is left out, so items read the same by nodes that predate the field
    assert "clock_pauses_on_supplement" not in item.to_dict()
    running = CatalogItem.from_dict({**_base(), "clock_pauses_on_supplement": False})
    assert running.to_dict()["clock_pauses_on_supplement"] is False
    assert not running.same_standard(item)
    row = f"{HEADER},clock_pauses_on_supplement\n{ROW},false\n{ROW.replace('MZ-001', 'MZ-002')},TRUE\n"
    assert [i.clock_pauses_on_supplement for i in parse_catalog_csv(row)] == [False, True]
    assert parse_catalog_csv(items_to_csv([running])) == [running]


@given(st.lists(catalog_items(), max_size=5).filter(_unique_codes))
def test_csv_round_trip(items: list[CatalogItem]) -> None:
    assert parse_catalog_csv(items_to_csv(items)) == items


@given(st.lists(catalog_items(), max_size=5).filter(_unique_codes))
def test_json_round_trip(items: list[CatalogItem]) -> None:
    text = json.dumps({"catalog": "t", "items": [i.to_dict() for i in items]},
                      ensure_ascii=False)
    assert parse_catalog_json(text) == items
    assert parse_catalog(json.dumps([i.to_dict() for i in items]), "json") == items


@given(catalog_items(), st.integers(1, 50), iso_dates)
def test_same_standard_ignores_version_and_date(item: CatalogItem, version: int,
                                                effective: str) -> None:
    other = CatalogItem.from_dict({**item.to_dict(), "version": version,
                                   "effective_date": effective})
    assert item.same_standard(other)
    assert item.standard_key() == other.standard_key()
    renamed = CatalogItem.from_dict({**item.to_dict(), "name": item.name + "变更"})
    assert not item.same_standard(renamed)


# ---------------------------------------------------------------- direct construction

def _base() -> dict[str, Any]:
    return {
        "code": "MZ-001", "name": "最低生活保障审核确认", "department": "民政",
        "legal_basis": "《社会救助暂行办法》", "accept_level": "village",
        "steps": [[{"level": "village", "department": "村委会"}],
                  [{"level": "town", "department": "民政"},
                   {"level": "town", "department": "残联"}],
                  [{"level": "district", "department": "民政"}]],
        "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"},
                      {"name": "银行卡", "requirement": "deferrable", "doc_type": "bank_card"},
                      {"name": "其他", "requirement": "optional"}],
        "time_limit_days": 20, "fee": 0,
    }


def test_from_dict_defaults() -> None:
    item = CatalogItem.from_dict(_base(), default_effective_date="2026-01-01")
    assert (item.status, item.version, item.effective_date) == ("active", 1, "2026-01-01")
    assert item.fee == 0.0 and isinstance(item.fee, float)
    assert not item.immediate
    assert item.materials[2].doc_type is None
    assert item.steps[1] == (Reviewer("town", "民政"), Reviewer("town", "残联"))
    explicit = CatalogItem.from_dict({**_base(), "effective_date": "2025-06-30"}, "2026-01-01")
    assert explicit.effective_date == "2025-06-30"


def test_constructor_turns_lists_into_tuples_and_validates() -> None:
    item = CatalogItem("JY-001", "入学申请", "教育", "《中华人民共和国义务教育法》", "village",
                       [[Reviewer("town", "教育")]], [Material("户口簿", "mandatory")], 10, 0)
    assert item.steps == ((Reviewer("town", "教育"),),)
    assert isinstance(item.materials, tuple)
    assert hash(item) == hash(CatalogItem.from_dict(item.to_dict()))
    with pytest.raises(InvalidCatalog, match="fee"):
        CatalogItem("JY-001", "入学申请", "教育", "x", "village", [], [], 10, -1)
    with pytest.raises(InvalidCatalog, match="level"):
        Reviewer("county", "民政")
    with pytest.raises(InvalidCatalog, match="doc_type"):
        Material("护照", "mandatory", "passport")


def test_surrounding_blanks_are_stripped_on_import_but_refused_in_objects() -> None:
    item = CatalogItem.from_dict(_with(name=" 低保 ", materials=[_material(" 户口簿\t")]))
    assert item.name == "低保" and item.materials[0].name == "户口簿"
    with pytest.raises(InvalidCatalog, match="name"):
        Material(" 户口簿", "mandatory")


def test_immediate_item() -> None:
    item = CatalogItem.from_dict({**_base(), "steps": [], "time_limit_days": 0})
    assert item.immediate


def test_error_class() -> None:
    assert InvalidCatalog.code == "invalid_catalog"
    assert issubclass(InvalidCatalog, SchemaError)
    with pytest.raises(InvalidCatalog) as info:
        CatalogItem.from_dict({**_base(), "fee": -5}, where="第3条")
    err = info.value
    assert err.field == "fee" and err.item_code == "MZ-001"
    assert err.zh.startswith("第3条") and "MZ-001" in err.zh and "fee" in err.zh
    assert "MZ-001" in err.en and "fee" in err.en
    assert err.text("en") == str(err) == err.en


# ---------------------------------------------------------------- validation rules

def _with(**changes: Any) -> dict[str, Any]:
    return {**_base(), **changes}


def _without(key: str) -> dict[str, Any]:
    d = _base()
    del d[key]
    return d


def _reviewer(level: str, department: str) -> dict[str, str]:
    return {"level": level, "department": department}


def _material(name: str, requirement: str = "mandatory", **extra: Any) -> dict[str, Any]:
    return {"name": name, "requirement": requirement, **extra}


BAD_ITEMS: list[tuple[str, dict[str, Any], str]] = [
    ("empty code", _with(code=""), "code"),
    ("code starts with dash", _with(code="-MZ"), "code"),
    ("code too long", _with(code="A" * 65), "code"),
    ("code with space", _with(code="MZ 001"), "code"),
    ("code with Chinese", _with(code="民政001"), "code"),
    ("code not a string", _with(code=1), "code"),
    ("empty name", _with(name=""), "name"),
    ("blank name", _with(name="   "), "name"),
    ("name not a string", _with(name=None), "name"),
    ("empty legal basis", _with(legal_basis=""), "legal_basis"),
    ("unknown department", _with(department="财政"), "department"),
    ("unknown accept level", _with(accept_level="county"), "accept_level"),
    ("steps not a list", _with(steps="village:村委会"), "steps"),
    ("step not a list", _with(steps=[_reviewer("town", "民政")]), "steps"),
    ("empty step", _with(steps=[[]]), "steps[0]"),
    ("reviewer not an object", _with(steps=[["town:民政"]]), "steps[0][0]"),
    ("reviewer unknown level", _with(steps=[[_reviewer("county", "民政")]]),
     "steps[0][0].level"),
    ("reviewer unknown department", _with(steps=[[_reviewer("town", "财政")]]),
     "steps[0][0].department"),
    ("reviewer missing department", _with(steps=[[{"level": "town"}]]),
     "steps[0][0].department"),
    ("reviewer unknown key", _with(steps=[[{**_reviewer("town", "民政"), "role": "x"}]]),
     "steps[0][0].role"),
    ("duplicate reviewer in a step",
     _with(steps=[[_reviewer("town", "民政"), _reviewer("town", "民政")]]), "steps[0]"),
    ("steps go down", _with(steps=[[_reviewer("district", "民政")], [_reviewer("town", "民政")]]),
     "steps[1][0].level"),
    ("step after parallel goes below its top",
     _with(steps=[[_reviewer("town", "民政"), _reviewer("district", "残联")],
                  [_reviewer("town", "残联")]]), "steps[1][0].level"),
    ("reviewer below accept level",
     _with(accept_level="town", steps=[[_reviewer("village", "村委会")]]), "steps[0][0].level"),
    ("materials not a list", _with(materials="居民身份证:mandatory"), "materials"),
    ("material not an object", _with(materials=["居民身份证"]), "materials[0]"),
    ("material empty name", _with(materials=[_material("")]), "materials[0].name"),
    ("duplicate material", _with(materials=[_material("户口簿"), _material("户口簿", "optional")]),
     "materials[1].name"),
    ("unknown requirement", _with(materials=[_material("户口簿", "required")]),
     "materials[0].requirement"),
    ("unknown doc type", _with(materials=[_material("护照", doc_type="passport")]),
     "materials[0].doc_type"),
    ("material unknown key", _with(materials=[_material("户口簿", copies=2)]),
     "materials[0].copies"),
    ("negative time limit", _with(time_limit_days=-1), "time_limit_days"),
    ("time limit above 365", _with(time_limit_days=366), "time_limit_days"),
    ("float time limit", _with(time_limit_days=5.0), "time_limit_days"),
    ("string time limit", _with(time_limit_days="5"), "time_limit_days"),
    ("bool time limit", _with(time_limit_days=True), "time_limit_days"),
    ("immediate item with steps", _with(time_limit_days=0), "steps"),
    ("negative fee", _with(fee=-0.5), "fee"),
    ("string fee", _with(fee="0"), "fee"),
    ("nan fee", _with(fee=math.nan), "fee"),
    ("infinite fee", _with(fee=math.inf), "fee"),
    ("bool fee", _with(fee=False), "fee"),
    ("unknown status", _with(status="draft"), "status"),
    ("version zero", _with(version=0), "version"),
    ("string version", _with(version="1"), "version"),
    ("float version", _with(version=1.5), "version"),
    ("impossible date", _with(effective_date="2026-02-30"), "effective_date"),
    ("slashed date", _with(effective_date="2026/01/01"), "effective_date"),
    ("compact date", _with(effective_date="20260101"), "effective_date"),
    ("numeric date", _with(effective_date=20260101), "effective_date"),
    ("unknown key", _with(owner="高明区"), "owner"),
    ("string pause rule", _with(clock_pauses_on_supplement="no"), "clock_pauses_on_supplement"),
    ("numeric pause rule", _with(clock_pauses_on_supplement=0), "clock_pauses_on_supplement"),
    ("missing fee", _without("fee"), "fee"),
    ("missing steps", _without("steps"), "steps"),
]


@pytest.mark.parametrize(("bad", "field"), [(b, f) for _, b, f in BAD_ITEMS],
                         ids=[name for name, _, _ in BAD_ITEMS])
def test_bad_item_is_rejected(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCatalog) as info:
        CatalogItem.from_dict(bad, where="line 4")
    err = info.value
    assert err.field == field
    assert field in err.zh and field in err.en
    assert err.zh.startswith("line 4") and err.en.startswith("line 4")
    assert "\n" not in err.zh and "\n" not in err.en


def test_item_not_an_object() -> None:
    with pytest.raises(InvalidCatalog, match="JSON object"):
        CatalogItem.from_dict(["MZ-001"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- JSON files

def test_json_errors_name_the_index() -> None:
    items = [_base(), {**_base(), "code": "MZ-002", "department": "财政"}]
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog_json(json.dumps({"items": items}))
    assert "第2条" in info.value.zh and "items[1]" in info.value.en
    assert "MZ-002" in info.value.zh and "department" in info.value.en


@pytest.mark.parametrize(("text", "needle"), [
    ("[1,", "line 1"),
    ("", "malformed JSON"),
    ('{"items": 3}', "items"),
    ('"MZ-001"', "items"),
    ('{"catalog": "x"}', "items"),
    ('{"catalog": 1, "items": []}', "catalog"),
    ('{"title": "x", "items": []}', "title"),
    ('[{"code": "MZ-001", "code": "MZ-002"}]', "duplicate key"),
])
def test_malformed_json(text: str, needle: str) -> None:
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog_json(text)
    assert needle in info.value.en
    assert "\n" not in info.value.en


def test_json_duplicate_codes() -> None:
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog_json(json.dumps([_base(), _base()]))
    assert "第2条" in info.value.zh and "第1条" in info.value.zh
    assert "MZ-001" in info.value.en and "duplicate" in info.value.en


def test_json_bom_and_default_date() -> None:
    items = parse_catalog_json("\ufeff" + json.dumps([_base()]), "2026-01-01")
    assert items[0].effective_date == "2026-01-01"


# ---------------------------------------------------------------- CSV files

HEADER = "code,name,department,legal_basis,accept_level,steps,materials,time_limit_days,fee"
ROW = ("MZ-001,最低生活保障,民政,《社会救助暂行办法》,village,village:村委会;town:民政+town:残联,"
       "居民身份证:mandatory:id_card|户口簿:deferrable:household_register|其他:optional,20,0")


def test_csv_minimal_columns_bom_and_blank_lines() -> None:
    items = parse_catalog_csv(f"\ufeff{HEADER}\r\n\r\n{ROW}\r\n", "2026-01-01")
    (item,) = items
    assert item.steps[1] == (Reviewer("town", "民政"), Reviewer("town", "残联"))
    assert item.materials[1] == Material("户口簿", "deferrable", "household_register")
    assert item.materials[2].doc_type is None
    assert (item.status, item.version, item.effective_date) == ("active", 1, "2026-01-01")


def test_csv_tolerates_spaces_around_separators() -> None:
    row = ("MZ-001, 最低生活保障 ,民政,《社会救助暂行办法》,village, village : 村委会 ; town:民政 ,"
           " 居民身份证 : mandatory : id_card | 其他:optional ,20, 0 ")
    (item,) = parse_catalog_csv(f"{HEADER}\n{row}\n")
    assert item.name == "最低生活保障"
    assert item.steps == ((Reviewer("village", "村委会"),), (Reviewer("town", "民政"),))
    assert item.materials[0] == Material("居民身份证", "mandatory", "id_card")


def test_csv_line_numbers_count_multiline_cells() -> None:
    first = ROW.replace("最低生活保障", '"最低生活\n保障"')
    bad = ROW.replace("MZ-001", "MZ-002").replace(",20,", ",二十,")
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog_csv(f"{HEADER}\n{first}\n{bad}\n")
    assert "第4行" in info.value.zh and "line 4" in info.value.en
    assert "MZ-002" in info.value.en and "time_limit_days" in info.value.en


@pytest.mark.parametrize(("text", "where", "field"), [
    (f"{HEADER}\n{ROW.replace('village:村委会', 'village村委会')}", "line 2", "steps"),
    (f"{HEADER}\n{ROW.replace('其他:optional', '其他')}", "line 2", "materials"),
    (f"{HEADER}\n{ROW.replace('其他:optional', '其他:optional:x:y')}", "line 2", "materials"),
    (f"{HEADER}\n{ROW.replace(';town', ';;town')}", "line 2", "steps[1]"),
    (f"{HEADER}\n{ROW.replace(',20,0', ',20,免费')}", "line 2", "fee"),
    (f"{HEADER}\n{ROW.replace(',20,0', ',,0')}", "line 2", "time_limit_days"),
    (f"{HEADER}\n{ROW},extra", "line 2", ""),
    (f"{HEADER},status\n{ROW},draft", "line 2", "status"),
    (f"{HEADER},version\n{ROW},v2", "line 2", "version"),
    (f"{HEADER},effective_date\n{ROW},2026-13-01", "line 2", "effective_date"),
    (f"{HEADER}\n{ROW}\n{ROW}", "line 3", "code"),
    (f"{HEADER},owner\n{ROW},x", "line 1", "owner"),
    (f"{HEADER},clock_pauses_on_supplement\n{ROW},否", "line 2", "clock_pauses_on_supplement"),
    (f"{HEADER},fee\n{ROW},0", "line 1", "fee"),
    (HEADER.replace(",fee", "") + "\n", "line 1", "fee"),
    (f'{HEADER}\n{ROW.replace("MZ-001", chr(34) + "MZ-001")}', "line 2", ""),
])
def test_bad_csv(text: str, where: str, field: str) -> None:
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog_csv(text)
    err = info.value
    assert where in err.en
    assert f"第{where.split()[1]}行" in err.zh
    assert field in err.en and field in err.zh
    assert "\n" not in err.en


def test_empty_csv() -> None:
    with pytest.raises(InvalidCatalog, match="header"):
        parse_catalog_csv("")


def test_items_to_csv_refuses_separator_in_material_name() -> None:
    item = CatalogItem.from_dict(_with(materials=[_material("证明:原件")]))
    with pytest.raises(InvalidCatalog, match="materials"):
        items_to_csv([item])


def test_parse_catalog_unknown_format() -> None:
    with pytest.raises(InvalidCatalog) as info:
        parse_catalog("[]", "xml")
    assert "xml" in info.value.zh and "xml" in info.value.en
    assert parse_catalog("[]", "JSON") == []
