"""The supervision board (督办, admins only): the cases counted by status and by card
(`reports.counts`), the cases near or past their limit and the deferred materials past
their date (`reports.overdue`, as `yimen report overdue`), and a week's refusals by kind
with their reasons (`reports.refusals`, as `yimen report refusals`); each table, or the
whole board, as CSV or .xlsx with the CLI's writers. Every read or export of the lists
leaves the audit entries the CLI's reports leave."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from typing import Any

from aiohttp import web

from yimen.node.home import Node
from yimen.node.report_tables import (CASE_COLUMNS, LATE_COLUMNS, REFUSAL_COLUMNS, SHEETS, board_sheets, by_kind,
                                      overdue_rows)
from yimen.node.server.routes import NODE
from yimen.node.services import audit, clerks, reports
from yimen.node.tables import Sheet, write_book, write_csv, write_csv_sheets
from yimen.node.web import auth
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import attachment, db, render
from yimen.schema.case import REFUSALS
from yimen.schema.dates import parse_date

routes = web.RouteTableDef()
WHOLE = ("督办看板", "board")  # the file of every table
SHOWN = 100  # the page lists the most urgent of each kind of late work; a file holds them all
FORMATS = {"csv": ("text/csv", "utf-8"), "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", None)}


def _board(node: Node, clerk_id: str, day: date | None, fmt: str, tables: tuple[str, ...] = tuple(SHEETS)
           ) -> dict[str, Any]:
    """The board's tables `tables` (an admin's only), each list of cases read in the audit
    trail as the CLI's report records it (`fmt`: "page", "csv" or "xlsx")."""
    clerks.require_admin(clerks.get(node, clerk_id))
    board: dict[str, Any] = {}
    if "counts" in tables:
        board["counts"] = reports.counts(node)
    if "overdue" in tables:
        late = reports.overdue(node, limit=SHOWN + 1 if fmt == "page" else -1)  # one more: is there more?
        cases, materials = by_kind(late)
        board["more"] = len(cases) > SHOWN or len(materials) > SHOWN
        board["overdue"] = late if fmt != "page" else cases[:SHOWN] + materials[:SHOWN]
        audit.viewed(node, "report_overdue", clerk_id, [r["case_id"] for r in board["overdue"]], format=fmt)
    if "refusals" in tables:
        board["refusals"] = reports.refusals(node, day)
        audit.viewed(node, "report_refusals", clerk_id, [r["case_id"] for r in board["refusals"]["rows"]], format=fmt)
    return board


def _week(request: web.Request) -> date | None:
    """The day `?week=` names (its week is shown), or None for this week."""
    text = request.query.get("week", "").strip()[:32]
    return parse_date(text, "周报日期", "week") if text else None


@routes.get("/board")
async def board(request: web.Request) -> web.Response:
    clerk_id, day, lang = await auth.clerk_id(request), _week(request), lang_of(request)
    b = await db(request, _board, request.app[NODE], clerk_id, day, "page")
    late_cases, late_materials = by_kind(overdue_rows(lang, b["overdue"]))
    return await render(request, "board.html", **b, cases=late_cases, late=late_materials, shown=SHOWN,
                        week=request.query.get("week", "").strip()[:32], refusal_kinds=REFUSALS,
                        case_columns=CASE_COLUMNS, late_columns=LATE_COLUMNS, refusal_columns=REFUSAL_COLUMNS)


def _file(sheets: list[Sheet], fmt: str, lang: str) -> bytes:
    """The tables as one file: an .xlsx of a sheet each, a CSV of one table or of each
    under its name."""
    out = io.BytesIO()
    if fmt == "xlsx":
        write_book(out, sheets, lang)
    elif len(sheets) == 1:
        write_csv(out, sheets[0].rows, sheets[0].columns, lang)
    else:
        write_csv_sheets(out, sheets, lang)
    return out.getvalue()


@routes.get("/board/{table:[a-z]+}.{fmt:[a-z]+}")
async def export(request: web.Request) -> web.Response:
    table, fmt = request.match_info["table"], request.match_info["fmt"]
    if fmt not in FORMATS or (table not in SHEETS and table != "export"):
        raise web.HTTPNotFound()
    clerk_id, day, lang = await auth.clerk_id(request), _week(request), lang_of(request)
    tables = tuple(SHEETS) if table == "export" else (table,)
    b = await db(request, _board, request.app[NODE], clerk_id, day, fmt, tables)
    body = await asyncio.to_thread(_file, board_sheets(b, lang), fmt, lang)  # not on the loop: a city's list is long
    zh, en = WHOLE if table == "export" else SHEETS[table]
    stem = f"{request.app[NODE].node_id}-{request.app[NODE].clock().date().isoformat()}.{fmt}"
    return attachment(body, f"{zh if lang == 'zh' else en}-{stem}", f"{en}-{stem}", *FORMATS[fmt])
