"""The service catalog (事项目录) of a node: import, list, show, look up.

Catalog items are the province's and the city's ("八个统一": the same item is the same at
every level), but a node may publish items too: a village standing alone before it joins a
chain imports a catalog of its own, and a district may publish items of its own. Each
publication is one `catalog_item` document `item:<publisher>:<code>` holding every version
it has had (a change of standard is a new version; cases keep the version they were
accepted under, naming its publisher). The rule of which publication a node uses:

- A node's catalog holds the items published by itself and its ancestors; for each code,
  the **highest** publisher wins (the city's item over the district's and the village's
  own), so a village that imported a catalog before joining ends with its ancestors' items
  and versions as soon as they arrive, and nothing is refused on the way (each publication
  is its own document; see `yimen.sync.visibility`).
- A code only a lower level publishes stays that level's item, distinct from everything
  else and listed only inside its publisher's region.
- An import never publishes a code an ancestor already publishes (it is left as the
  ancestor's, and reported); a shadowed publication of the node's own stays for the cases
  accepted under it, and `drift` lists it for the admin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from yimen.node.errors import ItemNotActive, UnknownItem
from yimen.node.home import Node
from yimen.node.services import Progress, audit, clerks, no_progress
from yimen.node.projections import item_at, item_versions, parse_definition, refresh
from yimen.schema import region
from yimen.schema.catalog import CatalogItem, InvalidCatalog, parse_catalog
from yimen.schema.errors import SchemaError, os_reason


@dataclass(frozen=True)
class ImportResult:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    ancestors: list[str]  # codes an ancestor publishes: left as the ancestor's


def doc_id(publisher: str, code: str) -> str:
    return f"item:{publisher}:{code}"


@lru_cache(maxsize=64)
def _chain(region_code: str) -> tuple[str, ...]:
    """The publishers whose items the node of `region_code` uses, highest first (the
    province or city down to the node)."""
    return (*reversed(region.ancestors(region_code)), region_code)


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
    result = ImportResult([], [], [], [])
    with node.store.transaction():
        for i, item in enumerate(items, 1):
            getattr(result, _publish(node, item)).append(item.code)
            progress("catalog", i, len(items))
        audit.record(node, "catalog_import", None, added=len(result.added), updated=len(result.updated),
                     unchanged=len(result.unchanged), ancestors=len(result.ancestors))
    return result


def _publish(node: Node, item: CatalogItem) -> str:
    used = _used(node, [item.code]).get(item.code)
    if used is not None and used.publisher != node.region_code:
        return "ancestors"
    doc = node.store.get(doc_id(node.region_code, item.code))
    if doc is None:
        doc = node.store.new_doc(doc_id(node.region_code, item.code), "catalog_item", node.region_code)
        outcome = "added"
    else:
        current = item_versions(doc.value())[-1]
        if current.same_standard(item):
            return "unchanged"
        item = replace(item, version=max(item.version, current.version + 1))
        outcome = "updated"
    doc.put("versions", str(item.version), item.to_dict())
    node.store.save(doc, node.node_id)
    refresh(node.store, doc, node.calendar)
    return outcome


def _used(node: Node, codes: Iterable[str] | None = None) -> dict[str, CatalogItem]:
    """The current version of each item this node uses (of `codes`, or all), by code: for
    each code, the highest publisher's (see the module docstring)."""
    chain = _chain(node.region_code)
    sql = f"SELECT scope, code, definition FROM catalog_items WHERE scope IN ({', '.join('?' * len(chain))})"
    args = list(chain)
    if codes is not None:
        codes = list(codes)
        sql += f" AND code IN ({', '.join('?' * len(codes))})"
        args += codes
    rank = {p: i for i, p in enumerate(chain)}
    used: dict[str, tuple[int, str, str]] = {}
    for scope, code, definition in node.store.conn.execute(sql, args):
        if code not in used or rank[scope] < used[code][0]:
            used[code] = (rank[scope], scope, definition)
    return {code: parse_definition(d, p) for code, (_, p, d) in sorted(used.items())}


def current(node: Node, code: str, active: bool = False) -> CatalogItem:
    """The current version of item `code` as this node uses it; with `active`, refuse a
    cancelled item."""
    chain = _chain(node.region_code)
    row = node.store.conn.execute(  # the highest publisher's: the chain is ordered highest first
        f"SELECT scope, definition FROM catalog_items WHERE code = ? AND scope IN ({', '.join('?' * len(chain))})"
        f" ORDER BY CASE scope {' '.join(f'WHEN ? THEN {i}' for i in range(len(chain)))} END LIMIT 1",
        (code, *chain, *chain)).fetchone()
    item = parse_definition(row[1], row[0]) if row else None
    if item is None:
        raise UnknownItem(f"目录中没有事项 {code}", f"no catalog item has the code {code!r}")
    if active and item.status != "active":
        raise ItemNotActive(f"事项 {code}（{item.name}）已取消，不能受理",
                            f"item {code} ({item.name}) is cancelled and accepts no new cases")
    return item


