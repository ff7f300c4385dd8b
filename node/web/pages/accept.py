"""The accept form (受理) of the window, what `yimen case accept` and `yimen case
not-accept` do: pick an item of the clerk's departments by code, name or pinyin initials
(`catalog.acceptable`), read its guide, type the applicant's ID number (checked as it is
typed, `/accept/check-id`), name and phone, and go through the materials: each handed in
(its scan uploaded and fingerprinted, kept in My Space if the applicant agrees), taken
from the applicant's space (`space_reuse.offered`, shown once the ID number is known),
deferred against a signed commitment (容缺), or, if optional, not brought. The form
accepts (`cases.accept`; a second open case of the item asks for a confirmation) or
refuses (`cases.not_accept`, with a reason), then goes to the paper to print.

Without script every step is a form (the search a GET, the space a "read My Space"
button); with htmx the items and the ID number's check come as the clerk types."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

from aiohttp import web
from multidict import MultiDictProxy

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import cases, catalog, clerks, space_reuse
from yimen.node.web import auth
from yimen.node.web.errors import FORBIDDEN
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import MAX_TYPED, db, form, render, see_other
from yimen.schema.errors import YimenError
from yimen.schema.idnumber import parse_id_number

routes = web.RouteTableDef()
MAX_TEXT = 64  # a query, an ID number, a name, a phone
TYPED = ("id_number", "name", "phone", "reason")
TICKED = ("commitment", "keep", "duplicate_ok")


# -- picking the item -------------------------------------------------------------------------
def _items(node: Node, clerk_id: str, q: str) -> list[dict[str, Any]]:
    return catalog.acceptable(node, clerks.get(node, clerk_id)["roles"], q)


@routes.get("/accept")
async def pick(request: web.Request) -> web.Response:
    """The items this clerk may accept, found by `q`; the list alone for htmx, and the
    item's form at once when a search (sent with Enter) finds one item."""
    clerk_id = await auth.clerk_id(request)
    q = request.query.get("q", "").strip()[:MAX_TEXT]
    rows = await db(request, _items, request.app[NODE], clerk_id, q)
    if request.headers.get("HX-Request"):
        return await render(request, "accept_items.html", q=q, rows=rows)
    if q and len(rows) == 1:
        raise see_other(f"/accept/{rows[0]['code']}")
    return await render(request, "accept_pick.html", q=q, rows=rows)


# -- the ID number as it is typed -------------------------------------------------------------
def _id_check(node: Node, id_number: str) -> dict[str, Any] | None:
    """The verdict on a typed ID number (None if nothing typed): ok with what it encodes,
    or the exact reason it is not one."""
    if not id_number:
        return None
    try:
        info = parse_id_number(id_number, today=node.clock().date())
    except YimenError as e:
        return {"ok": False, "zh": e.zh, "en": e.en}
    return {"ok": True, "number": info.number, "birth": info.birth_date.isoformat(), "sex": info.sex}


def _offers(node: Node, clerk_id: str, check: dict[str, Any] | None, item: Any) -> dict[str, dict[str, Any]]:
    """The space's offers once the ID number typed is one."""
    return space_reuse.offered(node, clerk_id, check["number"], item) if check and check["ok"] else {}


def _checked(node: Node, clerk_id: str, id_number: str, code: str) -> dict[str, Any]:
    check = _id_check(node, id_number)
    if not code:
        return {"check": check, "rows": None}
    item = catalog.acceptable_item(node, clerks.get(node, clerk_id), code)
    return {"check": check, "rows": _rows(item, _offers(node, clerk_id, check, item), {})}


@routes.get("/accept/check-id")
async def check_id(request: web.Request) -> web.Response:
    """A fragment: the ID number's verdict, and with `code` the item's materials that the
    applicant's space holds (swapped into the form out of band)."""
    clerk_id = await auth.clerk_id(request)
    id_number, code = (request.query.get(k, "").strip()[:MAX_TEXT] for k in ("id_number", "code"))
    found = await db(request, _checked, request.app[NODE], clerk_id, id_number, code)
    return await render(request, "accept_check.html", **found)


# -- the form -----------------------------------------------------------------------------------
def _rows(item: Any, offers: Mapping[str, dict[str, Any]], chosen: Mapping[str, str]) -> list[dict[str, Any]]:
    """The materials checklist: each material with its offer from My Space and how it came
    (what the clerk chose, else My Space when it holds it, else nothing for a material that
    must be ticked and "not brought" for an optional one)."""
    out = []
    for i, m in enumerate(item.materials):
        offer = offers.get(m.name)
        how = chosen.get(f"how{i}") or ("space" if offer else "none" if m.requirement == "optional" else "")
        out.append({"i": i, "name": m.name, "requirement": m.requirement, "doc_type": m.doc_type, "offer": offer,
                    "deferrable": m.requirement == "deferrable" and not item.immediate,
                    "how": "" if how == "space" and not offer else how, "due": chosen.get(f"due{i}", "")})
    return out


