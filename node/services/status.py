"""What a node knows of itself and its peers: counts, per-peer traffic and positions,
quarantine."""

from __future__ import annotations

from typing import Any

from yimen.node.home import Node


def peer_rows(node: Node) -> list[dict[str, Any]]:
    """Per peer: last contact, seals waiting each way, traffic, quarantined count."""
    store = node.store
    head = store.feed.head()
    return [{**{k: r[k] for k in ("peer", "last_contact", "recv_upto", "seals_in", "seals_out", "bytes_in",
                                   "bytes_out")},
             "feed_not_acked": head - r["sent_upto"], "quarantined": store.quarantine.count(r["peer"])}
            for r in store.peers.rows()]


def quarantine(node: Node) -> list[dict[str, Any]]:
    return node.store.quarantine.rows()


def status(node: Node) -> dict[str, Any]:
    store = node.store
    return {
        "node_id": node.node_id, "name": node.config.name, "level": node.level,
        "cases": store.count("case"), "catalog_items": store.count("catalog_item"),
        "cases_by_status": dict(store.conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall()),
        "feed": store.feed.count(), "unsealed_changes": store.changes.unsealed_count(),
        "pending_changes": store.changes.pending_count(), "unapplied_seals": store.feed.backlog(),
        "quarantined": store.quarantine.count(), "peers": peer_rows(node),
    }
