"""The catalog's JSON format: a list of items, or {"catalog": title, "items": [...]}, each item
as `CatalogItem.to_dict` writes it, validated by the same code (`yimen.schema.catalog`)."""

from __future__ import annotations

import json
from typing import Any

from yimen.schema.catalog import CatalogItem, InvalidCatalog, _bad, _check_keys, _check_unique, _item_from_dict


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise _bad(key, "JSON 对象中该字段重复", "duplicate key in a JSON object")
    return dict(pairs)


def parse_catalog_json(text: str, default_effective_date: str = "") -> list[CatalogItem]:
    """Parse a JSON list of items, or {"catalog": title, "items": [...]}."""
    try:
        data = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InvalidCatalog(f"JSON 格式错误（第{exc.lineno}行第{exc.colno}列）：{exc.msg}",
                             f"malformed JSON at line {exc.lineno} column {exc.colno}: "
                             f"{exc.msg}") from None
    except RecursionError:
        raise InvalidCatalog("JSON 嵌套过深", "JSON is nested too deeply") from None
    if isinstance(data, dict):
        _check_keys(data, ("catalog", "items"), ("items",), "目录", "a catalog")
        if not isinstance(data.get("catalog", ""), str):
            raise _bad("catalog", "目录标题必须是字符串", "the catalog title must be a string")
        data = data["items"]
    if not isinstance(data, list):
        raise _bad("items", "目录必须是事项列表，或含 items 列表的对象",
                   "a catalog must be a list of items or an object with an 'items' list")
    places = [(f"第{i + 1}条", f"items[{i}]") for i in range(len(data))]
    items = [_item_from_dict(d, default_effective_date, *places[i]) for i, d in enumerate(data)]
    _check_unique(items, places)
    return items
