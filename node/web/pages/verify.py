"""Verify an e-certificate (电子证照核验) by pasting its YM1 text or scanning its QR with a
scanner that types like a keyboard, with no link: `credentials.verify` against this
node's trust list, and with an ID number the bearer shows, `credentials.is_holder`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yimen.node.services import credentials
from yimen.node.server.routes import NODE
from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, form, render
from yimen.node.home import Node
from yimen.schema.doc_types import DOC_TYPES
from yimen.schema.errors import YimenError

routes = web.RouteTableDef()
MAX_TEXT = 4096  # a YM1 text is about 300 characters


@routes.get("/verify")
async def verify_page(request: web.Request) -> web.Response:
    await auth.clerk(request)
    return await render(request, "verify.html", text="", holder="", verdict=None, bearer=None, error="")


def _check(node: Node, text: str, holder: str) -> tuple[Any, bool | None]:
    verdict = credentials.verify(node, text)
    return verdict, (credentials.is_holder(node, verdict, holder) if holder else None)


@routes.post("/verify")
async def verify(request: web.Request) -> web.Response:
    await auth.clerk(request)
    data = await form(request)
    text, holder = str(data.get("text", "")).strip()[:MAX_TEXT], str(data.get("holder", "")).strip()
    lang = lang_of(request)
    try:
        verdict, bearer = await db(request, _check, request.app[NODE], text, holder)
    except YimenError as e:  # the holder's ID number is not one
        return await render(request, "verify.html", status=400, text=text, holder=holder, verdict=None,
                            bearer=None, error=e.text(lang))
    return await render(request, "verify.html", text=text, holder=holder, verdict=verdict.as_dict(lang),
                        bearer=bearer, error="", kind=_kind(verdict, lang),
                        issuer=(verdict.issuer or {}).get("name", ""))


def _kind(verdict: Any, lang: str) -> str:
    c = verdict.claims
    return "" if c is None else DOC_TYPES.get(c.doc_type, c.doc_type) if lang == "zh" else c.doc_type
