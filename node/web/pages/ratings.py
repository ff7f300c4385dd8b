"""One case, one rating (一事一评): the page the clerk turns toward the citizen
(`/cases/{id}/rate`: no menu, big type, three big buttons and an optional reason, nothing
personal but the item and the masked name), its thank-you, and the admins' board
(`/ratings`: the ratings waiting for a follow-up, each with a form to record what was done,
and satisfaction by item and by clerk). The same services as `yimen rating ...`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import audit, clerks, ratings
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, form, render, see_other
from yimen.schema.errors import YimenError
from yimen.schema.rating import MAX_FOLLOW_UP, MAX_REASON, SCORES

routes = web.RouteTableDef()


async def _rate_page(request: web.Request, case_id: str, status: int = 200, **ctx: Any) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    shown = await db(request, ratings.rate_page, request.app[NODE], case_id, clerk_id)
    return await render(request, "rate.html", status=status, scores=SCORES, longest=MAX_REASON,
                        **{"error": "", "reason": "", **ctx, **shown})


@routes.get("/cases/{case_id}/rate")
async def rate_page(request: web.Request) -> web.Response:
    return await _rate_page(request, request.match_info["case_id"])


@routes.post("/cases/{case_id}/rate")
async def rate(request: web.Request) -> web.Response:
    case_id, clerk_id = request.match_info["case_id"], await auth.clerk_id(request)
    data = await form(request)
    score, reason = str(data.get("score", "")), str(data.get("reason", ""))[:MAX_REASON + 100]
    try:
        await db(request, ratings.rate, request.app[NODE], case_id, score, reason, clerk_id)
    except FORBIDDEN:
        raise  # 权限不足, as a page of its own
    except YimenError as e:  # no reason for 不满意, a score that is none, rated already
        return await _rate_page(request, case_id, status=400, error=e.text(lang_of(request)), reason=reason)
    raise see_other(f"/cases/{case_id}/rate/thanks")


@routes.get("/cases/{case_id}/rate/thanks")
async def thanks(request: web.Request) -> web.Response:
    await auth.clerk_id(request)
    case_id = request.match_info["case_id"]
    await db(request, ratings.get, request.app[NODE], case_id)  # no rating: a 400 page says so
    return await render(request, "rate_thanks.html", case_id=case_id)


def _board(node: Node, admin_id: str) -> dict[str, Any]:
    """The admins' board: open follow-ups (read in the audit trail: reasons are the
    citizens' words) and satisfaction by item and by clerk."""
    clerks.require_admin(clerks.get(node, admin_id))
    rows = ratings.open_follow_ups(node)
    audit.viewed(node, "rating_board", admin_id, [r["case_id"] for r in rows])
    return {"open": rows, "by_item": ratings.satisfaction(node, "item"), "by_clerk": ratings.satisfaction(node, "clerk")}


async def _board_page(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    shown = await db(request, _board, request.app[NODE], await auth.clerk_id(request))
    return await render(request, "ratings.html", status=status, longest=MAX_FOLLOW_UP,
                        **{"error": "", "failed": "", "text": "", "done": "", **ctx, **shown})


@routes.get("/ratings")
async def board(request: web.Request) -> web.Response:
    done = request.query.get("done", "")[:64]
    return await _board_page(request, done=done)


@routes.post("/ratings/{case_id}/follow-up")
async def follow_up(request: web.Request) -> web.Response:
    case_id, admin_id = request.match_info["case_id"], await auth.clerk_id(request)
    text = str((await form(request)).get("text", ""))[:MAX_FOLLOW_UP + 100]
    try:
        await db(request, ratings.follow_up, request.app[NODE], case_id, admin_id, text)
    except FORBIDDEN:
        raise
    except YimenError as e:  # nothing written, too long, no such rating
        return await _board_page(request, status=400, error=e.text(lang_of(request)), failed=case_id, text=text)
    raise see_other(f"/ratings?done={case_id}")
