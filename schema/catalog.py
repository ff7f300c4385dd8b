"""Service catalog items (事项) and their JSON import format (CSV: `catalog_csv`).

An item says which department owns it, on which legal basis, at which level a window
accepts it, which reviewers approve it step by step (several reviewers in one step review in
parallel, 并联审批), which materials the applicant brings (a *deferrable* one may be missing
at acceptance against a signed commitment, 容缺受理) and the promised time limit in working
days (0 = an immediate item, 即办件, which has no approval steps). The clock stands still
while a case waits for the applicant's supplement (补正: under the Administrative Licensing
Law the time limit runs from complete materials) unless `clock_pauses_on_supplement` is false.

Every `CatalogItem` is valid once constructed: the checks run in `__post_init__`. Errors are
`InvalidCatalog` and name the item code, the field and, when parsing a file, where it is
(JSON: "第3条" / "items[2]"; CSV: "第4行" / "line 4")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, Collection

from yimen.schema.doc_types import DOC_TYPES
from yimen.schema.errors import SchemaError

# Same values as yimen.schema.region.LEVELS, highest first; kept here so this module stands alone.
LEVELS: tuple[str, ...] = ("province", "city", "district", "town", "village")

DEPARTMENTS: tuple[str, ...] = ("民政", "卫健", "人社", "社保", "医保", "教育", "残联",
                                "退役军人", "村委会", "住建", "农业农村", "司法")

REQUIREMENTS: tuple[str, ...] = ("mandatory", "deferrable", "optional")
STATUSES: tuple[str, ...] = ("active", "cancelled")
MAX_TIME_LIMIT_DAYS = 365

_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT_RE = re.compile(r"-?[0-9]+")
_NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class InvalidCatalog(SchemaError):
    """A catalog item or file breaks a rule; `where`, `item_code` and `field` locate it."""

    code = "invalid_catalog"

    def __init__(self, zh: str, en: str | None = None, *, field: str = "",
                 item_code: str = "", where: str = "", where_en: str | None = None):
        self.reason_zh, self.reason_en = zh, en or zh
        self.field, self.item_code = field, item_code
        self.where, self.where_en = where, where if where_en is None else where_en
        zh_head = "，".join(p for p in (where, item_code and f"事项 {item_code}",
                                       field and f"字段 {field}") if p)
        en_head = ", ".join(p for p in (self.where_en, item_code and f"item {item_code}",
                                       field and f"field {field}") if p)
        super().__init__(f"{zh_head}：{zh}" if zh_head else zh,
                         f"{en_head}: {self.reason_en}" if en_head else self.reason_en)

    def locate(self, *, where: str = "", where_en: str | None = None, item_code: str = "",
               field_prefix: str = "") -> InvalidCatalog:
        """A copy with more context; context already present wins."""
        field = f"{field_prefix}{self.field}" if self.field else field_prefix.rstrip(".")
        return InvalidCatalog(self.reason_zh, self.reason_en, field=field,
                              item_code=self.item_code or item_code, where=self.where or where,
                              where_en=self.where_en or where_en or where)


def _bad(field: str, zh: str, en: str) -> InvalidCatalog:
    return InvalidCatalog(zh, en, field=field)


# ---------------------------------------------------------------- field checks

def _check_text(value: Any, field: str, zh: str, en: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, f"{zh}不能为空", f"{en} must be a non-empty string")
    if value != value.strip():
        raise _bad(field, f"{zh}首尾不能有空白字符", f"{en} must not start or end with blanks")


def _check_choice(value: Any, choices: Collection[str], field: str, zh: str, en: str,
                  show: bool = True) -> None:
    if isinstance(value, str) and value in choices:
        return
    hint_zh = f"（可选：{'、'.join(choices)}）" if show else ""
    hint_en = f" (expected one of: {', '.join(choices)})" if show else ""
    raise _bad(field, f"未知的{zh}“{value}”{hint_zh}", f"unknown {en} {value!r}{hint_en}")


def _check_int(value: Any, field: str, low: int, high: int | None, zh: str, en: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value and (
            high is None or value <= high):
        return
    span_zh = f"{low} 到 {high} 之间的整数" if high is not None else f"不小于 {low} 的整数"
    span_en = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    raise _bad(field, f"{zh}必须是{span_zh}，实际为 {value!r}",
               f"{en} must be {span_en}, got {value!r}")


def _is_iso_date(value: Any) -> bool:
    try:
        return bool(_DATE_RE.fullmatch(value)) and bool(date.fromisoformat(value))
    except (TypeError, ValueError):
        return False


def _normal_fee(value: Any) -> Any:
    """int -> float and -0.0 -> 0.0; anything else is left for validation to refuse."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300:
        return float(value) + 0.0
    return value


