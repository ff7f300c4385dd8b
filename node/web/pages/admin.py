"""The admin's pages (管理): what `yimen clerk`, `invite`, `admit`, `enroll`, `key admit`,
`revoke`, `cert revoke` and `audit` do, for the admin signed in at the window. Every page
asks `auth.admin` first (权限不足 otherwise), and every change goes through the same
service as the CLI's, naming the admin (`by`), which writes its audit entry.

- `/admin/clerks`: the clerks, adding one (a first password typed, or made and shown
  once), and per clerk `/admin/clerks/{id}`: roles, a new password, unlock, deactivate,
  a one-time sign-in link (shown once).
- `/admin/enrollment`: an invitation code for a child (shown once, with its QR code), a
  child's pasted request file admitted (or its key rotation certified), the answer to
  carry back; this node's own offline enrollment (`yimen enroll --request / --answer`);
  its certificate chain and the trust list it holds.
- `/admin/revoke`: a descendant's node key or an e-certificate, with a reason and a
  ticked confirmation.
- `/admin/audit`: the audit trail searched as `yimen audit show` filters it, 50 a page,
  newest first (the read is itself recorded), and `yimen audit verify`'s verdict."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup
from multidict import MultiDictProxy

from yimen.node import texts
from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import audit, clerks, enrollment, sessions, trust
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, form, page_number, render, see_other, small_int
from yimen.schema.errors import YimenError

routes = web.RouteTableDef()
PAGE = 50
MAX_PASTED = enrollment.MAX_FILE
DONE = {  # the sentence after a change, as the CLI says it
    "added": ("已添加窗口人员 {}", "added clerk {}"), "roles": ("已调整 {} 的岗位", "changed the roles of {}"),
    "password": ("已为 {} 设置新密码", "new password set for {}"), "unlock": ("已解锁 {}", "unlocked {}"),
    "deactivate": ("已停用窗口人员 {}", "deactivated clerk {}"), "activate": ("已启用窗口人员 {}", "activated clerk {}"),
}
NOT_CONFIRMED = ("请勾选确认框后再吊销：吊销无法撤回", "tick the confirmation box to revoke: a revocation cannot be undone")


def _text(data: MultiDictProxy, key: str, limit: int = 200) -> str:
    return str(data.get(key, "")).strip()[:limit]


async def _admin_id(request: web.Request) -> str:
    return (await auth.admin(request))["clerk_id"]


async def _refused(request: web.Request, page: Callable[..., Any], e: YimenError, **ctx: Any) -> web.Response:
    """A refused form: its page again (400) with the service's sentence and what was typed."""
    if isinstance(e, FORBIDDEN):
        raise e
    return await page(request, status=400, error=e.text(lang_of(request)), **ctx)


@routes.get("/admin")
async def admin_home(request: web.Request) -> web.Response:
    """The menu's entry: the first admin page (a language asked for goes along)."""
    await auth.admin(request)
    raise see_other(str(request.rel_url.with_path("/admin/clerks").with_query(request.query)))


# -- clerks ---------------------------------------------------------------------------------------
def _shown(node: Node, c: dict[str, Any]) -> dict[str, Any]:
    return {**c, "locked": clerks.locked(node, c)}


def _one(node: Node, clerk_id: str) -> dict[str, Any]:
    return _shown(node, clerks.get(node, clerk_id))


def _clerk_rows(node: Node) -> list[dict[str, Any]]:
    return [_shown(node, c) for c in clerks.all_clerks(node)]


def _done(request: web.Request, clerk_id: str) -> str:
    """The sentence of the change `?done=` names, for a clerk of this node."""
    return texts.pick(lang_of(request), *DONE.get(request.query.get("done", ""), ("", ""))).format(clerk_id)


