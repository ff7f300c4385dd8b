"""The menu: each entry says who sees it ("any" signed-in clerk, "admin", or a
department role); a clerk sees only what their roles allow."""

from __future__ import annotations

from typing import Any, NamedTuple


class Entry(NamedTuple):
    path: str
    zh: str
    en: str
    need: str = "any"


MENU: list[Entry] = [  # the window's work first, then the back office, then the admin's
    Entry("/", "首页", "Home"),
    Entry("/accept", "受理", "Accept"),  # lists only the items of the clerk's departments
    Entry("/cases", "办件", "Cases"),
    Entry("/inbox", "待办", "Inbox"),
    Entry("/verify", "证照核验", "Verify certificate"),
    Entry("/board", "督办", "Supervision", "管理员"),
    Entry("/ratings", "一事一评", "Ratings", "管理员"),
    Entry("/chain", "同步", "Sync", "管理员"),
    Entry("/admin", "管理", "Admin", "管理员"),
]


def allowed(who: dict[str, Any] | None, need: str) -> bool:
    return who is not None and (need == "any" or need in who["roles"])


def menu(who: dict[str, Any] | None) -> list[Entry]:
    return [e for e in MENU if allowed(who, e.need)]


def current(path: str, entries: list[Entry]) -> str:
    """The entry a page belongs to: the longest entry path that is the page's path or a
    folder of it (/accept/T-DIBAO belongs to /accept; every page to / at least)."""
    return max((e.path for e in entries if path == e.path or path.startswith(e.path.rstrip("/") + "/")),
               key=len, default="")