# ---------------------------------------------------------------- the dataclasses

@dataclass(frozen=True)
class Reviewer:
    """One department at one level reviewing a case in an approval step."""

    level: str
    department: str

    def __post_init__(self) -> None:
        _check_choice(self.level, LEVELS, "level", "审批层级", "level")
        _check_choice(self.department, DEPARTMENTS, "department", "部门", "department")


@dataclass(frozen=True)
class Material:
    """A material the applicant hands in; `doc_type` links it to My Space ("" = None)."""

    name: str
    requirement: str  # "mandatory" | "deferrable" | "optional"
    doc_type: str | None = None

    def __post_init__(self) -> None:
        if self.doc_type == "":
            object.__setattr__(self, "doc_type", None)
        _check_text(self.name, "name", "材料名称", "material name")
        _check_choice(self.requirement, REQUIREMENTS, "requirement", "材料要求", "requirement")
        if self.doc_type is not None:
            _check_choice(self.doc_type, DOC_TYPES, "doc_type", "证照类型", "document type",
                          show=False)


@dataclass(frozen=True)
class CatalogItem:
    """One service item (事项) of the catalog, in one version. Lists given for `steps` and
    `materials` are turned into tuples; an int `fee` into a float."""

    code: str
    name: str
    department: str
    legal_basis: str
    accept_level: str
    steps: tuple[tuple[Reviewer, ...], ...]
    materials: tuple[Material, ...]
    time_limit_days: int
    fee: float
    status: str = "active"
    version: int = 1
    effective_date: str = ""
    clock_pauses_on_supplement: bool = True
    result_type: str = ""  # the document type its result is, deposited in My Space ("" = none)
    publisher: str = field(default="", compare=False)  # read from a node: who published it; not stored

    def __post_init__(self) -> None:
        if isinstance(self.steps, list | tuple):
            object.__setattr__(self, "steps", tuple(
                tuple(s) if isinstance(s, list | tuple) else s for s in self.steps))
        if isinstance(self.materials, list | tuple):
            object.__setattr__(self, "materials", tuple(self.materials))
        object.__setattr__(self, "fee", _normal_fee(self.fee))
        try:
            _validate_item(self)
        except InvalidCatalog as exc:
            raise exc.locate(item_code=str(self.code)) from None

    @property
    def immediate(self) -> bool:
        """An immediate item (即办件) is done on the spot, without approval steps."""
        return self.time_limit_days == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "name": self.name, "department": self.department,
            "legal_basis": self.legal_basis, "accept_level": self.accept_level,
            "steps": [[{"level": r.level, "department": r.department} for r in step]
                      for step in self.steps],
            "materials": [{"name": m.name, "requirement": m.requirement,
                           "doc_type": m.doc_type} for m in self.materials],
            "time_limit_days": self.time_limit_days, "fee": self.fee, "status": self.status,
            "version": self.version, "effective_date": self.effective_date,
            # the default is left out: an item reads the same to nodes older than the field
            **({} if self.clock_pauses_on_supplement else {"clock_pauses_on_supplement": False}),
            **({"result_type": self.result_type} if self.result_type else {}),
        }

    @classmethod
    def from_dict(cls, d: dict, default_effective_date: str = "",
                  where: str = "") -> CatalogItem:
        """Build and validate an item; `where` ("第3条", "line 4") prefixes messages."""
        return _item_from_dict(d, default_effective_date, where, where)

    def standard_key(self) -> tuple:
        """All fields except version, effective_date and publisher: what makes the item's standard."""
        return tuple(getattr(self, f.name) for f in fields(self)
                     if f.name not in ("version", "effective_date", "publisher"))

    def same_standard(self, other: CatalogItem) -> bool:
        """True when `other` differs at most in version and effective date."""
        return self.standard_key() == other.standard_key()


