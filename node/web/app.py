"""`setup_pages(app, secure)`: the window's pages on the node's app (see the package's
docstring). Each part of the window is a module of `pages` with a `routes` table; `PARTS`
lists them, in menu order."""

from __future__ import annotations

import importlib
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from yimen.node.web import auth, errors, filters, render

HERE = Path(__file__).resolve().parent
PARTS = ("signin", "home", "cases", "verify", "ratings",
         "papers", "inbox", "board", "accept", "chain",
         "admin")
STATIC = HERE / "static"


def setup_pages(app: web.Application, secure: bool = False) -> None:
    """Add the pages to the node's app (before it starts). `secure`: the node serves TLS."""
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                               autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
    filters.install(env)
    app[auth.WEB] = auth.WebState(secure=secure)
    app.cleanup_ctx.append(auth.starting)
    app.middlewares.extend([auth.session, errors.pages, auth.csrf])  # the session saved after an error page too
    app.on_response_prepare.append(render.page_headers)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    for part in PARTS:
        app.add_routes(importlib.import_module(f"yimen.node.web.pages.{part}").routes)
