"""A throttle on failed attempts per remote address, for the one route a stranger may call
with something to guess (`/v1/enroll`, an invitation code).

Invitation codes carry 96 random bits, so guessing is hopeless anyway; the throttle is
what keeps a stranger's failures cheap: each failed enrollment costs a write transaction
on the node's database and a log line. It holds at most `max_keys` addresses (the one
with the oldest last failure is forgotten first), so a spray of addresses cannot grow it.
Behind a proxy every caller has the proxy's address: a stranger's failures then hold up
an admin's enrollment for the window, which is the price of a bound.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from yimen.sync.transports.wire import WireError


class FailureThrottle:
    """At most `limit` failures per address within `window_s` seconds; more are refused."""

    def __init__(self, limit: int = 10, window_s: float = 900, max_keys: int = 4096,
                 clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("a throttle needs a positive limit, window and size")
        self.limit, self.window_s, self.max_keys, self.clock = limit, window_s, max_keys, clock
        self._failures: dict[str, deque[float]] = {}  # in order of the last failure

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key) or deque(maxlen=self.limit)
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        return times

    def check(self, key: str) -> None:
        """Refuse `key` if it failed `limit` times within the window."""
        times = self._recent(key)
        if len(times) >= self.limit:
            wait = int(times[0] + self.window_s - self.clock()) + 1
            raise WireError("too_many_attempts", f"失败次数过多，请 {wait} 秒后再试",
                            f"too many failed attempts; try again later (in {wait} s)", retry_after_s=wait)

    def failed(self, key: str) -> None:
        times = self._recent(key)
        times.append(self.clock())
        self._failures.pop(key, None)
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
