"""The pages' language: Chinese unless asked otherwise, never mixed on one page.

`?lang=en` (or `?lang=zh`) on any page chooses, and a cookie keeps the choice for the
browser; without either, the node's `language` setting. Templates say
`t("中文", "English")`; texts of the services (an error's sentence, a status) are picked
with the same `lang`."""

from __future__ import annotations

from aiohttp import web

from yimen.node.server.routes import NODE

LANGS = ("zh", "en")
COOKIE = "yimen_lang"
LANG = web.RequestKey("lang", str)


def asked(request: web.Request) -> str | None:
    """The language this request names in its query, if it names a known one."""
    value = request.query.get("lang")
    return value if value in LANGS else None


def lang_of(request: web.Request) -> str:
    """The language of the page answering `request`."""
    cached = request.get(LANG)
    if cached:
        return cached
    chosen = asked(request) or request.cookies.get(COOKIE)
    lang = chosen if chosen in LANGS else request.app[NODE].config.language
    request[LANG] = lang
    return lang


def remember(request: web.Request, response: web.StreamResponse) -> None:
    """Keep a language named in the query for the next pages (a year; only a choice)."""
    lang = asked(request)
    if lang and request.cookies.get(COOKIE) != lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="Strict", httponly=True)