def of_case(node: Node, info: dict[str, Any]) -> CatalogItem:
    """The item version a case was accepted under (`info` is the case's `case` map)."""
    return item_at(node.store, info["item_publisher"], info["item_code"], info["item_version"])


def _row(i: CatalogItem) -> dict[str, Any]:
    return {"code": i.code, "version": i.version, "name": i.name, "department": i.department, "status": i.status,
            "time_limit_days": i.time_limit_days, "immediate": int(i.immediate), "fee": i.fee, "publisher": i.publisher}


def list_items(node: Node, search: str = "", department: str = "", include_cancelled: bool = False
               ) -> list[dict[str, Any]]:
    """The items this node uses, by code; `search` matches a part of the code or name, or
    the pinyin initials of the name (see `match_rank`)."""
    return [_row(i) for i in _used(node).values()
            if (not search or match_rank(search, i.code, i.name) is not None)
            and (not department or i.department == department) and (include_cancelled or i.status == "active")]


def _accepted_here(node: Node, item: CatalogItem) -> bool:
    """This node's level is the item's `accept_level` or above it."""
    return region.level_rank(node.level) <= region.level_rank(item.accept_level)


def acceptable(node: Node, departments: Iterable[str], search: str = "") -> list[dict[str, Any]]:
    """The active items a clerk of `departments` may accept at this node (`acceptable_item`),
    best match of `search` first, then by code."""
    roles = set(departments)
    found = [(match_rank(search, i.code, i.name), i) for i in _used(node).values()
             if i.status == "active" and i.department in roles and _accepted_here(node, i)]
    return [_row(i) for r, i in sorted((f for f in found if f[0] is not None), key=lambda f: (f[0], f[1].code))]


def acceptable_item(node: Node, clerk: dict[str, Any], code: str) -> CatalogItem:
    """The item `clerk` may accept a case of here (what `cases.accept` checks first):
    active, of one of the clerk's departments, accepted at this node's level or below it."""
    item = current(node, code, active=True)
    clerks.require_role(clerk, item.department)
    if not _accepted_here(node, item):
        raise SchemaError(f"事项 {item.code} 须在{item.accept_level}级或以上受理",
                          f"item {item.code} is accepted at {item.accept_level} level or above")
    return item


@lru_cache(maxsize=4096)
def initials(name: str) -> tuple[frozenset[str], ...]:
    """The possible pinyin initials of each character of `name`, lower case (every reading of
    a character with several, 重 -> {z, c}); a character that is not Chinese stands for itself."""
    from pypinyin import Style, pinyin  # loaded on first use: its dictionaries take a fifth of a second
    out: list[frozenset[str]] = []
    for ch in name:
        readings = pinyin(ch, style=Style.FIRST_LETTER, heteronym=True, errors=lambda c: [c])[0]
        out.append(frozenset(r[:1].lower() for r in readings if r))
    return tuple(out)


def match_rank(query: str, code: str, name: str) -> int | None:
    """How well `query` finds an item (lower is better), None if not at all: 0 a part of
    the code, 1 a part of the name, 2 consecutive characters or their pinyin initials
    (zdsh: 最低生活), 3 the same in order with gaps (dbsq or 低保: 最低生活保障申请). Case
    and blanks are ignored; an empty query finds everything."""
    q = "".join(query.split()).lower()
    if not q or q in code.lower():
        return 0
    if q in name.lower():
        return 1
    letters = initials(name)

    def fits(c: str, i: int) -> bool:
        return c == name[i].lower() or c in letters[i]
    if any(all(fits(c, i + j) for j, c in enumerate(q)) for i in range(len(name) - len(q) + 1)):
        return 2
    pos = 0
    for c in q:  # greedy: the earliest place each character can go leaves the most room for the rest
        while pos < len(name) and not fits(c, pos):
            pos += 1
        if pos == len(name):
            return None
        pos += 1
    return 3


def show(node: Node, code: str) -> dict[str, Any]:
    item = current(node, code)
    versions = [r[0] for r in node.store.conn.execute(
        "SELECT version FROM catalog_versions WHERE scope = ? AND code = ? ORDER BY version", (item.publisher, code))]
    return {**item.to_dict(), "immediate": item.immediate, "versions": versions, "publisher": item.publisher}


def drift(node: Node) -> list[dict[str, Any]]:
    """Items this node publishes that an ancestor publishes too, whose versions differ:
    the ancestor's is the one in use, the node's own stays for the cases accepted under it."""
    own = {r[0]: parse_definition(r[1], node.region_code) for r in node.store.conn.execute(
        "SELECT code, definition FROM catalog_items WHERE scope = ?", (node.region_code,))}
    out = []
    for code, used in _used(node, own).items():
        mine = own[code]
        if used.publisher != node.region_code and not (mine.same_standard(used) and mine.version == used.version):
            out.append({"code": code, "name": used.name, "version": used.version, "publisher": used.publisher,
                        "own_version": mine.version, "same_standard": mine.same_standard(used)})
    return out
