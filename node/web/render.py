"""Rendering a page: the template, with what every page shows (the node, the clerk, the
menu, the language, the CSRF token) and the headers every page answer carries."""

from __future__ import annotations

from typing import Any, Callable, TypeVar
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from yimen.node.replication import in_db
from yimen.node.server.routes import NODE
from yimen.node.services import sessions
from yimen.node.web import auth, i18n, nav

T = TypeVar("T")

# No request outside the node, no inline script; a page is never framed by another site.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


async def db(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """A service call on the node's database thread."""
    return await in_db(request.app[NODE], fn, *args)


async def common(request: web.Request) -> dict[str, Any]:
    """What every template may use."""
    lang = i18n.lang_of(request)
    try:
        who = await auth.clerk(request)
    except sessions.NotSignedIn:
        who = None
    node = request.app[NODE]
    menu = nav.menu(who)
    return {"lang": lang, "t": lambda zh, en: zh if lang == "zh" else en, "clerk": who, "node": node,
            "menu": menu, "here": nav.current(request.path, menu), "path": request.path, "csrf_token": await auth.csrf_token(request),
            "csrf_field": auth.CSRF_FIELD}


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """The page `template` with `context`, as an answer."""
    ctx = await common(request)
    ctx.update(context)
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    i18n.remember(request, response)  # here: cookies set in on_response_prepare are not sent
    return response


async def form(request: web.Request) -> MultiDictProxy:
    """The posted form (already read, and its CSRF token checked, by the middleware)."""
    return await request.post()


MAX_TYPED = 2000  # what a page keeps of a long text typed (a reason: the service refuses one too long)
MAX_PAGE = 1 << 40  # a page number past it is an empty page (SQLite's OFFSET is 64 bits)


def small_int(text: object, default: int = 0) -> int:
    """A count a form or an address gives (ASCII digits, at most 12 of them), else `default`
    (`str.isdigit` alone takes "²", which `int` refuses)."""
    return int(text) if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 12 else default


def page_number(request: web.Request) -> int:
    """The list page `?page=` asks for (1 for anything but a positive number)."""
    return min(max(small_int(request.query.get("page", "1"), 1), 1), MAX_PAGE)


def see_other(location: str) -> web.HTTPSeeOther:
    """The answer to a form that did what it asked: go to `location` (so a reload does
    not post again)."""
    return web.HTTPSeeOther(location)


def attachment(body: bytes, name: str, ascii_name: str, content_type: str, charset: str | None = None) -> web.Response:
    """A file for the browser to save as `name` (RFC 6266's `filename*`, UTF-8), or as
    `ascii_name` where a browser reads only `filename`."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return web.Response(body=body, content_type=content_type, charset=charset,
                        headers={"Content-Disposition": disposition})


async def page_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers of every page answer (not the sync routes')."""
    if not auth.is_page(request):
        return
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # pages hold personal data: never kept by the browser