def _form(node: Node, clerk_id: str, code: str, typed: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows: the item's guide, the check of the ID number typed, the
    checklist with the space's offers (looked up once the ID number is one)."""
    item = catalog.acceptable_item(node, clerks.get(node, clerk_id), code)
    check = _id_check(node, typed.get("id_number", ""))
    today = node.clock().date()
    deadline = None if item.immediate else node.calendar.add_working_days(today, item.time_limit_days)
    return {"item": catalog.show(node, code), "rows": _rows(item, _offers(node, clerk_id, check, item), typed),
            "check": check,
            "deadline": deadline.isoformat() if deadline else "", "today": today.isoformat()}


def _typed(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the clerk typed and ticked, bounded, to show again."""
    out: dict[str, Any] = {k: str(data.get(k, "")).strip()[:MAX_TYPED if k == "reason" else MAX_TEXT] for k in TYPED}
    out.update({k: bool(data.get(k)) for k in TICKED})
    out.update({k: str(v)[:MAX_TEXT] for k, v in data.items() if k.startswith(("how", "due")) and isinstance(v, str)})
    return out


async def _page(request: web.Request, code: str, typed: Mapping[str, Any], status: int = 200,
                **ctx: Any) -> web.Response:
    clerk_id = await auth.clerk_id(request)
    shown = await db(request, _form, request.app[NODE], clerk_id, code, typed)
    check = shown["check"]
    focus = "id_number" if not check or not check["ok"] else "name" if not typed.get("name") else ""
    return await render(request, "accept_form.html", status=status, code=code, typed=typed, focus=focus,
                        **{"error": "", "duplicates": [], "rescan": False, **ctx, **shown})


@routes.get("/accept/{code}")
async def accept_form(request: web.Request) -> web.Response:
    return await _page(request, request.match_info["code"], _typed({}))


# -- accepting, refusing --------------------------------------------------------------------------
def _scans(data: MultiDictProxy, item: Any, folder: Path) -> dict[str, Path]:
    """The scans uploaded for materials handed in, written to `folder` (material name -> file)."""
    out = {}
    for i, m in enumerate(item.materials):
        up = data.get(f"scan{i}")
        if data.get(f"how{i}") == "provided" and isinstance(up, web.FileField) and up.filename:
            path = folder / f"{i}-{_file_name(up.filename)}"
            with open(path, "wb") as f:
                up.file.seek(0)
                while block := up.file.read(1 << 16):
                    f.write(block)
            out[m.name] = path
    return out


def _file_name(name: str) -> str:
    """An uploaded file's name as a file here may be named (the name it is kept under): its
    last part, printable characters only, its last 60 (a name's limit is 255 bytes)."""
    safe = "".join(c for c in Path(name.replace("\\", "/")).name if c.isprintable())[-60:]
    return safe if safe.strip(". ") else "scan"


def _application(item: Any, typed: Mapping[str, Any], scans: Mapping[str, Path]) -> cases.Application:
    """The form as `yimen case accept` would be given it. Each material's `how` is
    "provided" (handed in, a scan's SHA-256 if uploaded), "deferred" (容缺: a due date or
    the deadline), "space" or "none": those are the service's to find (`space_reuse.offers`)
    or to leave missing."""
    provided, deferred = {}, {}
    for i, m in enumerate(item.materials):
        how = typed.get(f"how{i}")
        if how == "provided":
            provided[m.name] = cases.file_sha256(scans[m.name], m.name) if m.name in scans else None
        elif how == "deferred":
            deferred[m.name] = typed.get(f"due{i}") or None
    return cases.Application(item.code, typed["id_number"], typed["name"], provided, deferred, typed["phone"],
                             commitment_signed=typed["commitment"])


def _accept(node: Node, clerk_id: str, code: str, typed: Mapping[str, Any], data: MultiDictProxy) -> dict[str, Any]:
    item = catalog.acceptable_item(node, clerks.get(node, clerk_id), code)
    with tempfile.TemporaryDirectory() as d:  # 0700, removed at once
        scans = _scans(data, item, Path(d))
        app = _application(item, typed, scans)
        return cases.accept(node, clerk_id, app, typed["duplicate_ok"], True, scans if typed["keep"] else {})


@routes.post("/accept/{code}")
async def accept(request: web.Request) -> web.Response:
    """The form's buttons: accept (the default: Enter), read My Space (no script), refuse."""
    code, clerk_id = request.match_info["code"], await auth.clerk_id(request)
    data = await form(request)
    typed, do = _typed(data), str(data.get("do", "accept"))
    if do == "lookup":
        return await _page(request, code, typed)
    rescan = any(isinstance(v, web.FileField) and v.filename for v in data.values())
    node = request.app[NODE]
    try:
        if do == "refuse":
            row = await db(request, cases.not_accept, node, clerk_id, code, typed["id_number"], typed["name"],
                           typed["reason"])
        else:
            row = await db(request, _accept, node, clerk_id, code, typed, data)
    except FORBIDDEN:
        raise  # 权限不足, as a page of its own
    except cases.DuplicateCase as e:
        return await _page(request, code, typed, 400, duplicates=e.open_cases, rescan=rescan)
    except YimenError as e:
        return await _page(request, code, typed, 400, error=e.text(lang_of(request)), rescan=rescan)
    raise see_other(f"/cases/{row['case_id']}/paper/{'refusal' if do == 'refuse' else 'receipt'}")

