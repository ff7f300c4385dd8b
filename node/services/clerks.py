"""Clerks of this node and their roles (一人多能: one clerk, many roles).

A role is a department name from the catalog (民政, 社保, ...): a clerk may accept and
handle cases of items of their departments, and decide approval steps of those
departments at this node's level. Clerks are local to a node and not replicated; the
history of a case records the clerk id, role and node of every action.

A clerk who leaves is deactivated, never deleted: they can no longer act, and every case
they handled keeps their id, with their name beside it in lists and reports.

The admin role (管理员, `admin`) manages clerks; it is no department, so an admin acts on
cases only with department roles too. The node always keeps an admin: the last one is
neither deactivated nor stripped of the role. Passwords follow `check_password` and are
stored as Argon2id hashes (`sessions`). These functions trust their caller for who is
asking (`by`, the acting admin); the boundary authenticates. `clerk_changed` is the one
place every change to a clerk passes through (for the audit log).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from yimen.node.errors import ClerkExists, NodeError, RoleMissing, UnknownClerk
from yimen.node.home import Node
from yimen.node.services import audit, sessions
from yimen.schema.catalog import DEPARTMENTS
from yimen.schema.errors import SchemaError

COLUMNS = "clerk_id, name, roles, created_at, active, deactivated_at, password_hash IS NOT NULL, locked_until"
ADMIN = "管理员"
ROLES = (*DEPARTMENTS, ADMIN)
ROLE_ALIASES = {"admin": ADMIN}
MIN_PASSWORD, MAX_PASSWORD = 8, 128


class ClerkInactive(NodeError):
    """The clerk has been deactivated and can no longer act."""

    code = "clerk_inactive"


class NotAdmin(NodeError):
    """Only a clerk holding the admin role (管理员) may do this."""

    code = "not_admin"


class LastAdmin(NodeError):
    """The node's last admin can neither be deactivated nor lose the admin role."""

    code = "last_admin"


class AdminExists(NodeError):
    """The node already has an admin: a new one is added by that admin."""

    code = "admin_exists"


class WeakPassword(NodeError):
    """The password does not follow the node's password rules."""

    code = "weak_password"


def _roles(roles: list[str]) -> list[str]:
    """The roles named (`admin` is 管理员), each checked."""
    roles = [ROLE_ALIASES.get(r, r) for r in roles]
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise SchemaError(
            f"未知角色：{'、'.join(bad) or '（无）'}；可选：{'、'.join(ROLES)}",
            f"unknown role(s): {', '.join(bad) or '(none)'}; choose from {', '.join(ROLES)} (or admin)",
        )
    return roles


def check_password(password: str, clerk_id: str, name: str) -> None:
    """Rules a clerk can live with: 8 to 128 characters (Chinese ones count one each), no
    control characters, not the clerk's id or name nor holding the id, not one character
    repeated."""
    folded = password.casefold()
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise WeakPassword(f"密码须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符",
                           f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise WeakPassword("密码不能含控制字符", "a password holds no control characters")
    if clerk_id.strip().casefold() in folded or folded.strip() == name.strip().casefold():
        raise WeakPassword("密码不能是工号或姓名，也不能含工号", "a password is not the clerk's id or name, nor holds the id")
    if len(set(password)) == 1:
        raise WeakPassword("密码不能由同一个字符重复组成", "a password is not one character repeated")


def new_password(clerk_id: str, name: str) -> str:
    """A first or reset password an admin hands clerk `clerk_id` (shown once): 12
    characters that read well on paper (no 0/O, 1/l/I), one `check_password` takes."""
    for _ in range(100):  # a one-letter clerk id is in a fifth of them
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
        try:
            check_password(password, clerk_id, name)
            return password
        except WeakPassword:
            continue
    return password  # (an empty clerk id, refused on its own)


PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def locked(node: Node, clerk: dict[str, Any]) -> bool:
    """The clerk is locked out now, after repeated wrong passwords (`clerk unlock` lifts it)."""
    return bool(clerk["locked_until"]) and clerk["locked_until"] > node.now()


def add(node: Node, clerk_id: str, name: str, roles: list[str], password: str | None = None,
        by: str | None = None) -> dict[str, Any]:
    """Add a clerk. Without a password they cannot sign in until an admin gives them one
    (`set_password`); the CLI always asks for one."""
    clerk_id, name = clerk_id.strip(), name.strip()
    if not clerk_id or not name:
        raise SchemaError("工号和姓名不能为空", "clerk id and name must not be empty")
    roles = _roles(roles)
    if password is not None:
        check_password(password, clerk_id, name)
    if _row(node, clerk_id):
        raise ClerkExists(f"工号 {clerk_id} 已存在", f"clerk {clerk_id} already exists")
    hashed = sessions.hash_password(node, password) if password is not None else None
    with node.store.transaction():
        node.store.conn.execute(
            "INSERT INTO clerks(clerk_id, name, roles, created_at, password_hash) VALUES (?, ?, ?, ?, ?)",
            (clerk_id, name, json.dumps(sorted(set(roles)), ensure_ascii=False), node.now(), hashed),
        )
        clerk_changed(node, by, clerk_id, "added")
    return get(node, clerk_id)


def bootstrap_admin(node: Node, clerk_id: str, name: str, password: str) -> dict[str, Any]:
    """The node's first admin, added by whoever holds the node's folder: only while no
    clerk holds the admin role (afterwards an admin adds clerks)."""
    with node.store.transaction():
        if has_admin(node):
            raise AdminExists("本节点已有管理员：请由管理员登录后添加窗口人员",
                              "this node has an admin already: the admin signs in and adds clerks")
        return add(node, clerk_id, name, [ADMIN], password)


def has_admin(node: Node) -> bool:
    return any(ADMIN in c["roles"] for c in all_clerks(node))


def require_admin(clerk: dict[str, Any]) -> None:
    if not clerk["active"] or ADMIN not in clerk["roles"]:
        raise NotAdmin(f"{clerk['name']}（{clerk['clerk_id']}）不是管理员，不能执行此操作",
                       f"clerk {clerk['clerk_id']} is no admin and cannot do this")


def _keep_an_admin(node: Node, clerk: dict[str, Any]) -> None:
    """Refuse to leave the node without an active admin: nobody could manage clerks, and
    the bootstrap (for a node with no admin) must not open again."""
    others = [c for c in all_clerks(node) if c["active"] and ADMIN in c["roles"] and c["clerk_id"] != clerk["clerk_id"]]
    if not others:
        raise LastAdmin(f"{clerk['name']}（{clerk['clerk_id']}）是本节点唯一的管理员：请先另设一名管理员",
                        f"clerk {clerk['clerk_id']} is this node's only admin: make another admin first")


def set_password(node: Node, clerk_id: str, password: str, by: str | None = None,
                 keep_session: str | None = None) -> dict[str, Any]:
    """Give a clerk a new password; it ends their sessions but `keep_session` (the token
    of the clerk changing their own password) and lifts a lockout."""
    clerk = get(node, clerk_id)
    check_password(password, clerk_id, clerk["name"])
    hashed = sessions.hash_password(node, password)
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET password_hash = ?, failed_signins = 0, locked_until = NULL"
                                " WHERE clerk_id = ?", (hashed, clerk_id))
        sessions.end_sessions(node, clerk_id, keep=keep_session)
        clerk_changed(node, by, clerk_id, "password")
    return get(node, clerk_id)