def _validate_item(item: CatalogItem) -> None:
    if not isinstance(item.code, str) or not _CODE_RE.fullmatch(item.code):
        raise _bad("code", f"事项编码“{item.code}”无效：须以字母或数字开头，只含字母、数字和"
                   ". _ -，最长 64 位", f"invalid item code {item.code!r}: 1-64 letters, "
                   "digits, '.', '_' or '-', starting with a letter or digit")
    _check_text(item.name, "name", "事项名称", "item name")
    _check_text(item.legal_basis, "legal_basis", "设定依据", "legal basis")
    _check_choice(item.department, DEPARTMENTS, "department", "部门", "department")
    _check_choice(item.accept_level, LEVELS, "accept_level", "受理层级", "acceptance level")
    _check_int(item.time_limit_days, "time_limit_days", 0, MAX_TIME_LIMIT_DAYS,
               "承诺时限（工作日）", "time limit (working days)")
    _check_steps(item.steps, item.accept_level)
    if item.time_limit_days == 0 and item.steps:
        raise _bad("steps", "即办件（承诺时限为 0）不能有审批步骤",
                   "an immediate item (time limit 0) must have no approval steps")
    _check_materials(item.materials)
    if not isinstance(item.fee, float) or not math.isfinite(item.fee) or item.fee < 0:
        raise _bad("fee", f"收费金额必须是不小于 0 的数（元），实际为 {item.fee!r}",
                   f"fee must be a finite number >= 0 (yuan), got {item.fee!r}")
    _check_choice(item.status, STATUSES, "status", "状态", "status")
    _check_int(item.version, "version", 1, None, "版本号", "version")
    if item.effective_date != "" and not _is_iso_date(item.effective_date):
        raise _bad("effective_date", f"生效日期“{item.effective_date}”无效，应为 YYYY-MM-DD",
                   f"effective date {item.effective_date!r} is not an ISO date (YYYY-MM-DD)")
    if not isinstance(item.clock_pauses_on_supplement, bool):
        raise _bad("clock_pauses_on_supplement", "补正期间是否暂停计时须为 true 或 false", "must be true or false")
    if item.result_type != "":
        _check_choice(item.result_type, DOC_TYPES, "result_type", "办理结果证照类型", "result document type",
                      show=False)


def _check_steps(steps: Any, accept_level: str) -> None:
    """Steps are non-empty tuples of distinct reviewers; no reviewer is below the accepting
    level, nor below any reviewer of the step before: approval only moves up."""
    if not isinstance(steps, tuple) or not all(
            isinstance(s, tuple) and all(isinstance(r, Reviewer) for r in s) for s in steps):
        raise _bad("steps", "审批步骤必须是审批人列表的列表",
                   "steps must be a list of lists of reviewers")
    floor, previous = LEVELS.index(accept_level), len(LEVELS)
    for i, step in enumerate(steps):
        if not step or len(set(step)) != len(step):
            raise _bad(f"steps[{i}]", f"第{i + 1}步没有审批人或有重复的审批人",
                       f"step {i + 1} has no reviewer or the same reviewer twice")
        for j, reviewer in enumerate(step):
            index = LEVELS.index(reviewer.level)
            if index > floor:
                raise _bad(f"steps[{i}][{j}].level", f"第{i + 1}步的审批层级 {reviewer.level}"
                           f" 低于受理层级 {accept_level}", f"step {i + 1}: reviewer level "
                           f"{reviewer.level} is below the acceptance level {accept_level}")
            if index > previous:
                raise _bad(f"steps[{i}][{j}].level", f"第{i + 1}步的审批层级 {reviewer.level}"
                           " 低于上一步，审批只能逐级向上", f"step {i + 1}: reviewer level "
                           f"{reviewer.level} is below the step before; approval only moves up")
        previous = min(LEVELS.index(r.level) for r in step)


def _check_materials(materials: Any) -> None:
    if not isinstance(materials, tuple) or not all(isinstance(m, Material) for m in materials):
        raise _bad("materials", "材料必须是材料列表", "materials must be a list of materials")
    seen: set[str] = set()
    for i, material in enumerate(materials):
        if material.name in seen:
            raise _bad(f"materials[{i}].name", f"材料名称“{material.name}”重复",
                       f"material name {material.name!r} appears twice")
        seen.add(material.name)


# ---------------------------------------------------------------- dict import

