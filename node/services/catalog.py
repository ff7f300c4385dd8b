"""The service catalog (事项目录) of a node: import, list, show, look up.

Each item is one `catalog_item` document (`item:<code>`) holding every version it has had;
a change of standard is a new version, and cases keep the version they were accepted
under. An item's scope is the region of the node that first published it; only that node
or an ancestor may publish a new version (the architecture's `may_write` rule).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from yimen.node.errors import CatalogConflict, ItemNotActive, UnknownItem
from yimen.node.home import Node
from yimen.node.services import Progress, no_progress
from yimen.node.projections import item_at, item_versions, parse_definition, refresh
from yimen.schema import region
from yimen.schema.catalog import CatalogItem, InvalidCatalog, parse_catalog
from yimen.schema.errors import os_reason


@dataclass(frozen=True)
class ImportResult:
    added: list[str]
    updated: list[str]
    unchanged: list[str]


def doc_id(code: str) -> str:
    return f"item:{code}"


def read_file(path: Path, today: str) -> list[CatalogItem]:
    """Parse a JSON or CSV catalog file (by extension)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("json", "csv"):
        raise InvalidCatalog(f"目录文件须为 .json 或 .csv：{path.name}",
                             f"a catalog file must be .json or .csv: {path.name}")
    try:
        text = path.read_text("utf-8-sig")
    except OSError as e:
        raise InvalidCatalog(f"无法读取目录文件 {path}：{os_reason(e)[0]}", f"cannot read catalog file {path}: {os_reason(e)[1]}") from e
    except UnicodeDecodeError as e:
        raise InvalidCatalog(f"目录文件 {path} 不是 UTF-8 文本", f"the catalog file {path} is not UTF-8 text") from e
    return parse_catalog(text, fmt, default_effective_date=today)


def import_items(node: Node, items: list[CatalogItem], progress: Progress = no_progress) -> ImportResult:
    """Publish `items` in one transaction: new codes are added, changed standards become a
    new version, identical ones are left alone."""
    added, updated, unchanged = [], [], []
    with node.store.transaction():
        for i, item in enumerate(items, 1):
            outcome = _publish(node, item)
            {"added": added, "updated": updated, "unchanged": unchanged}[outcome].append(item.code)
            progress("catalog", i, len(items))
    return ImportResult(added, updated, unchanged)


def _publish(node: Node, item: CatalogItem) -> str:
    doc = node.store.get(doc_id(item.code))
    if doc is None:
        doc = node.store.new_doc(doc_id(item.code), "catalog_item", node.region_code)
        outcome = "added"
    else:
        if not region.is_within(doc.scope, node.region_code):
            raise CatalogConflict(
                f"事项 {item.code} 由上级（{doc.scope}）发布，本节点不能修改",
                f"item {item.code} is published by {doc.scope}; this node may not change it",
            )
        current = item_versions(doc.value())[-1]
        if current.same_standard(item):
            return "unchanged"
        item = replace(item, version=max(item.version, current.version + 1))
        outcome = "updated"
    doc.put("versions", str(item.version), item.to_dict())
    node.store.save(doc, node.node_id)
    refresh(node.store, doc, node.calendar)
    return outcome


def current(node: Node, code: str, active: bool = False) -> CatalogItem:
    """The current version of item `code`; with `active`, refuse a cancelled item."""
    row = node.store.conn.execute("SELECT definition FROM catalog_items WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise UnknownItem(f"目录中没有事项 {code}", f"no catalog item has the code {code!r}")
    item = parse_definition(row[0])
    if active and item.status != "active":
        raise ItemNotActive(f"事项 {code}（{item.name}）已取消，不能受理",
                            f"item {code} ({item.name}) is cancelled and accepts no new cases")
    return item


def at_version(node: Node, code: str, version: int) -> CatalogItem:
    return item_at(node.store, code, version)


def list_items(node: Node, search: str = "", department: str = "", include_cancelled: bool = False
               ) -> list[dict[str, Any]]:
    sql = ("SELECT code, version, name, department, status, time_limit_days, immediate, fee"
           " FROM catalog_items WHERE 1=1")
    args: list[Any] = []
    if search:
        sql += " AND (code LIKE ? OR name LIKE ?)"
        args += [f"%{search}%"] * 2
    if department:
        sql += " AND department = ?"
        args.append(department)
    if not include_cancelled:
        sql += " AND status = 'active'"
    cur = node.store.conn.execute(sql + " ORDER BY code", args)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def show(node: Node, code: str) -> dict[str, Any]:
    item = current(node, code)
    versions = [r[0] for r in node.store.conn.execute(
        "SELECT version FROM catalog_versions WHERE code = ? ORDER BY version", (code,))]
    return {**item.to_dict(), "immediate": item.immediate, "versions": versions}