def unlock(node: Node, clerk_id: str, by: str | None = None) -> dict[str, Any]:
    """Lift a lockout after failed sign-ins."""
    get(node, clerk_id)
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET failed_signins = 0, locked_until = NULL WHERE clerk_id = ?",
                                (clerk_id,))
        clerk_changed(node, by, clerk_id, "unlocked")
    return get(node, clerk_id)


def clerk_changed(node: Node, by: str | None, clerk_id: str, change: str) -> None:
    """Every change to a clerk (added, roles, deactivated, activated, password, unlocked)
    passes here, inside its transaction, with the admin who made it (`None`: the node's
    first admin, or a service caller); the audit log records it here."""
    audit.record(node, f"clerk_{CHANGE_ACTION[change]}", by, clerk_id=clerk_id)


CHANGE_ACTION = {"added": "add", "roles": "roles", "deactivated": "deactivate", "activated": "activate",
                 "password": "password", "unlocked": "unlock"}


def set_roles(node: Node, clerk_id: str, add: list[str], remove: list[str],
              by: str | None = None) -> dict[str, Any]:
    """Give a clerk roles and take others away (both may be given; a clerk keeps at least
    one role: to stop a clerk acting, deactivate them)."""
    clerk = get(node, clerk_id)
    _roles([*add, *remove])  # nothing given is refused like an unknown role, with the choices
    add, remove = [ROLE_ALIASES.get(r, r) for r in add], [ROLE_ALIASES.get(r, r) for r in remove]
    roles = sorted((set(clerk["roles"]) | set(add)) - set(remove))
    if ADMIN in clerk["roles"] and ADMIN not in roles:
        _keep_an_admin(node, clerk)
    if not roles:
        raise SchemaError(f"{clerk['name']}（{clerk_id}）至少须保留一个岗位；如已离岗，请停用（clerk deactivate）",
                          f"clerk {clerk_id} must keep at least one role; to stop them acting, deactivate them")
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET roles = ? WHERE clerk_id = ?",
                                (json.dumps(roles, ensure_ascii=False), clerk_id))
        clerk_changed(node, by, clerk_id, "roles")
    return get(node, clerk_id)


def set_active(node: Node, clerk_id: str, active: bool, by: str | None = None) -> dict[str, Any]:
    """Deactivate a clerk (they can no longer act, their sessions end at once; their past
    actions keep their id and name) or activate them again."""
    clerk = get(node, clerk_id)
    if not active and ADMIN in clerk["roles"]:
        _keep_an_admin(node, clerk)
    with node.store.transaction():
        node.store.conn.execute("UPDATE clerks SET active = ?, deactivated_at = ? WHERE clerk_id = ?",
                                (int(active), None if active else node.now(), clerk_id))
        if not active:
            sessions.end_sessions(node, clerk_id)
        clerk_changed(node, by, clerk_id, "activated" if active else "deactivated")
    return get(node, clerk_id)


def name_sql(id_col: str, node_col: str) -> str:
    """SQL for the name of the clerk `id_col` holds when `node_col` is this node (parameter
    `:me`): clerks are local, and another node's c01 is someone else."""
    return f"(SELECT name FROM clerks WHERE clerk_id = {id_col} AND {node_col} = :me)"


def _row(node: Node, clerk_id: str) -> tuple | None:
    return node.store.conn.execute(f"SELECT {COLUMNS} FROM clerks WHERE clerk_id = ?", (clerk_id,)).fetchone()


def _as_dict(row: tuple) -> dict[str, Any]:
    return {"clerk_id": row[0], "name": row[1], "roles": json.loads(row[2]), "created_at": row[3],
            "active": bool(row[4]), "deactivated_at": row[5], "has_password": bool(row[6]), "locked_until": row[7]}


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
