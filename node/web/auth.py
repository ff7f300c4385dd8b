"""Who is at the browser: the session cookie, CSRF tokens, and the clerk a page acts as.

- **The cookie** (aiohttp-session's `EncryptedCookieStorage`, Fernet under a key kept in
  the node's encrypted database) holds the token of a session of `services.sessions`,
  the same sessions `yimen login` opens: idle expiry (`session_idle_hours`), sign-out,
  deactivation and a password change end it the same way. The database keeps only the
  token's hash. The cookie is HttpOnly, SameSite=Strict, Secure when the node serves TLS,
  and named after the node (`yimen_<region>`): nodes on one machine (the demo's) never
  read, nor overwrite, each other's, and a token is only ever resolved in its own node's
  database, so a clerk of one node cannot act on another's.
- **CSRF**: each browser session has a random secret; every form carries it signed with
  itsdangerous (as Flask-WTF does) and every POST is checked against it in `csrf`, before
  any handler runs. A POST whose `Origin` names another site is refused as well.
"""

from __future__ import annotations

import base64
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from itsdangerous import BadData, URLSafeTimedSerializer

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.server.routes import NODE
from yimen.node.services import clerks, sessions

# aiohttp-session keeps its state under plain string keys of the request, which aiohttp
# 3.14 warns about (it asks for `web.RequestKey`s); that is the library's to change.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")

COOKIE_KEY_META = "web_cookie_key"
CLERK = web.RequestKey("clerk", dict)
TOKEN = "token"  # the session's token, in the cookie
CSRF = "csrf"  # the browser session's CSRF secret, in the cookie
CSRF_FIELD = "csrf_token"  # the form field that carries it, signed
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CsrfRefused(NodeError):
    """A form came without a valid token of this browser's session (an old page, or another site)."""

    code = "csrf_refused"


class BadForm(NodeError):
    """A POST to a page whose body is no readable form."""

    code = "bad_form"


@dataclass
class WebState:
    """What the pages keep per app, filled when the app starts (the key comes from the
    database, on its thread)."""

    secure: bool = False  # the node serves TLS: cookies are Secure
    session_mw: Handler | None = field(default=None, repr=False)
    signer: URLSafeTimedSerializer | None = field(default=None, repr=False)
    key: bytes = field(default=b"", repr=False)  # `cookie_key`, for what else a page signs (its own salt)


WEB = web.AppKey("web", WebState)


def cookie_key(node: Node) -> bytes:
    """The node's key for its session cookies, made on first use (in the encrypted
    database, so a copied data folder holds none)."""
    stored = node.store.meta(COOKIE_KEY_META)
    if stored is None:
        stored = base64.b64encode(secrets.token_bytes(32)).decode()
        with node.store.transaction():
            node.store.set_meta(COOKIE_KEY_META, stored)
    return base64.b64decode(stored)


async def starting(app: web.Application) -> Any:
    """cleanup_ctx: the cookie storage and the CSRF signer, from the node's key."""
    node, state = app[NODE], app[WEB]
    key = await in_db(node, cookie_key, node)
    storage = EncryptedCookieStorage(key, cookie_name=f"yimen_{node.node_id}", httponly=True,
                                     samesite="Strict", secure=state.secure, max_age=None)
    state.session_mw = aiohttp_session.session_middleware(storage)
    state.signer, state.key = URLSafeTimedSerializer(key, salt="yimen-csrf"), key
    yield


@web.middleware
async def session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp-session's middleware, made once the key is known; the sync routes (signed
    requests, no cookies) skip it."""
    mw = request.app[WEB].session_mw
    return await handler(request) if mw is None or not is_page(request) else await mw(request, handler)


async def browser(request: web.Request) -> aiohttp_session.Session:
    """This browser's session, with its CSRF secret."""
    s = await aiohttp_session.get_session(request)
    if CSRF not in s:
        s[CSRF] = secrets.token_urlsafe(16)
    return s


