"""Clerks of this node and their roles (一人多能: one clerk, many roles).

A role is a department name from the catalog (民政, 社保, ...): a clerk may accept and
handle cases of items of their departments, and decide approval steps of those
departments at this node's level. Clerks are local to a node and not replicated; the
history of a case records the clerk id, role and node of every action.

A clerk who leaves is deactivated, never deleted: they can no longer act, and every case
they handled keeps their id, with their name beside it in lists and reports.
"""

from __future__ import annotations

import json
from typing import Any

from yimen.node.errors import ClerkExists, NodeError, RoleMissing, UnknownClerk
from yimen.node.home import Node
from yimen.node.services import audit
from yimen.schema.catalog import DEPARTMENTS
from yimen.schema.errors import SchemaError

COLUMNS = "clerk_id, name, roles, created_at, active, deactivated_at"


class ClerkInactive(NodeError):
    """The clerk has been deactivated and can no longer act."""

    code = "clerk_inactive"


def _roles(roles: list[str]) -> None:
    bad = [r for r in roles if r not in DEPARTMENTS]
    if bad or not roles:
        raise SchemaError(
            f"未知角色：{'、'.join(bad) or '（无）'}；可选：{'、'.join(DEPARTMENTS)}",
            f"unknown role(s): {', '.join(bad) or '(none)'}; choose from {', '.join(DEPARTMENTS)}",
        )


def add(node: Node, clerk_id: str, name: str, roles: list[str]) -> dict[str, Any]:
    clerk_id, name = clerk_id.strip(), name.strip()
    if not clerk_id or not name:
        raise SchemaError("工号和姓名不能为空", "clerk id and name must not be empty")
    _roles(roles)
    if _row(node, clerk_id):
        raise ClerkExists(f"工号 {clerk_id} 已存在", f"clerk {clerk_id} already exists")
    with node.store.transaction():
        node.store.conn.execute(
            "INSERT INTO clerks(clerk_id, name, roles, created_at) VALUES (?, ?, ?, ?)",
            (clerk_id, name, json.dumps(sorted(set(roles)), ensure_ascii=False), node.now()),
        )
        audit.record(node, "clerk_add", None, clerk_id=clerk_id, roles=sorted(set(roles)))
    return get(node, clerk_id)


def set_roles(node: Node, clerk_id: str, add: list[str], remove: list[str]) -> dict[str, Any]:
    """Give a clerk roles and take others away (both may be given; a clerk keeps at least
    one role: to stop a clerk acting, deactivate them)."""
    clerk = get(node, clerk_id)
    _roles([*add, *remove])  # nothing given is refused like an unknown role, with the choices
    roles = sorted((set(clerk["roles"]) | set(add)) - set(remove))
    if not roles:
        raise SchemaError(f"{clerk['name']}（{clerk_id}）至少须保留一个岗位；如已离岗，请停用（clerk deactivate）",
                          f"clerk {clerk_id} must keep at least one role; to stop them acting, deactivate them")
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET roles = ? WHERE clerk_id = ?",
                                (json.dumps(roles, ensure_ascii=False), clerk_id))
        audit.record(node, "clerk_roles", None, clerk_id=clerk_id, added=sorted(set(add)), removed=sorted(set(remove)))
    return get(node, clerk_id)


def set_active(node: Node, clerk_id: str, active: bool) -> dict[str, Any]:
    """Deactivate a clerk (they can no longer act; their past actions keep their id and
    name) or activate them again."""
    get(node, clerk_id)
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET active = ?, deactivated_at = ? WHERE clerk_id = ?",
                                (int(active), None if active else node.now(), clerk_id))
        audit.record(node, "clerk_activate" if active else "clerk_deactivate", None, clerk_id=clerk_id)
    return get(node, clerk_id)


def name_sql(id_col: str, node_col: str) -> str:
    """SQL for the name of the clerk `id_col` holds when `node_col` is this node (parameter
    `:me`): clerks are local, and another node's c01 is someone else."""
    return f"(SELECT name FROM clerks WHERE clerk_id = {id_col} AND {node_col} = :me)"


def _row(node: Node, clerk_id: str) -> tuple | None:
    return node.store.conn.execute(f"SELECT {COLUMNS} FROM clerks WHERE clerk_id = ?", (clerk_id,)).fetchone()


def _as_dict(row: tuple) -> dict[str, Any]:
    return {"clerk_id": row[0], "name": row[1], "roles": json.loads(row[2]), "created_at": row[3],
            "active": bool(row[4]), "deactivated_at": row[5]}


def get(node: Node, clerk_id: str) -> dict[str, Any]:
    row = _row(node, clerk_id or "")
    if row is None:
        raise UnknownClerk(f"没有工号为 {clerk_id} 的窗口人员", f"no clerk with id {clerk_id!r}")
    return _as_dict(row)


def all_clerks(node: Node) -> list[dict[str, Any]]:
    rows = node.store.conn.execute(f"SELECT {COLUMNS} FROM clerks ORDER BY clerk_id")
    return [_as_dict(r) for r in rows]


def require_role(clerk: dict[str, Any], department: str) -> None:
    """The clerk may act in `department`: they are active and hold that role. Every action
    on a case asks this before anything is written."""
    if not clerk["active"]:
        raise ClerkInactive(f"{clerk['name']}（{clerk['clerk_id']}）已停用，不能办理",
                            f"clerk {clerk['clerk_id']} has been deactivated and cannot act")
    if department not in clerk["roles"]:
        raise RoleMissing(
            f"{clerk['name']}（{clerk['clerk_id']}）没有“{department}”岗位权限",
            f"clerk {clerk['clerk_id']} does not hold the role {department}",
        )
