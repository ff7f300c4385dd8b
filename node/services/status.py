"""What a node knows of its peers: per-peer traffic and positions, quarantine, status."""

from __future__ import annotations

from typing import Any

from yimen.node.home import Node
from yimen.sync.engine import Batch


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
    }
