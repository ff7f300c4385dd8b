"""The replay guard: a node takes each signed request once.

A verified request (see `wire.verify_request`) names its sender, a time within
`MAX_SKEW_S` of the recipient's clock and a random nonce. The guard remembers the
(sender, nonce) pairs it admitted while their time could still pass the skew check, and
refuses a pair it holds as `replayed_request`.

Bounded memory. Only verified requests reach the guard, so its senders are enrolled
descendants; each sender's memory is capped (`per_sender`), so a stolen key can fill its
own part only. Nothing is forgotten without raising that sender's *floor*, the latest
time among what was forgotten, and a request stamped at or before its sender's floor is
refused as `stale_request`. Invariant: every request ever admitted (its sender, nonce and
time, all three bound by its signature) is either held or stamped at or before its
sender's floor, so no replay passes, whatever the traffic. The floor
moves for the flooding sender only; an honest sender stamps with the time of its request,
so it is refused only if it sends more than `per_sender` requests in one second.

Across a restart. The memory is not persisted: writing a nonce to the database for every
request (long polls included) would cost a write transaction each and buy little. The
guard starts with every sender's floor just before the second the process started, so a
request stamped before the start, which the old process may have taken, is refused (its
sender signs a new one). What stays open: a request stamped in the very second of the
start, or by a sender whose clock runs ahead of ours (by at most `MAX_SKEW_S`), taken by
the old process in its last moments, can be replayed once to the new one. That replay
changes nothing: seals are identified by (author, seq) and a duplicate is a no-op.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

from yimen.sync.transports.wire import MAX_SKEW_S, WireError


@dataclass
class _Sender:
    floor: int
    held: list[tuple[int, bytes]] = field(default_factory=list)  # a heap: the oldest time first
    nonces: set[bytes] = field(default_factory=set)

    def forget_oldest(self) -> None:
        stamp, nonce = heapq.heappop(self.held)
        self.nonces.discard(nonce)
        self.floor = max(self.floor, stamp)


class ReplayGuard:
    """Refuses a second request with the same (sender, nonce) (see the module docstring)."""

    def __init__(self, started: float | None = None, window_s: int = MAX_SKEW_S, per_sender: int = 512):
        self.started = int(started if started is not None else time.time())
        self.window_s, self.per_sender = window_s, per_sender
        self._senders: dict[str, _Sender] = {}

    def __len__(self) -> int:
        return sum(len(s.held) for s in self._senders.values())

    def admit(self, sender: str, nonce: bytes, stamp: int, now: float | None = None) -> None:
        """Take a verified request, or refuse it if it may have been taken before."""
        s = self._senders.setdefault(sender, _Sender(self.started - 1))
        horizon = (now if now is not None else time.time()) - self.window_s
        while s.held and s.held[0][0] < horizon:  # past the skew check: it cannot come back
            s.forget_oldest()
        if stamp <= s.floor:
            raise WireError("stale_request", "请求时间早于本节点能核对重放的范围，请重新发送",
                            "the request is older than this node can check for replays; send it anew")
        if nonce in s.nonces:
            raise WireError("replayed_request", "此请求已收到过（重放），不予处理",
                            "this request was received before (a replay) and is refused")
        heapq.heappush(s.held, (stamp, nonce))
        s.nonces.add(nonce)
        if len(s.held) > self.per_sender:
            s.forget_oldest()
