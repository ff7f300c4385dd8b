"""The back office's inbox (待办): the cases whose current step waits for a decision at
this node, for the departments the clerk holds (`casework.clerk_inbox`, as `yimen case
inbox` lists them), each with an approve / reject form (`cases.act`) and, for a step of
several departments, who has decided already. Every read of the list leaves an audit
entry, as the CLI's does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import audit, cases, casework
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import MAX_TYPED, db, form, render, see_other
from yimen.schema.errors import YimenError

routes = web.RouteTableDef()
DECISIONS = ("approve", "reject")


def _inbox(node: Node, clerk_id: str, department: str) -> dict[str, Any]:
    """The clerk's inbox by department, read in the audit trail."""
    by = casework.clerk_inbox(node, clerk_id, department)
    audit.viewed(node, "case_inbox", clerk_id, [r["case_id"] for rows in by.values() for r in rows],
                 department=department or None)
    return {"departments": list(by.items())}


async def _page(request: web.Request, department: str = "", status: int = 200, **ctx: Any) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    shown = await db(request, _inbox, request.app[NODE], clerk_id, department)
    return await render(request, "inbox.html", status=status,
                        **{"department": department, "error": "", "failed": (), "reason": "", **ctx, **shown})


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.Response:
    return await _page(request, request.query.get("department", "").strip()[:64])


@routes.post("/inbox/decide")
async def decide(request: web.Request) -> web.Response:
    clerk_id, data = await auth.clerk_id(request), await form(request)
    case_id, action, department, shown = (str(data.get(k, "")).strip()[:64] for k in
                                          ("case_id", "action", "department", "shown"))
    reason = str(data.get("reason", ""))[:MAX_TYPED]
    if action not in DECISIONS:  # no form of the page sends another action
        raise web.HTTPBadRequest()
    try:
        await db(request, cases.act, request.app[NODE], case_id, action, clerk_id, reason, department or None)
    except FORBIDDEN:
        raise  # 权限不足, as a page of its own
    except YimenError as e:  # a reason missing, a step decided meanwhile
        return await _page(request, shown, status=400, error=e.text(lang_of(request)),
                           failed=(case_id, department), reason=reason)
    raise see_other(f"/inbox?department={quote(shown)}" if shown else "/inbox")
