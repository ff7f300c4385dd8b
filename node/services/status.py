"""What a node knows of its peers: per-peer traffic and positions, quarantine, status."""

from __future__ import annotations

import json
from typing import Any

from yimen.node.home import Node
from yimen.schema.errors import YimenError
from yimen.sync.engine import Batch

# The sync loop's last outcome, in `meta` so that another process (`yimen status`) sees it.
SYNC_OK, SYNC_ERROR, SYNC_ERROR_AT = "sync:last_ok", "sync:last_error", "sync:last_error_at"


def count_out(node: Node, peer: str, batch: Batch) -> None:
    """Count seals and bytes sent to `peer`."""
    with node.store.transaction():
        node.store.conn.execute("INSERT OR IGNORE INTO peers(node_id) VALUES (?)", (peer,))
        node.store.conn.execute(
            "UPDATE peers SET seals_out = seals_out + ?, bytes_out = bytes_out + ?,"
            " last_contact = datetime('now') WHERE node_id = ?", (len(batch.seals), batch.size, peer))


def peer_rows(node: Node) -> list[dict[str, Any]]:
    """Per peer: last contact, seals waiting each way, traffic, quarantined count."""
    conn = node.store.conn
    head = conn.execute("SELECT coalesce(max(local_seq), 0) FROM feed").fetchone()[0]
    rows = []
    for peer, recv, sent, last, s_in, s_out, b_in, b_out in conn.execute(
            "SELECT node_id, recv_upto, sent_upto, last_contact, seals_in, seals_out, bytes_in, bytes_out"
            " FROM peers ORDER BY node_id"):
        quarantined = conn.execute("SELECT count(*) FROM quarantine WHERE received_from = ?", (peer,)).fetchone()[0]
        rows.append({"peer": peer, "last_contact": last, "feed_not_acked": head - sent,
                     "recv_upto": recv, "seals_in": s_in, "seals_out": s_out, "bytes_in": b_in,
                     "bytes_out": b_out, "quarantined": quarantined})
    return rows


def quarantine(node: Node) -> list[dict[str, Any]]:
    cur = node.store.conn.execute(
        "SELECT id, received_at, received_from, author, seq, reason, length(body) AS bytes"
        " FROM quarantine ORDER BY id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur]


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
    return {"last_ok": node.store.meta(SYNC_OK),
            "last_error": error and (error["zh"] if lang == "zh" else error["en"]),
            "last_error_at": node.store.meta(SYNC_ERROR_AT)}


def status(node: Node) -> dict[str, Any]:
    conn = node.store.conn
    return {
        "node_id": node.node_id, "name": node.config.name, "level": node.level,
        "cases": node.store.count("case"), "catalog_items": node.store.count("catalog_item"),
        "feed": conn.execute("SELECT count(*) FROM feed").fetchone()[0],
        "unsealed_changes": conn.execute("SELECT count(*) FROM changes WHERE seal_seq IS NULL").fetchone()[0],
        "pending_changes": conn.execute("SELECT count(*) FROM pending").fetchone()[0],
        "unapplied_seals": conn.execute("SELECT count(*) FROM unapplied").fetchone()[0],
        "quarantined": conn.execute("SELECT count(*) FROM quarantine").fetchone()[0],
        "peers": peer_rows(node),
        "sync": sync_outcome(node),
    }