async def _clerks(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    rows = await db(request, _clerk_rows, request.app[NODE])
    named = request.query.get("clerk", "")
    base = {"rows": rows, "roles": clerks.ROLES, "error": "", "password": "", "added": "",
            "typed": {"clerk_id": "", "name": "", "roles": []},
            "notice": _done(request, named) if any(r["clerk_id"] == named for r in rows) else ""}
    return await render(request, "admin_clerks.html", status=status, **{**base, **ctx})


@routes.get("/admin/clerks")
async def clerks_page(request: web.Request) -> web.Response:
    await auth.admin(request)
    return await _clerks(request)


def _add(node: Node, by: str, clerk_id: str, name: str, roles: list[str], password: str) -> tuple[str, str]:
    """Add the clerk with the password typed, or with one made here (returned, to show once)."""
    made = "" if password else clerks.new_password(clerk_id, name)
    return clerks.add(node, clerk_id, name, roles, password or made, by=by)["clerk_id"], made


@routes.post("/admin/clerks")
async def clerk_add(request: web.Request) -> web.Response:
    by, data = await _admin_id(request), await form(request)
    typed = {"clerk_id": _text(data, "clerk_id", 64), "name": _text(data, "name", 64),
             "roles": [str(r) for r in data.getall("roles", [])][:len(clerks.ROLES)]}
    try:
        clerk_id, made = await db(request, _add, request.app[NODE], by, typed["clerk_id"], typed["name"],
                                  typed["roles"], str(data.get("password", ""))[:clerks.MAX_PASSWORD + 1])
    except YimenError as e:
        return await _refused(request, _clerks, e, typed=typed)
    if made:  # shown once, on this answer only: it is kept nowhere
        return await _clerks(request, password=made, added=clerk_id,
                             notice=texts.pick(lang_of(request), *DONE["added"]).format(clerk_id))
    raise see_other(f"/admin/clerks?done=added&clerk={quote(clerk_id, safe='')}")


async def _clerk(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    clerk_id = request.match_info["clerk_id"]
    c = await db(request, _one, request.app[NODE], clerk_id)
    base = {"c": c, "roles": clerks.ROLES, "wanted": c["roles"], "error": "", "password": "", "link": "",
            "minutes": "60", "max_minutes": sessions.LINK_MINUTES[1], "notice": _done(request, clerk_id)}
    return await render(request, "admin_clerk.html", status=status, **{**base, **ctx})


@routes.get("/admin/clerks/{clerk_id}")
async def clerk_page(request: web.Request) -> web.Response:
    await auth.admin(request)
    return await _clerk(request)


def _change(node: Node, by: str, clerk_id: str, change: str, wanted: list[str], password: str,
            keep: str | None) -> str:
    """One change to a clerk by admin `by`; a password made here is returned (to show once)."""
    if change == "roles":  # the roles ticked: those given, the others taken away
        clerks.set_roles(node, clerk_id, wanted, [r for r in clerks.get(node, clerk_id)["roles"] if r not in wanted],
                         by=by)
    elif change == "password":
        made = "" if password else clerks.new_password(clerk_id, clerks.get(node, clerk_id)["name"])
        clerks.set_password(node, clerk_id, password or made, by=by, keep_session=keep)
        return made
    elif change == "unlock":
        clerks.unlock(node, clerk_id, by=by)
    else:
        clerks.set_active(node, clerk_id, change == "activate", by=by)
    return ""


@routes.post("/admin/clerks/{clerk_id}/{change:(roles|password|unlock|deactivate|activate)}")
async def clerk_change(request: web.Request) -> web.Response:
    by, data = await _admin_id(request), await form(request)
    clerk_id, change = request.match_info["clerk_id"], request.match_info["change"]
    wanted = [str(r) for r in data.getall("roles", [])][:len(clerks.ROLES)]
    keep = await auth.session_token(request) if clerk_id == by else None  # an admin's own sign-in stays
    try:
        made = await db(request, _change, request.app[NODE], by, clerk_id, change, wanted,
                        str(data.get("password", ""))[:clerks.MAX_PASSWORD + 1], keep)
    except YimenError as e:
        return await _refused(request, _clerk, e, **({"wanted": wanted} if change == "roles" else {}))
    if made:
        return await _clerk(request, password=made, notice=texts.pick(lang_of(request), *DONE["password"]).format(clerk_id))
    raise see_other(f"/admin/clerks/{quote(clerk_id, safe='')}?done={change}")


@routes.post("/admin/clerks/{clerk_id}/link")
async def clerk_link(request: web.Request) -> web.Response:
    """`yimen clerk link`: a one-time sign-in link for the clerk's browser, shown once (with its QR code)."""
    by, data = await _admin_id(request), await form(request)
    clerk_id, minutes = request.match_info["clerk_id"], _text(data, "minutes", 8)
    try:
        made = await db(request, sessions.make_link, request.app[NODE], clerk_id, by,
                        small_int(minutes))
    except YimenError as e:
        return await _refused(request, _clerk, e, minutes=minutes)
    url = f"{request.scheme}://{request.host}/signin/link/{made['token']}"
    return await _clerk(request, link=url, link_qr=qr_svg(url), link_until=made["expires_at"], minutes=minutes)


# -- enrollment and the trust list ----------------------------------------------------------------
def _day(unix: int) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).date().isoformat()


def _trust(node: Node) -> dict[str, Any]:
    """This node's certificate chain (its own first) and the keys of its trust list."""
    chain = [{"region": c.region, "name": c.name, "key_id": c.key_id.hex(), "issuer": c.issuer,
              "root": c.self_issued, "from": _day(c.not_before), "until": _day(c.not_after)}
             for c in enrollment.chain(node)]
    return {"chain": chain, "keys": trust.known_keys(node)}


async def _enrollment(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    shown = await db(request, _trust, request.app[NODE])
    base = {"error": "", "notice": "", "invited": None, "qr": "", "answer": "", "answer_for": "", "region": "",
            "hours": "72", "pasted": "", "kind": "enroll", "max_hours": enrollment.MAX_INVITE_HOURS, "own": "",
            "address": "", "answer_pasted": "", "enrolled": bool(shown["chain"]), **shown}
    return await render(request, "admin_enrollment.html", status=status, **{**base, **ctx})


@routes.get("/admin/enrollment")
async def enrollment_page(request: web.Request) -> web.Response:
    await auth.admin(request)
    return await _enrollment(request)


def qr_svg(text: str) -> Markup:
    """`text` as a QR code, an inline SVG for the page (segno; no script, no style attribute)."""
    import segno  # only the admin's pages draw one: not loaded for the others
    return Markup(segno.make(text, error="m", micro=False).svg_inline(scale=4, svgclass="qr", lineclass=None, omitsize=True))


@routes.post("/admin/enrollment/invite")
async def invite(request: web.Request) -> web.Response:
    by, data = await _admin_id(request), await form(request)
    region, hours = _text(data, "region", 32), _text(data, "hours", 8)
    try:
        inv = await db(request, enrollment.invite, request.app[NODE], region,
                       small_int(hours), by)
    except YimenError as e:
        return await _refused(request, _enrollment, e, region=region, hours=hours)
    return await _enrollment(request, invited=inv, qr=qr_svg(inv["code"]))


def _admit(node: Node, by: str, kind: str, pasted: str) -> dict[str, Any]:
    """A child's request file, pasted: an enrollment admitted (`yimen admit`) or a key
    rotation certified (`yimen key admit`); the answer for the child."""
    if kind == "rotate":
        return trust.certify_rotation(node, enrollment.parse(pasted, ("密钥更换申请", "key rotation request")), by=by)
    return enrollment.admit(node, enrollment.parse(pasted, ("注册申请", "enrollment request")), by=by)


@routes.post("/admin/enrollment/admit")
async def admit(request: web.Request) -> web.Response:
    by, data = await _admin_id(request), await form(request)
    kind, pasted = ("rotate" if data.get("kind") == "rotate" else "enroll"), str(data.get("request", ""))[:MAX_PASTED]
    try:
        answer = await db(request, _admit, request.app[NODE], by, kind, pasted)
    except YimenError as e:
        return await _refused(request, _enrollment, e, pasted=pasted, kind=kind)
    text = enrollment.dumps(answer)
    return await _enrollment(request, answer=text, answer_for=answer["child"], kind=kind,
                             download=base64.b64encode(text.encode()).decode())


@routes.post("/admin/enrollment/request")
async def own_request(request: web.Request) -> web.Response:
    """`yimen enroll --request`: this node's enrollment request, to carry to the parent's admin."""
    await auth.admin(request)
    address = _text(await form(request), "address", enrollment.MAX_ADDRESS)
    text = enrollment.dumps(await db(request, enrollment.request, request.app[NODE], address))
    return await _enrollment(request, own=text, own_download=base64.b64encode(text.encode()).decode(), address=address)


def _apply(node: Node, by: str, pasted: str) -> list[str]:
    return enrollment.apply_answer(node, enrollment.parse(pasted, ("注册答复", "enrollment answer")), by)


@routes.post("/admin/enrollment/answer")
async def own_answer(request: web.Request) -> web.Response:
    """`yimen enroll --answer`: the parent's answer, pasted, applied here."""
    by, data = await _admin_id(request), await form(request)
    pasted = str(data.get("answer", ""))[:MAX_PASTED]
    try:
        learnt = await db(request, _apply, request.app[NODE], by, pasted)
    except YimenError as e:
        return await _refused(request, _enrollment, e, answer_pasted=pasted)
    return await _enrollment(request, notice=texts.pick(lang_of(request), *texts.enrolled(learnt)))


# -- revocation -----------------------------------------------------------------------------------
async def _revoke(request: web.Request, status: int = 200, **ctx: Any) -> web.Response:
    keys = await db(request, trust.known_keys, request.app[NODE])
    base = {"error": "", "notice": "", "which": "", "target": "", "reason": "", "keys": keys}
    return await render(request, "admin_revoke.html", status=status, **{**base, **ctx})


@routes.get("/admin/revoke")
async def revoke_page(request: web.Request) -> web.Response:
    await auth.admin(request)
    return await _revoke(request)


def _revoked(node: Node, by: str, which: str, target: str, reason: str) -> tuple[str, str]:
    """Revoke a node key (`yimen revoke`) or an e-certificate (`yimen cert revoke`); what
    was done, as the CLI says it."""
    if which == "key":
        return texts.key_revoked(trust.revoke(node, target, reason, by=by))
    from yimen.node.services import credentials  # cwt and cbor2: only where a certificate is revoked
    return texts.cert_revoked(credentials.revoke(node, target, reason, by))


@routes.post("/admin/revoke/{which:(key|cert)}")
async def revoke(request: web.Request) -> web.Response:
    by, data = await _admin_id(request), await form(request)
    which, target, reason = request.match_info["which"], _text(data, "target", 64), _text(data, "reason", 500)
    typed = {"which": which, "target": target, "reason": reason}
    lang = lang_of(request)
    if data.get("confirm") != "yes":
        return await _revoke(request, status=400, error=texts.pick(lang, *NOT_CONFIRMED), **typed)
    try:
        done = await db(request, _revoked, request.app[NODE], by, which, target, reason)
    except YimenError as e:
        return await _refused(request, _revoke, e, **typed)
    return await _revoke(request, notice=texts.pick(lang, *done))


# -- the audit trail ------------------------------------------------------------------------------
FILTERS = ("case", "id_number", "clerk", "action", "since", "until")


async def _audit(request: web.Request, verdict: tuple[bool, str] | None = None) -> web.Response:
    by = await _admin_id(request)
    f = audit.Filter(**{k: request.query.get(k, "").strip()[:64] for k in FILTERS})
    page = page_number(request)
    ctx = {"f": f, "page": page, "rows": [], "total": 0, "pages": 1, "error": "", "verdict": verdict,
           "actions": sorted(texts.AUDIT_ZH), "query": {k: v for k, v in vars(f).items() if v}}
    try:
        rows, total = await db(request, audit.show, request.app[NODE], by, f, PAGE, (page - 1) * PAGE, True)
    except YimenError as e:  # a date that is none, an ID number that is none
        return await render(request, "admin_audit.html", status=400, **{**ctx, "error": e.text(lang_of(request))})
    return await render(request, "admin_audit.html", **{**ctx, "rows": rows, "total": total,
                                                        "pages": max(1, -(-total // PAGE))})


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    return await _audit(request)


def _verify(node: Node) -> tuple[bool, tuple[str, str]]:
    v = audit.verify(node)
    broken = texts.audit_broken(v)
    return broken is None, broken or texts.audit_intact(v)


@routes.get("/admin/audit/verify")
async def audit_verify(request: web.Request) -> web.Response:
    await auth.admin(request)
    ok, sentence = await db(request, _verify, request.app[NODE])
    return await _audit(request, (ok, texts.pick(lang_of(request), *sentence)))
