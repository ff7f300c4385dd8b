"""Background tasks of a running node (its sync loop, its materializer), kept alive.

A task that dies of an unexpected exception dies silently in asyncio: the server went on
answering children while it no longer synced with its parent, and nobody learnt it until
the process stopped. Under a `Supervisor` each named coroutine that fails is logged with
its traceback (logger `yimen.server`), told to whoever records it (`on_crash`), and started
again after a pause that doubles at each failure up to a cap, so a fault that repeats
neither spins nor floods the log; a task that ran well for a while starts from the short
pause again. `stop` cancels every task and waits until each has ended, so that nothing is
left running when the node closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from yimen.node.errors import CONTROL_FLOW
from yimen.schema.text import Text

log = logging.getLogger("yimen.server")

Factory = Callable[[], Awaitable[None]]
OnCrash = Callable[[str, Exception, float], Awaitable[None]]


class Supervisor:
    """Runs named coroutines until `stop`; a coroutine that returns is done, one that raises
    is restarted (see the module). The delays are arguments so that tests can make them
    short; the defaults are class attributes for the same reason."""

    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 60.0
    HEALTHY_S = 60.0  # a task that ran this long before failing starts from the first delay

    def __init__(self, first_delay_s: float | None = None, max_delay_s: float | None = None,
                 healthy_s: float | None = None, on_crash: OnCrash | None = None):
        self.first_delay_s = self.FIRST_DELAY_S if first_delay_s is None else first_delay_s
        self.max_delay_s = self.MAX_DELAY_S if max_delay_s is None else max_delay_s
        self.healthy_s = self.HEALTHY_S if healthy_s is None else healthy_s
        self.on_crash = on_crash
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: Factory) -> None:
        """Run `factory()` now and again after each failure. A factory, not a coroutine:
        a coroutine can be awaited only once."""
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is already running")
        self.tasks[name] = asyncio.create_task(self._keep(name, factory), name=f"yimen:{name}")

    async def _keep(self, name: str, factory: Factory) -> None:
        loop, delay = asyncio.get_running_loop(), self.first_delay_s
        while True:
            began = loop.time()
            try:
                await factory()
                return
            except CONTROL_FLOW:
                raise  # `stop` cancels
            except BaseException as e:  # noqa: BLE001 (loro's bare BaseException too)
                if loop.time() - began >= self.healthy_s:
                    delay = self.first_delay_s
                log.exception(Text("后台任务 %s 意外出错，%.3g 秒后重启", "background task %s failed; restarting it in %.3g s"), name, delay)
                await self._tell(name, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay_s)

    async def _tell(self, name: str, error: BaseException, delay: float) -> None:
        """Pass the failure on; a recorder that fails itself is logged, never fatal."""
        if self.on_crash is None:
            return
        try:
            await self.on_crash(name, error, delay)
        except Exception:
            log.exception(Text("记录后台任务 %s 的故障时出错", "recording the failure of background task %s failed"), name)

    async def stop(self) -> None:
        """Cancel every task and wait until each has ended."""
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        for t, outcome in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True)):
            if isinstance(outcome, Exception):
                log.error(Text("后台任务 %s 在停止时出错", "background task %s failed while stopping"), t.get_name(), exc_info=outcome)
        self.tasks.clear()
