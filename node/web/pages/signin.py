"""Sign-in and sign-out (the clerks and passwords of `services.sessions`)."""

from __future__ import annotations

from aiohttp import web

from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import form, render, see_other
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


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    await auth.sign_out(request)
    raise see_other("/signin")