async def csrf_token(request: web.Request) -> str:
    """The token a form of this page carries."""
    return request.app[WEB].signer.dumps((await browser(request))[CSRF])


async def check_csrf(request: web.Request) -> None:
    """Refuse a POST that does not carry this browser session's token, or that comes
    from a page of another site."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        raise _refused()
    try:
        form = await request.post()
    except ValueError:  # a body that is no form (aiohttp's parsers raise ValueError and its subclasses)
        raise BadForm("提交的表单无法读取，未执行任何操作", "the form sent cannot be read; nothing was done") from None
    token = form.get(CSRF_FIELD)
    s = await aiohttp_session.get_session(request)
    node = request.app[NODE]
    try:
        secret = request.app[WEB].signer.loads(str(token or ""), max_age=node.config.session_idle_hours * 3600)
    except BadData:
        raise _refused() from None
    if CSRF not in s or not secrets.compare_digest(str(secret), s[CSRF]):
        raise _refused()


def _refused() -> CsrfRefused:
    return CsrfRefused("表单已过期或来源不明，未执行任何操作：请刷新页面后重试",
                       "the form has expired or came from elsewhere; nothing was done: reload the page and try again")


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST" and is_page(request):
        await check_csrf(request)
    return await handler(request)


def is_page(request: web.Request) -> bool:
    """A request for the pages (not the sync routes, which sign every request)."""
    return not request.path.startswith("/v1/")


async def clerk(request: web.Request) -> dict[str, Any]:
    """The signed-in clerk of this request (`sessions.NotSignedIn` if none: the pages'
    middleware sends the browser to the sign-in page)."""
    if CLERK in request:
        return request[CLERK]
    token = (await aiohttp_session.get_session(request)).get(TOKEN)
    if not token:
        raise sessions.NotSignedIn("尚未登录或登录已失效：请先登录", "not signed in, or the sign-in has ended: sign in")
    node = request.app[NODE]
    try:
        who = await in_db(node, _resolve, node, token)
    except sessions.NotSignedIn:
        (await aiohttp_session.get_session(request)).pop(TOKEN, None)
        raise sessions.NotSignedIn("尚未登录或登录已失效：请先登录", "not signed in, or the sign-in has ended: sign in") from None
    request[CLERK] = who
    return who


def _resolve(node: Node, token: str) -> dict[str, Any]:
    return clerks.get(node, sessions.resolve(node, token))


async def clerk_id(request: web.Request) -> str:
    return (await clerk(request))["clerk_id"]


async def admin(request: web.Request) -> dict[str, Any]:
    """The signed-in clerk, who must be an active admin (`clerks.NotAdmin` otherwise: 权限不足)."""
    who = await clerk(request)
    clerks.require_admin(who)
    return who


async def session_token(request: web.Request) -> str | None:
    """The token of this browser's sign-in (kept when its own clerk's password changes)."""
    return (await aiohttp_session.get_session(request)).get(TOKEN)


async def sign_in(request: web.Request, clerk_id: str, password: str) -> None:
    """Check the password and open a session for this browser (a new session: what the
    browser held before is dropped, so a planted session id gains nothing)."""
    node = request.app[NODE]
    await _keep(request, await in_db(node, sessions.sign_in, node, clerk_id, password))


async def sign_in_by_link(request: web.Request, link: str) -> None:
    """Use a one-time sign-in link (`sessions.sign_in_by_link`) for this browser."""
    node = request.app[NODE]
    await _keep(request, (await in_db(node, sessions.sign_in_by_link, node, link))[1])


async def _keep(request: web.Request, token: str) -> None:
    s = await aiohttp_session.new_session(request)
    s[TOKEN], s[CSRF] = token, secrets.token_urlsafe(16)


async def sign_out(request: web.Request) -> None:
    s = await aiohttp_session.get_session(request)
    token = s.get(TOKEN)
    if token:
        node = request.app[NODE]
        await in_db(node, sessions.sign_out, node, token)
    s.invalidate()
    request.pop(CLERK, None)
