"""One case, one rating (一事一评): the page the clerk turns toward the citizen
(`/cases/{id}/rate`: no menu, big type, three big buttons and an optional reason, nothing
personal but the item and the masked name), its thank-you, and the admins' board
(`/ratings`: the ratings waiting for a follow-up, each with a form to record what was done,
and satisfaction by item and by clerk). The same services as `yimen rating ...`.

A second screen on the LAN (a tablet facing the citizen) signs in nowhere: the clerk's
`/cases/{id}/rate/screen` shows a QR of `/r/{token}`, the same rating page for that one
case, the token the case and the clerk signed under the node's key with the node's time,
good for `SCREEN_MINUTES` (a rating is taken once per case whatever the token)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import audit, clerks, ratings
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN, LinkGone
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, form, render, see_other
from yimen.schema.errors import YimenError
from yimen.schema.rating import MAX_FOLLOW_UP, MAX_REASON, SCORES
from yimen.personal_space.credential_qr import qr_data_uri

routes = web.RouteTableDef()
SCREEN_MINUTES = 30
MAX_TOKEN = 400  # a receipt number and a clerk id (base64 of their JSON), a timestamp and a signature


class _NodeTimeSigner(TimestampSigner):
    """A `TimestampSigner` on the node's clock (what the node calls now, tests included)."""

    def __init__(self, secret_key: bytes, salt: str, node: Node, **kw: Any):
        super().__init__(secret_key, salt=salt, digest_method=hashlib.sha256, **kw)
        self.node = node

    def get_timestamp(self) -> int:
        return int(self.node.clock().timestamp())


def _signer(request: web.Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[auth.WEB].key, salt="yimen-rate-screen",
                                  signer=_NodeTimeSigner, signer_kwargs={"node": request.app[NODE]})


async def _screen(request: web.Request) -> tuple[str, str]:
    """The case and the clerk a second screen's token names (404 unless it is ours and fresh)."""
    token = request.match_info["token"]
    try:
        case_id, clerk_id = _signer(request).loads(token[:MAX_TOKEN], max_age=SCREEN_MINUTES * 60)
        return str(case_id), str(clerk_id)
    except (BadData, UnicodeError, ValueError, TypeError):  # not ours, too old, not a pair
        raise LinkGone("此评价链接无效或已过期：请窗口人员重新打开评价二维码",
                       "this rating link is unknown or expired: the clerk can open a new rating QR") from None


async def _rate_page(request: web.Request, case_id: str, status: int = 200, clerk_id: str = "", action: str = "",
                     **ctx: Any) -> web.Response:
    clerk_id = clerk_id or await auth.clerk_id(request)
    shown = await db(request, ratings.rate_page, request.app[NODE], case_id, clerk_id)
    return await render(request, "rate.html", status=status, scores=SCORES, longest=MAX_REASON,
                        action=action or f"/cases/{case_id}/rate", **{"error": "", "reason": "", **ctx, **shown})


async def _rated(request: web.Request, case_id: str, clerk_id: str, action: str, done: str) -> web.Response:
    """A rating posted from `action`: recorded, then `done`; refused, the page again."""
    data = await form(request)
    score, reason = str(data.get("score", "")), str(data.get("reason", ""))[:MAX_REASON + 100]
    try:
        await db(request, ratings.rate, request.app[NODE], case_id, score, reason, clerk_id)
    except FORBIDDEN:
        raise  # 权限不足, as a page of its own
    except YimenError as e:  # no reason for 不满意, a score that is none, rated already
        return await _rate_page(request, case_id, 400, clerk_id, action, error=e.text(lang_of(request)), reason=reason)
    raise see_other(done)


@routes.get("/cases/{case_id}/rate/screen")
async def screen_link(request: web.Request) -> web.Response:
    """The QR a second screen opens: the rating page of this case, for `SCREEN_MINUTES`."""
    case_id, clerk_id = request.match_info["case_id"], await auth.clerk_id(request)
    shown = await db(request, ratings.rate_page, request.app[NODE], case_id, clerk_id)  # ratable now, or a sentence
    url = f"{request.url.origin()}/r/{_signer(request).dumps([case_id, clerk_id])}"
    return await render(request, "rate_screen.html", link=url, qr=qr_data_uri(url), minutes=SCREEN_MINUTES, **shown)


@routes.get("/r/{token}")
async def screen_page(request: web.Request) -> web.Response:
    case_id, clerk_id = await _screen(request)
    return await _rate_page(request, case_id, clerk_id=clerk_id, action=request.path)


@routes.post("/r/{token}")
async def screen_rate(request: web.Request) -> web.Response:
    case_id, clerk_id = await _screen(request)
    return await _rated(request, case_id, clerk_id, request.path, f"{request.path}/thanks")


@routes.get("/r/{token}/thanks")
async def screen_thanks(request: web.Request) -> web.Response:
    case_id, _ = await _screen(request)
    await db(request, ratings.get, request.app[NODE], case_id)  # no rating: a 400 page says so
    return await render(request, "rate_thanks.html", case_id="")


@routes.get("/cases/{case_id}/rate")
async def rate_page(request: web.Request) -> web.Response:
    return await _rate_page(request, request.match_info["case_id"])


@routes.post("/cases/{case_id}/rate")
async def rate(request: web.Request) -> web.Response:
    case_id, clerk_id = request.match_info["case_id"], await auth.clerk_id(request)
    return await _rated(request, case_id, clerk_id, f"/cases/{case_id}/rate", f"/cases/{case_id}/rate/thanks")


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
