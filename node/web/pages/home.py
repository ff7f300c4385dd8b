"""The first page after signing in: what this clerk may do here."""

from __future__ import annotations

from aiohttp import web

from yimen.node.web import auth
from yimen.node.web.render import render

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    await auth.clerk(request)
    return await render(request, "home.html")
