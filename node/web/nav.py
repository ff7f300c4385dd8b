"""The menu: each entry says who sees it ("any" signed-in clerk, "admin", or a
department role); a clerk sees only what their roles allow."""

from __future__ import annotations

from typing import Any, NamedTuple


class Entry(NamedTuple):
    path: str
    zh: str
    en: str
    need: str = "any"


MENU: list[Entry] = [
    Entry("/", "首页", "Home"),
    Entry("/cases", "办件", "Cases"),
    Entry("/verify", "证照核验", "Verify certificate"),
    Entry("/ratings", "一事一评", "Ratings", "管理员"),
    # the back office and the supervision board
    Entry("/inbox", "待办", "Inbox"),
    Entry("/board", "督办", "Supervision", "管理员"),
    # admin
    Entry("/admin/clerks", "管理", "Admin", "管理员"),
]


def allowed(who: dict[str, Any] | None, need: str) -> bool:
    return who is not None and (need == "any" or need in who["roles"])


def menu(who: dict[str, Any] | None) -> list[Entry]:
    return [e for e in MENU if allowed(who, e.need)]
