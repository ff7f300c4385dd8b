"""What a node knows of itself and its peers: counts, per-peer traffic and positions,
quarantine, and what was wrong with a peer's word on positions (see `yimen.sync.positions`:
an impossible acknowledgement, a restore noticed, a restored node waiting for its
parent's numbers)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from yimen.sync.store import Store
from yimen.node.audit import exchange
from yimen.node.home import Node
from yimen.node.services import catalog
from yimen.personal_space import documents
from yimen.schema.errors import YimenError
from yimen.sync import positions

# The sync loop's last outcome, in `meta` so that another process (`yimen status`) sees it.
SYNC_OK, SYNC_ERROR, SYNC_ERROR_AT = "sync:last_ok", "sync:last_error", "sync:last_error_at"


def local_time(node: Node, at: str | None) -> str | None:
    """`at` (ISO 8601 with an offset) in the node's own time zone, formatted as case times
    are: rows written by an engine stamping UTC (an older Yimen, a test's engine) are shown
    in the clerk's time like every other. Text that is no such time is left as it is."""
    if not at:
        return at
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return at
    if moment.tzinfo is None:
        return at
    return moment.astimezone(node.clock().tzinfo).isoformat(timespec="seconds")


def _localised(node: Node, rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{**r, **{k: local_time(node, r[k]) for k in keys if k in r}} for r in rows]


def peer_rows(node: Node) -> list[dict[str, Any]]:
    """Per peer: last contact (node time), seals waiting each way (ours it has not
    acknowledged; its, received and not yet applied here), traffic, seals refused."""
    store = node.store
    head = store.feed.head()
    unapplied = store.feed.backlog_by_sender()
    return [{**{k: r[k] for k in ("peer", "recv_upto", "seals_in", "seals_out", "bytes_in", "bytes_out")},
             "last_contact": local_time(node, r["last_contact"]),
             "feed_not_acked": head - r["sent_upto"], "unapplied": unapplied.get(r["peer"], 0),
             "quarantined": store.quarantine.count(r["peer"])}
            for r in store.peers.rows()]


def _in_lang(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Each row's `reason` in `lang`: the Chinese text where one was stored (a row an older
    Yimen kept has only the English one, which is then all there is to show)."""
    return [{**{k: v for k, v in r.items() if k != "reason_zh"},
             "reason": (r.get("reason_zh") or r["reason"]) if lang == "zh" else r["reason"]} for r in rows]


def quarantine(node: Node, lang: str = "en") -> list[dict[str, Any]]:
    """Refused seals (reasons in `lang`), then documents kept but listed nowhere (`doc_id`,
    `kind`, `scope`, `reason`: see `projections`)."""
    return _in_lang(_localised(node, node.store.quarantine.rows(), "received_at"), lang) + refused(node.store)


def quarantine_summary(node: Node, lang: str = "en") -> list[dict[str, Any]]:
    """Every seal refused and not gone in since, counted per peer and reason (in `lang`;
    the rows kept in full are bounded per peer, these counts are not)."""
    return _in_lang(_localised(node, node.store.quarantine.summary(), "last_at"), lang)


def record_sync(node: Node, error: YimenError | None) -> None:
    """Note that a sync round succeeded now (`error` None) or failed with `error`, by the
    node's clock. The error is kept in both languages: the reader chooses."""
    with node.store.transaction():
        if error is None:
            node.store.set_meta(SYNC_OK, node.now())
        else:
            node.store.set_meta(SYNC_ERROR, json.dumps({"zh": error.zh, "en": error.en}, ensure_ascii=False))
            node.store.set_meta(SYNC_ERROR_AT, node.now())


def sync_outcome(node: Node, lang: str = "en") -> dict[str, str | None]:
    """When sync last succeeded, and its last error (in `lang`) with its time; None for
    what never happened."""
    raw = node.store.meta(SYNC_ERROR)
    error = json.loads(raw) if raw else None
    return {"last_ok": local_time(node, node.store.meta(SYNC_OK)),
            "last_error": error and (error["zh"] if lang == "zh" else error["en"]),
            "last_error_at": local_time(node, node.store.meta(SYNC_ERROR_AT))}


def status(node: Node, lang: str = "en") -> dict[str, Any]:
    store = node.store
    return {
        "node_id": node.node_id, "name": node.config.name, "level": node.level,
        "cases": store.count("case"), "catalog_items": len(catalog.list_items(node, include_cancelled=True)),
        "catalog_drift": catalog.drift(node),
        "cases_by_status": dict(store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall()),
        "feed": store.feed.count(), "unsealed_changes": store.changes.unsealed_count(),
        "pending_changes": store.changes.pending_count(), "unapplied_seals": store.feed.backlog(),
        "quarantined": store.quarantine.count(), "quarantine": quarantine_summary(node, lang),
        "unlisted_documents": len(refused(store)), "space": space_summary(node), "peers": peer_rows(node),
        "sync": sync_outcome(node, lang), "positions": _positions(node, lang),
        "audit_refusals": _localised(node, exchange.refusals(node), "at"),
        "audit_refused_by_parent": exchange.refused_by_parent(node, "zh" if lang == "zh" else "en"),
    }


def _positions(node: Node, lang: str) -> dict[str, Any]:
    p = positions.notice(node.store, lang)
    if p["last_notice"]:
        p["last_notice"] = {**p["last_notice"], "at": local_time(node, p["last_notice"]["at"])}
    return p


UNLISTED_ZH = "文档内容无法列出（不符合该类文档的格式，或由非所属节点写入），已保留并照常同步"


def unlisted(node: Node, lang: str = "en") -> list[dict[str, Any]]:
    """Documents kept but listed nowhere (`refused`), the reason in `lang`: the stored one
    is a technical English sentence, which a Chinese page names in general words."""
    rows = refused(node.store)
    return rows if lang != "zh" else [{**r, "reason": UNLISTED_ZH} for r in rows]


def refused(store: Store) -> list[dict[str, Any]]:
    """Documents kept but listed nowhere, with the reason (for the admin)."""
    cur = store.conn.execute("SELECT doc_id, kind, scope, reason FROM projection_refused ORDER BY doc_id")
    return [dict(zip(("doc_id", "kind", "scope", "reason"), r)) for r in cur]


def space_summary(node: Node) -> dict[str, int]:
    """My Space here: documents held (and how many only under a consent), consents given at
    this window that are live, file chunks held and still wanted."""
    from yimen.node.services import file_transfer, space_fetch
    live = sum(1 for expires, withdrawn in node.store.conn.execute(
        "SELECT expires_at, withdrawn_at FROM space_consents WHERE node = ?", (node.node_id,))
        if documents.live(expires, withdrawn or "", node.now()))
    return {"documents": node.store.count("space_doc"), "under_consent": space_fetch.held_on_demand(node),
            "live_consents": live, "chunks": node.store.chunks.total()[0], "chunks_wanted": len(file_transfer.wanted(node))}
