"""Printed papers and the citizen's progress page.

- `/cases/{case_id}/paper/{kind}`: a paper of `services.papers` (受理回执, 一次性告知书,
  不予受理通知书, 办理结果) laid out for A4 by the print stylesheet, for a signed-in clerk.
  The receipt carries a QR code of the progress page's address as this request reached
  the node (on the village LAN, the village node's address).
- `/p/{token}`: the progress page (办件进度), read-only, with no sign-in and no menu. The
  token is the receipt number signed with itsdangerous under the node's cookie key (its
  own salt), so receipt numbers cannot be walked; a forged or mangled one is "not found".
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from itsdangerous import BadSignature, Signer

from yimen.node.errors import UnknownCase
from yimen.node.server.routes import NODE
from yimen.node.services import papers
from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, render
from yimen.personal_space.credential_qr import qr_data_uri

routes = web.RouteTableDef()
SALT = "yimen-progress"
MAX_TOKEN = 128  # a receipt number (24 characters), a dot and a signature (43)


def signer(key: bytes) -> Signer:
    """What signs a progress token, under the node's cookie key (`auth.cookie_key`)."""
    return Signer(key, salt=SALT, digest_method=hashlib.sha256)


def case_of(s: Signer, token: str) -> str | None:
    """The case a progress token names, None unless it is the very token `s` makes for
    it (base64's spare bits let other spellings of one signature pass `unsign`)."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        case_id = s.unsign(token).decode()
        return case_id if hmac.compare_digest(s.sign(case_id), token.encode()) else None
    except (BadSignature, UnicodeError):  # not one of ours, or not even text (a lone surrogate)
        return None


def _signer(request: web.Request) -> Signer:
    return signer(request.app[auth.WEB].key)


async def progress_url(request: web.Request, case_id: str) -> str:
    """The progress page of a case, at the address this request came in on."""
    return f"{request.url.origin()}/p/{_signer(request).sign(case_id).decode()}"


async def _failed(request: web.Request, zh: str, en: str, status: int = 404) -> web.Response:
    message = zh if lang_of(request) == "zh" else en
    return await render(request, "error.html", status=status, message=message, status_code=status)


@routes.get("/cases/{case_id}/paper/{kind}")
async def paper_page(request: web.Request) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    case_id, kind = request.match_info["case_id"], request.match_info["kind"]
    if kind not in papers.KINDS:
        return await _failed(request, "没有这种文书：可打印受理回执、一次性告知书、不予受理通知书或办理结果证明",
                                "no such paper: a receipt, a notice, a refusal or a result can be printed")
    try:
        p = await db(request, papers.paper, request.app[NODE], case_id, kind, clerk_id)
    except papers.PaperUnfit as e:
        return await _failed(request, e.zh, e.en, status=400)
    qr = ""
    if kind == "receipt":
        qr = qr_data_uri(await progress_url(request, case_id))
    elif kind == "result":
        qr = qr_data_uri(p["result"]["text"])
    return await render(request, "paper.html", p=p, qr=qr)


@routes.get("/p/{token}")
async def progress_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    gone = ("没有找到这个办件：请核对回执上的二维码", "no such case: check the QR code on the receipt")
    case_id = case_of(_signer(request), token)
    if case_id is None:
        return await _failed(request, *gone)
    try:
        shown = await db(request, papers.progress, request.app[NODE], case_id)
    except UnknownCase:
        return await _failed(request, *gone)
    return await render(request, "progress.html", s=shown, clerk=None, menu=[])
