"""Clerks of this node and their roles (一人多能: one clerk, many roles).

A role is a department name from the catalog (民政, 社保, ...): a clerk may accept and
handle cases of items of their departments, and decide approval steps of those
departments at this node's level. Clerks are local to a node and not replicated; the
history of a case records the clerk id, role and node of every action.
"""

from __future__ import annotations

import json
from typing import Any

from yimen.node.errors import ClerkExists, RoleMissing, UnknownClerk
from yimen.node.home import Node
from yimen.schema.catalog import DEPARTMENTS
from yimen.schema.errors import SchemaError


def add(node: Node, clerk_id: str, name: str, roles: list[str]) -> dict[str, Any]:
    clerk_id, name = clerk_id.strip(), name.strip()
    if not clerk_id or not name:
        raise SchemaError("工号和姓名不能为空", "clerk id and name must not be empty")
    bad = [r for r in roles if r not in DEPARTMENTS]
    if bad or not roles:
        raise SchemaError(
            f"未知角色：{'、'.join(bad) or '（无）'}；可选：{'、'.join(DEPARTMENTS)}",
            f"unknown role(s): {', '.join(bad) or '(none)'}; choose from {', '.join(DEPARTMENTS)}",
        )
    if _row(node, clerk_id):
        raise ClerkExists(f"工号 {clerk_id} 已存在", f"clerk {clerk_id} already exists")
    with node.store.transaction():
        node.store.conn.execute(
            "INSERT INTO clerks(clerk_id, name, roles, created_at) VALUES (?, ?, ?, ?)",
            (clerk_id, name, json.dumps(sorted(set(roles)), ensure_ascii=False), node.now()),
        )
    return get(node, clerk_id)


def _row(node: Node, clerk_id: str) -> tuple | None:
    return node.store.conn.execute(
        "SELECT clerk_id, name, roles, created_at FROM clerks WHERE clerk_id = ?", (clerk_id,)
    ).fetchone()


def _as_dict(row: tuple) -> dict[str, Any]:
    return {"clerk_id": row[0], "name": row[1], "roles": json.loads(row[2]), "created_at": row[3]}


def get(node: Node, clerk_id: str) -> dict[str, Any]:
    row = _row(node, clerk_id or "")
    if row is None:
        raise UnknownClerk(f"没有工号为 {clerk_id} 的窗口人员", f"no clerk with id {clerk_id!r}")
    return _as_dict(row)


def all_clerks(node: Node) -> list[dict[str, Any]]:
    rows = node.store.conn.execute("SELECT clerk_id, name, roles, created_at FROM clerks ORDER BY clerk_id")
    return [_as_dict(r) for r in rows]


def require_role(clerk: dict[str, Any], department: str) -> None:
    if department not in clerk["roles"]:
        raise RoleMissing(
            f"{clerk['name']}（{clerk['clerk_id']}）没有“{department}”岗位权限",
            f"clerk {clerk['clerk_id']} does not hold the role {department}",
        )
