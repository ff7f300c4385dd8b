"""The chain dashboard (同步), for the admin: what `yimen status` says of the links (each
peer's last contact, seals waiting each way, bytes moved), quarantine, catalog drift, the
last sync and reconcile outcomes, and two charts drawn on the server (`charts`): cases
accepted per day, and sync lag over time (`services.activity`). "立即核对" runs
`yimen reconcile` (`services.reconcile`) from the page."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup

from yimen.node.home import Node
from yimen.node.server.routes import NODE
from yimen.node.services import activity, audit, catalog, clerks, reconcile, status
from yimen.node.texts import duration_text, pick
from yimen.node.web import auth, charts
from yimen.node.web.i18n import lang_of
from yimen.node.web.render import db, render, see_other
from yimen.schema.errors import YimenError

routes = web.RouteTableDef()
RECONCILING: set[str] = set()  # the nodes (ids) reconciling now
DAYS = 30
DURATION_UNITS = (1, 60, 3600, 86400)  # the lag axis steps in seconds, minutes, hours or days
SAMPLES_SHOWN = 48  # rows of the lag table (the chart shows every sample kept)


def _dashboard(node: Node, clerk_id: str, lang: str) -> dict[str, Any]:
    """Everything the page shows, read on the database thread. Documents kept but not
    listed are a read in the audit trail: the reason can quote a field (a name)."""
    unlisted = status.unlisted(node, lang)
    if unlisted:
        audit.viewed(node, "quarantine_view", clerk_id, [u["doc_id"] for u in unlisted])
    return {"peers": status.peer_rows(node), "quarantine": status.quarantine_summary(node, lang),
            "unlisted": unlisted, "drift": catalog.drift(node),
            "sync": status.sync_outcome(node, lang), "reconcile": reconcile.last(node, lang),
            "per_day": activity.cases_per_day(node, DAYS), "lag": activity.lag_samples(node)}


def _cases_chart(per_day: list[dict[str, Any]], lang: str) -> Markup:
    counts = [d["cases"] for d in per_day]
    first, last, total, most = per_day[0]["day"], per_day[-1]["day"], sum(counts), max(counts)
    return charts.bar_chart(
        "cases-per-day", [d["day"][5:] for d in per_day], counts,
        pick(lang, f"近 {DAYS} 天每日受理办件数", f"Cases accepted per day, last {DAYS} days"),
        pick(lang, f"{first} 至 {last} 共受理 {total} 件，单日最多 {most} 件",
             f"{total} cases from {first} to {last}, at most {most} in a day"))


def _lag_chart(node: Node, lag: dict[str, list[tuple[int, int, int]]], lang: str) -> Markup:
    tz = node.clock().tzinfo
    worst = max((s[1] for rows in lag.values() for s in rows), default=0)
    n = sum(len(rows) for rows in lag.values())
    return charts.line_chart(
        "sync-lag", {peer: [(at, lag_s) for at, lag_s, _ in rows] for peer, rows in lag.items()},
        pick(lang, "同步延迟", "Sync lag"),
        pick(lang, f"最近 {activity.KEEP_DAYS} 天 {n} 个采样，最大延迟 {duration_text(lang, worst)}",
             f"{n} samples over the last {activity.KEEP_DAYS} days, the largest lag {duration_text(lang, worst)}"),
        x_fmt=lambda t: datetime.fromtimestamp(t, tz).strftime("%m-%d %H:%M"),
        y_fmt=lambda s: duration_text(lang, s), units=DURATION_UNITS, empty=pick(lang, "尚无采样", "no samples yet"))


def _samples(node: Node, lag: dict[str, list[tuple[int, int, int]]]) -> list[dict[str, Any]]:
    """The newest `SAMPLES_SHOWN` lag samples, as rows of the chart's table."""
    tz = node.clock().tzinfo
    rows = [{"peer": peer, "at": datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M"), "lag_s": lag_s,
             "waiting": waiting} for peer, samples in lag.items() for at, lag_s, waiting in samples]
    return sorted(rows, key=lambda r: r["at"], reverse=True)[:SAMPLES_SHOWN]


@routes.get("/chain")
async def chain_page(request: web.Request) -> web.Response:
    who = await auth.clerk(request)
    clerks.require_admin(who)
    node, lang = request.app[NODE], lang_of(request)
    d = await db(request, _dashboard, node, who["clerk_id"], lang)
    return await render(request, "chain.html", **d, cases_chart=_cases_chart(d["per_day"], lang),
                        lag_chart=_lag_chart(node, d["lag"], lang), samples=_samples(node, d["lag"]))


@routes.post("/chain/reconcile")
async def chain_reconcile(request: web.Request) -> web.Response:
    """Reconcile with the parent now; the outcome (a failure too) is recorded, and the
    dashboard shows it."""
    clerks.require_admin(await auth.clerk(request))
    node = request.app[NODE]
    if node.node_id not in RECONCILING:  # one at a time: a second click sees the first's outcome
        RECONCILING.add(node.node_id)
        try:
            with suppress(YimenError):  # recorded by `reconcile`: the dashboard says why
                await reconcile.reconcile(node)
        finally:
            RECONCILING.discard(node.node_id)
    raise see_other("/chain#reconcile")
