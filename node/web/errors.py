"""Every failure of a page is a page: one sentence in the page's language, never a
traceback, and the right status.

- not signed in (or the sign-in ended): a GET goes to the sign-in page, which comes back
  here afterwards; a POST is answered with the sign-in page (what it carried is lost,
  and the page says so);
- a role the clerk lacks, not an admin, a deactivated clerk: 403, 权限不足 with the reason;
- `auth.CsrfRefused`: 403, nothing done;
- any other Yimen error: 400 with its sentence (a form that can show it beside what the
  clerk typed catches it itself, see `pages.forms`);
- no such page, or no such case, clerk or item as its address names: 404; a database error: 503; anything unexpected: 500 with an error id
  the log holds.
Requests of the sync routes (`/v1/...`) pass through to the JSON middleware."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

from aiohttp import web

from yimen.node.errors import CONTROL_FLOW, NodeError, RoleMissing, UnknownCase, UnknownClerk, UnknownItem
from yimen.node.services import clerks, sessions
from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import render
from yimen.schema.errors import YimenError
from yimen.sync.store import driver, wrap

log = logging.getLogger("yimen.web")
FORBIDDEN = (auth.CsrfRefused, RoleMissing, clerks.NotAdmin, clerks.ClerkInactive)


class LinkGone(NodeError):
    """A signed link of a page (a second screen's, say) that is not ours, or too old."""

    code = "link_gone"


NOT_FOUND = (UnknownCase, UnknownClerk, UnknownItem, LinkGone)  # what a page's address names is not here


async def error_page(request: web.Request, status: int, zh: str, en: str, **extra: object) -> web.Response:
    lang = lang_of(request)
    return await render(request, "error.html", status=status, message=zh if lang == "zh" else en,
                        status_code=status, **extra)


@web.middleware
async def pages(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    if not auth.is_page(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise  # a redirect
        if e.status == 404:
            return await error_page(request, 404, "没有这个页面", "no such page")
        if e.status == 413:
            return await error_page(request, 413, "上传的文件太大", "the upload is too large")
        return await error_page(request, e.status, f"请求无效（HTTP {e.status}）", f"bad request (HTTP {e.status})")
    except sessions.NotSignedIn as e:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}") from None
        return await render(request, "signin.html", status=401, error=e.text(lang_of(request)), next="/")
    except FORBIDDEN as e:
        zh = e.zh if e.zh.startswith("权限不足") or isinstance(e, auth.CsrfRefused) else f"权限不足：{e.zh}"
        en = e.en if e.en.startswith("permission") or isinstance(e, auth.CsrfRefused) else f"permission denied: {e.en}"
        return await error_page(request, 403, zh, en)
    except NOT_FOUND as e:
        return await error_page(request, 404, e.zh, e.en)
    except YimenError as e:
        return await error_page(request, 400, e.zh, e.en)
    except driver.Error as e:
        err = wrap(e)
        log.warning("%s %s: %s", request.method, request.path, e)
        return await error_page(request, 503, err.zh, err.en)
    except CONTROL_FLOW:
        raise
    except BaseException:  # noqa: BLE001 (the boundary: logged, one sentence)
        ref = secrets.token_hex(4)
        log.exception("page %s %s failed (error id %s)", request.method, request.path, ref)
        return await error_page(request, 500, f"出现意外错误，节点日志中的错误编号为 {ref}",
                                f"unexpected error; the node's log holds error id {ref}")
