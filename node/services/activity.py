"""Activity over time, for the admin's dashboard (`/chain`): cases accepted per day, and
sync lag sampled once per sync round.

**Lag** toward a peer, in seconds: 0 when the peer holds everything here (no seal in this
node's feed it has not acknowledged, no own change still unsealed); otherwise how long it
has been behind, the longer of the time since the last contact with it and the age of the
oldest seal it has not acknowledged (a seal's time is when it entered the feed: sealed
here, or received from a child). So lag is 0 after a good round, and grows while the link
is down and changes wait. `waiting` is the number of seals the peer has not acknowledged
(not counting those it sent: a round's pull stores them after what the peer last acknowledged).

A sample is taken when a round ends (`uplink.sync_once`, so the sync loop and `yimen sync
--once` alike): for the peer synced with, or for the parent when no ancestor answered. At
most one sample per peer per `SAMPLE_EVERY_S` is kept (a round ends every few seconds),
and samples older than `KEEP_DAYS` are dropped in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from yimen.node.home import Node

SAMPLE_EVERY_S = 60
KEEP_DAYS = 7
MAX_ROWS = 50_000  # a bound whatever the clock does (one peer a minute for a week is ~10k)


def _seconds(node: Node) -> int:
    return int(node.clock().timestamp())


def _at(iso: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp()) if iso else None
    except ValueError:  # not a time (a row of an older Yimen): nothing to count from
        return None


def lag_now(node: Node, peer: str) -> dict[str, int]:
    """`peer`'s lag (seconds) and the seals waiting for it, now (see the module docstring)."""
    store = node.store
    waiting, first_at = store.feed.waiting_after(store.peers.positions(peer)[1], peer)
    if not waiting and not store.changes.unsealed_count():
        return {"lag_s": 0, "waiting": 0}
    now = _seconds(node)
    since = [t for t in (_at(store.peers.last_contact(peer)), _at(first_at)) if t is not None]
    return {"lag_s": max(0, now - min(since, default=now)), "waiting": waiting}


def record_lag(node: Node, peer: str) -> bool:
    """Sample `peer`'s lag now, unless a sample of it is younger than `SAMPLE_EVERY_S`;
    drop samples past `KEEP_DAYS` (and beyond `MAX_ROWS`). True if a sample was written."""
    now, conn = _seconds(node), node.store.conn
    with node.store.transaction():
        last = conn.execute("SELECT max(at) FROM lag_samples WHERE peer = ?", (peer,)).fetchone()[0]
        if last is not None and 0 <= now - last < SAMPLE_EVERY_S:
            return False
        sample = lag_now(node, peer)
        conn.execute("INSERT INTO lag_samples(at, peer, lag_s, waiting) VALUES (?, ?, ?, ?)",
                     (now, peer, sample["lag_s"], sample["waiting"]))
        conn.execute("DELETE FROM lag_samples WHERE at < ?", (now - KEEP_DAYS * 86400,))
        conn.execute("DELETE FROM lag_samples WHERE rowid <= (SELECT max(rowid) FROM lag_samples) - ?", (MAX_ROWS,))
    return True


def lag_samples(node: Node, days: int = KEEP_DAYS) -> dict[str, list[tuple[int, int, int]]]:
    """Per peer, its samples of the last `days` days, oldest first: (at, lag_s, waiting)."""
    out: dict[str, list[tuple[int, int, int]]] = {}
    for at, peer, lag_s, waiting in node.store.conn.execute(
            "SELECT at, peer, lag_s, waiting FROM lag_samples WHERE at >= ? ORDER BY peer, at",
            (_seconds(node) - days * 86400,)):
        out.setdefault(peer, []).append((at, lag_s, waiting))
    return out


def cases_per_day(node: Node, days: int = 30, today: date | None = None) -> list[dict[str, Any]]:
    """Cases accepted on each of the last `days` days up to `today` (the node's), oldest
    first, days with none included: `day` (YYYY-MM-DD), `cases`. Every case this node
    lists counts (at a hub, its villages' too)."""
    today = today or node.clock().date()
    first = today - timedelta(days=days - 1)
    counts = dict(node.store.conn.execute(
        "SELECT accepted_date, count(*) FROM cases WHERE accepted_date BETWEEN ? AND ? GROUP BY accepted_date",
        (first.isoformat(), today.isoformat())).fetchall())
    return [{"day": d, "cases": counts.get(d, 0)}
            for d in ((first + timedelta(days=i)).isoformat() for i in range(days))]
