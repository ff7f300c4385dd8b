"""The catalog's CSV format: one item a row, steps as `village:村委会;town:民政+town:残联`,
materials as `name:requirement[:doc_type]|...`, `clock_pauses_on_supplement` as true or false
(empty: true), `result_type` a document type code (empty: none). Rows become the same dicts as the JSON
format and are validated by the same code (`yimen.schema.catalog`)."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable

from yimen.schema.catalog import (_INT_RE, _ITEM_REQUIRED, _NUMBER_RE, CatalogItem, InvalidCatalog, _bad,
                                  _check_unique, _item_from_dict)


CSV_COLUMNS: tuple[str, ...] = _ITEM_REQUIRED + ("status", "effective_date", "version", "clock_pauses_on_supplement",
                                                 "result_type")
_BOOLEANS = {"true": True, "false": False}


def _split(cell: str, separator: str) -> list[str]:
    return cell.split(separator) if cell.strip() else []


def _entry(text: str, keys: tuple[str, ...], optional: int, field: str, form_zh: str,
           form_en: str) -> dict[str, str]:
    """"town:民政" -> {"level": "town", "department": "民政"}; the last `optional` keys may
    be left out."""
    parts = [part.strip() for part in text.split(":")]
    if not len(keys) - optional <= len(parts) <= len(keys):
        raise _bad(field, f"“{text.strip()}”格式应为 {form_zh}",
                   f"{text.strip()!r} must be {form_en}")
    return dict(zip(keys, parts))


def _csv_number(cell: str, field: str, integer: bool) -> int | float:
    if _INT_RE.fullmatch(cell) if integer else _NUMBER_RE.fullmatch(cell):
        return int(cell) if integer else float(cell)
    kind_zh, kind_en = ("整数", "an integer") if integer else ("数字", "a number")
    raise _bad(field, f"“{cell}”不是{kind_zh}", f"{cell!r} is not {kind_en}")


def _csv_row_dict(cells: dict[str, str]) -> dict[str, Any]:
    d: dict[str, Any] = {k: cells[k] for k in CSV_COLUMNS[:5]}
    d["steps"] = [[_entry(r, ("level", "department"), 0, "steps", "层级:部门", "level:department")
                   for r in _split(step, "+")] for step in _split(cells["steps"], ";")]
    d["materials"] = [_entry(m, ("name", "requirement", "doc_type"), 1, "materials",
                             "名称:要求[:证照类型]", "name:requirement[:doc_type]")
                      for m in _split(cells["materials"], "|")]
    d["time_limit_days"] = _csv_number(cells["time_limit_days"], "time_limit_days", True)
    d["fee"] = _csv_number(cells["fee"], "fee", False)
    for key in ("status", "effective_date", "result_type"):
        if cells.get(key):
            d[key] = cells[key]
    if cells.get("version"):
        d["version"] = _csv_number(cells["version"], "version", True)
    pauses = cells.get("clock_pauses_on_supplement", "")
    if pauses:
        # anything but true/false stays as text, which the item's own check refuses
        d["clock_pauses_on_supplement"] = _BOOLEANS.get(pauses.lower(), pauses)
    return d


def _csv_header(row: list[str]) -> list[str]:
    columns = [c.strip() for c in row]
    for c in columns + [c for c in _ITEM_REQUIRED if c not in columns]:
        if c not in CSV_COLUMNS or columns.count(c) != 1:
            raise InvalidCatalog("列名未知、重复或缺少必需的列", "unknown, duplicate or "
                                 "missing column", field=c, where="第1行", where_en="line 1")
    return columns


def _csv_item(row: list[str], columns: list[str], default_effective_date: str,
              place: tuple[str, str]) -> CatalogItem:
    cells = {c: v.strip() for c, v in zip(columns, row)}
    try:
        if len(row) != len(columns):
            raise InvalidCatalog(f"本行有 {len(row)} 列，表头有 {len(columns)} 列",
                                 f"the row has {len(row)} cells, the header {len(columns)}")
        d = _csv_row_dict(cells)
    except InvalidCatalog as exc:
        raise exc.locate(where=place[0], where_en=place[1],
                         item_code=cells.get("code", "")) from None
    return _item_from_dict(d, default_effective_date, *place)


def parse_catalog_csv(text: str, default_effective_date: str = "") -> list[CatalogItem]:
    """Parse the CSV catalog format (UTF-8, header row, optional BOM); see CSV_COLUMNS.
    `steps` is "level:department+level:department;level:department"; `materials` is
    "name:requirement[:doc_type]|..."; status, effective_date and version may be left out."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    items: list[CatalogItem] = []
    places: list[tuple[str, str]] = []
    columns: list[str] | None = None
    next_line = 1
    try:
        for row in reader:
            line, next_line = next_line, reader.line_num + 1
            if columns is None:
                columns = _csv_header(row)
            elif any(cell.strip() for cell in row):
                places.append((f"第{line}行", f"line {line}"))
                items.append(_csv_item(row, columns, default_effective_date, places[-1]))
    except csv.Error as exc:
        raise InvalidCatalog(f"CSV 格式错误（如引号未闭合）：{exc}", f"malformed CSV: {exc}",
                             where=f"第{reader.line_num}行",
                             where_en=f"line {reader.line_num}") from None
    if columns is None:
        raise InvalidCatalog("CSV 为空，缺少表头", "empty CSV: the header row is missing")
    _check_unique(items, places)
    return items


def _csv_row(item: CatalogItem) -> list[str]:
    for text in [m.name for m in item.materials]:
        if "|" in text or ":" in text:
            raise InvalidCatalog(f"材料名称“{text}”含有 | 或 :，无法写成 CSV",
                                 f"material name {text!r} contains '|' or ':', which CSV "
                                 "cannot hold", field="materials", item_code=item.code)
    # integral fees as "12", others in repr() form, which float() reads back exactly
    fee = str(int(item.fee)) if item.fee.is_integer() and item.fee < 2 ** 53 else repr(item.fee)
    steps = ";".join("+".join(f"{r.level}:{r.department}" for r in step)
                     for step in item.steps)
    materials = "|".join(f"{m.name}:{m.requirement}" + (f":{m.doc_type}" if m.doc_type else "")
                         for m in item.materials)
    return [item.code, item.name, item.department, item.legal_basis, item.accept_level, steps,
            materials, str(item.time_limit_days), fee, item.status,
            item.effective_date, str(item.version), str(item.clock_pauses_on_supplement).lower(), item.result_type]


def items_to_csv(items: Iterable[CatalogItem]) -> str:
    """Write items in the CSV catalog format: header row, all columns, "\\n" line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(item) for item in items)
    return buffer.getvalue()