_ITEM_REQUIRED = ("code", "name", "department", "legal_basis", "accept_level", "steps",
                  "materials", "time_limit_days", "fee")
_ITEM_KEYS = _ITEM_REQUIRED + ("status", "version", "effective_date", "clock_pauses_on_supplement", "result_type")


def _check_keys(d: Any, allowed: tuple[str, ...], required: tuple[str, ...], zh: str,
                en: str) -> None:
    if not isinstance(d, dict):
        raise InvalidCatalog(f"{zh}必须是 JSON 对象", f"{en} must be a JSON object")
    for key in d:
        if key not in allowed:
            raise _bad(str(key), f"未知字段“{key}”", f"unknown field {key!r}")
    for key in required:
        if key not in d:
            raise _bad(key, "缺少必填字段", "required field is missing")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _part_from(cls: type, raw: Any, required: tuple[str, ...], optional: tuple[str, ...],
               prefix: str, zh: str, en: str) -> Any:
    try:
        _check_keys(raw, required + optional, required, zh, en)
        return cls(**{key: _strip(value) for key, value in raw.items()})
    except InvalidCatalog as exc:
        raise exc.locate(field_prefix=prefix) from None


def _steps_from(raw: Any) -> list[list[Reviewer]]:
    if not isinstance(raw, list) or not all(isinstance(step, list) for step in raw):
        raise _bad("steps", "审批步骤必须是审批人列表的列表",
                   "steps must be a list of lists of reviewers")
    return [[_part_from(Reviewer, r, ("level", "department"), (), f"steps[{i}][{j}].",
                        "审批人", "a reviewer") for j, r in enumerate(step)]
            for i, step in enumerate(raw)]


def _materials_from(raw: Any) -> list[Material]:
    if not isinstance(raw, list):
        raise _bad("materials", "材料必须是列表", "materials must be a list")
    return [_part_from(Material, m, ("name", "requirement"), ("doc_type",),
                       f"materials[{i}].", "材料", "a material") for i, m in enumerate(raw)]


def _item_from_dict(d: Any, default_effective_date: str, where: str,
                    where_en: str) -> CatalogItem:
    code = _strip(d.get("code")) if isinstance(d, dict) else None
    try:
        _check_keys(d, _ITEM_KEYS, _ITEM_REQUIRED, "事项", "an item")
        effective_date = _strip(d.get("effective_date", ""))
        if effective_date == "":
            effective_date = default_effective_date
        return CatalogItem(
            code=code, name=_strip(d["name"]), department=_strip(d["department"]),
            legal_basis=_strip(d["legal_basis"]), accept_level=_strip(d["accept_level"]),
            steps=_steps_from(d["steps"]), materials=_materials_from(d["materials"]),
            time_limit_days=d["time_limit_days"], fee=d["fee"],
            status=_strip(d.get("status", "active")), version=d.get("version", 1),
            effective_date=effective_date, clock_pauses_on_supplement=d.get("clock_pauses_on_supplement", True),
            result_type=_strip(d.get("result_type") or ""))
    except InvalidCatalog as exc:
        raise exc.locate(where=where, where_en=where_en,
                         item_code=code if isinstance(code, str) else "") from None


def _check_unique(items: list[CatalogItem], places: list[tuple[str, str]]) -> None:
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        if item.code in first:
            zh, en = places[first[item.code]]
            raise InvalidCatalog(f"事项编码与{zh}重复", f"duplicate item code (also at {en})",
                                 field="code", item_code=item.code, where=places[n][0],
                                 where_en=places[n][1])
        first[item.code] = n


from yimen.schema.catalog_json import parse_catalog_json  # noqa: E402 (it uses the above)
from yimen.schema.catalog_csv import items_to_csv, parse_catalog_csv  # noqa: E402,F401 (it uses the above)


def parse_catalog(text: str, fmt: str, default_effective_date: str = "") -> list[CatalogItem]:
    """Parse a catalog in format "json" or "csv"."""
    parse = {"json": parse_catalog_json, "csv": parse_catalog_csv}.get(fmt.lower())
    if parse:
        return parse(text, default_effective_date)
    raise InvalidCatalog(f"不支持的目录格式“{fmt}”（可选：json、csv）",
                         f"unsupported catalog format {fmt!r} (expected json or csv)")
