"""The clerk's cases (办件): a search by receipt number, applicant name or ID number with
the filters of `yimen case list` (`caselist`), and the case page of `yimen case show`
(`cases.show`) with the actions this clerk may take (`cases.act`). Every read of a list
or a case leaves an audit entry, as the CLI's do."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import audit, caselist, cases, casework, papers, ratings
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import MAX_TYPED, db, form, page_number, render, see_other, small_int
from yimen.schema.case import STATUSES
from yimen.schema.errors import SchemaError, YimenError

routes = web.RouteTableDef()
PAGE = 50
RECEIPT_MARK = "-"  # a receipt number (440608100201-2026-000001) has dashes; a name or an ID number none


def _search(node: Node, clerk_id: str, q: str, status: str, card: str, conflicts: bool, page: int
            ) -> dict[str, Any]:
    """One page of the cases a search finds (an exact receipt number: that case alone),
    newest first, with the list read in the audit trail."""
    if RECEIPT_MARK in q:
        return {"found": cases.get_row(node, q)["case_id"]}
    key = "id_number" if q[:1].isdigit() else "name"
    if status and status not in STATUSES:
        raise SchemaError(f"未知的办件状态：{status}", f"unknown status: {status}")
    if card and card not in cases.CARDS:
        raise SchemaError(f"未知的督办牌：{card}", f"unknown card: {card}")
    filters = {"status": status, "card": card, "conflicts": conflicts, key: q}
    rows = caselist.list_cases(node, PAGE, page, **filters)
    total = caselist.count_cases(node, **filters)
    audit.viewed(node, "case_list", clerk_id, [r["case_id"] for r in rows], page=page)
    return {"rows": rows, "total": total, "pages": max(1, -(-total // PAGE))}


@routes.get("/cases")
async def case_list(request: web.Request) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    q, status, card = (request.query.get(k, "").strip()[:64] for k in ("q", "status", "card"))
    page = page_number(request)
    conflicts = request.query.get("conflicts") == "1"
    query = {k: v for k, v in (("q", q), ("status", status), ("card", card), ("conflicts", "1" if conflicts else "")) if v}
    ctx = dict(q=q, wanted=status, card=card, conflicts=conflicts, page=page, query=query, statuses=STATUSES, cards=cases.CARDS, error="",
               rows=[], total=0, pages=1)
    try:
        found = await db(request, _search, request.app[NODE], clerk_id, q, status, card, conflicts, page)
    except YimenError as e:  # not an ID number, or no case with that receipt number
        return await render(request, "cases_list.html", status=400, **{**ctx, "error": e.text(lang_of(request))})
    if "found" in found:
        raise see_other(f"/cases/{found['found']}")
    return await render(request, "cases_list.html", **{**ctx, **found})


def _show(node: Node, clerk_id: str, case_id: str) -> dict[str, Any]:
    d = cases.show(node, case_id)
    d.update(casework.may(node, clerk_id, d))
    audit.viewed_case(node, clerk_id, d)
    return {"case": d, "rating": ratings.find(node, case_id), "ratable": ratings.refusal(node, d) is None,
            "papers": papers.links(node, d)}


async def _page(request: web.Request, case_id: str, status: int = 200, **ctx: Any) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    shown = await db(request, _show, request.app[NODE], clerk_id, case_id)
    blank = {"error": "", "acted": "", "reason": "", "review_error": "", "reviewed": "", "resolution": ""}
    return await render(request, "case.html", status=status, **{**blank, **ctx, **shown})


@routes.get("/cases/{case_id}")
async def case_page(request: web.Request) -> web.Response:
    return await _page(request, request.match_info["case_id"])


@routes.post("/cases/{case_id}/act")
async def case_act(request: web.Request) -> web.Response:
    case_id, clerk_id = request.match_info["case_id"], await auth.clerk_id(request)
    data = await form(request)
    action, reason = str(data.get("action", "")), str(data.get("reason", ""))[:MAX_TYPED]
    department, material = (str(data.get(k, "")) or None for k in ("department", "material"))
    try:
        await db(request, cases.act, request.app[NODE], case_id, action, clerk_id, reason, department, material)
    except FORBIDDEN:
        raise  # 权限不足, as a page of its own
    except YimenError as e:  # a reason missing, an action the case does not allow now
        return await _page(request, case_id, status=400, error=e.text(lang_of(request)), acted=action, reason=reason)
    raise see_other(f"/cases/{case_id}")


@routes.post("/cases/{case_id}/review")
async def case_review(request: web.Request) -> web.Response:
    """冲突核查: how a flagged event was resolved (`casework.review`)."""
    case_id, clerk_id = request.match_info["case_id"], await auth.clerk_id(request)
    data = await form(request)
    no, resolution = str(data.get("event", ""))[:12], str(data.get("resolution", ""))[:MAX_TYPED]
    try:
        await db(request, casework.review, request.app[NODE], case_id, small_int(no),
                 resolution, clerk_id)
    except FORBIDDEN:
        raise
    except YimenError as e:  # not an open conflict, no resolution given
        return await _page(request, case_id, status=400, review_error=e.text(lang_of(request)),
                           reviewed=no, resolution=resolution)
    raise see_other(f"/cases/{case_id}#conflicts")
