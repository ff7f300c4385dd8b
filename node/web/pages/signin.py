"""Sign-in and sign-out (the clerks and passwords of `services.sessions`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import clerks, sessions
from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, form, render, see_other
from yimen.schema.errors import YimenError

routes = web.RouteTableDef()


def local(target: str) -> str:
    """Where to go after signing in: a path of this node only (never another site)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@routes.get("/signin")
async def signin_page(request: web.Request) -> web.Response:
    return await render(request, "signin.html", next=local(request.query.get("next", "/")), error="", clerk_id="")


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    clerk_id, target = str(data.get("clerk_id", "")).strip(), local(str(data.get("next", "/")))
    try:
        await auth.sign_in(request, clerk_id, str(data.get("password", "")))
    except YimenError as e:
        return await render(request, "signin.html", status=401, error=e.text(lang_of(request)),
                            next=target, clerk_id=clerk_id)
    raise see_other(target)


LINK_LENGTH = 64  # a link's token is 43 characters (`sessions.make_link`)


@routes.get("/signin/link/{token}")
async def link_page(request: web.Request) -> web.Response:
    """A one-time sign-in link asks first (a GET never signs in: a link previewed or
    prefetched is not used up)."""
    token = request.match_info["token"][:LINK_LENGTH]
    try:
        who = await db(request, _link_clerk, request.app[NODE], token)
    except YimenError as e:
        return await render(request, "signin.html", status=400, error=e.text(lang_of(request)), next="/", clerk_id="")
    return await render(request, "signin_link.html", who=who, token=token)


def _link_clerk(node: Node, token: str) -> dict[str, Any]:
    return clerks.get(node, sessions.link_clerk(node, token))


@routes.post("/signin/link/{token}")
async def link_sign_in(request: web.Request) -> web.StreamResponse:
    try:
        await auth.sign_in_by_link(request, request.match_info["token"][:LINK_LENGTH])
    except YimenError as e:
        return await render(request, "signin.html", status=400, error=e.text(lang_of(request)), next="/", clerk_id="")
    raise see_other("/")


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    await auth.sign_out(request)
    raise see_other("/signin")
