"""The life of a long-running node process: `yimen serve`, and `yimen sync` without --once.

In order: hold the home's lock → open the app → start listening → start the supervised
background tasks → wait for Ctrl-C or SIGTERM → stop the tasks → close the app → let the
database thread finish its call → close the node → drop the lock. Each step is undone in a
`finally`, so every way out takes the same road back; a port already taken used to skip it,
and a thread still reading SQLite while the process closed the connection crashed it with
a segmentation fault.

Under systemd (`Type=notify`, see `node/data/yimen@.service`) the process says READY=1 once
it listens with the node open, and STOPPING=1 when it begins to stop; with no
NOTIFY_SOCKET in the environment nothing is sent.

The sync loop's outcome is recorded in the node's `meta` (see `status.record_sync`), so
`yimen status` in another process shows when sync last worked and its last error; an
unexpected failure is recorded too, before the supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import ssl
import tempfile
from contextlib import asynccontextmanager, suppress
from typing import Any, AsyncIterator, Callable, Coroutine

import sdnotify
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.replication import in_db
from yimen.node.server.app import create_app
from yimen.node.server.lock import HomeLock
from yimen.node.server.supervisor import Supervisor
from yimen.node.services import status, uplink
from yimen.node.logs import ACCESS_LOGGER
from yimen.schema.errors import YimenError, os_reason
from yimen.schema.text import Text
from yimen.sync.transports.http import is_loopback

log = logging.getLogger("yimen.server")

class CannotListen(NodeError):
    """The server cannot listen on the address asked (the port is taken, most often)."""

    code = "cannot_listen"


class PlainHttpRefused(NodeError):
    """Plain HTTP was asked for on an address other than this machine's loopback."""

    code = "plain_http_refused"


def tls_context(node: Node) -> ssl.SSLContext:
    """The server's TLS: TLS 1.3 only, the node's own self-signed certificate (children pin
    it by its SHA-256, learnt at enrollment). `ssl` loads a key only from a file: it is
    written to an anonymous in-memory file (memfd, never on a disk) where there is one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    pem = node.keys.tls_cert_pem.encode() + node.keys.tls_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("yimen-tls")
        try:
            os.write(fd, pem)
            ctx.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return ctx
    with tempfile.TemporaryDirectory() as d:  # 0700, removed at once
        path = os.path.join(d, "tls.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(pem)
        ctx.load_cert_chain(path)
    return ctx


def server_tls(node: Node, host: str) -> ssl.SSLContext | None:
    """The TLS context to serve with, or None for plain HTTP (only on loopback, only with
    the `plain_http` setting)."""
    if not node.config.plain_http:
        return tls_context(node)
    if not is_loopback(host):
        raise PlainHttpRefused(f"明文 HTTP 只能在本机地址上提供（--host 127.0.0.1），不能在 {host} 上：请关闭 plain_http",
                               f"plain HTTP may be served only on this machine's loopback (--host 127.0.0.1), not on "
                               f"{host}: turn plain_http off")
    return None


class SyncReport:
    """Records each sync round's outcome. The same outcome again is written at most once
    a minute: a round ends every few seconds, and a commit for each would only churn."""

    REFRESH_S = 60.0

    def __init__(self, node: Node):
        self.node = node
        self.last: tuple[str | None, float] | None = None  # outcome last written, and when

    async def __call__(self, error: YimenError | None) -> None:
        key, now = error and error.en, asyncio.get_running_loop().time()
        if self.last and self.last[0] == key and now - self.last[1] < self.REFRESH_S:
            return
        await in_db(self.node, status.record_sync, self.node, error)
        self.last = (key, now)

    async def crashed(self, name: str, error: Exception, delay: float) -> None:
        """A supervised task failed unexpectedly; if it was the sync loop, that is its last
        error (the details are in the log)."""
        if name == "sync":
            what = f"{error.__class__.__name__}: {error}"
            await self(YimenError(f"同步任务意外出错（{what}），{delay:.3g} 秒后重启",
                                  f"the sync task failed unexpectedly ({what}); restarting in {delay:.3g} s"))


def run(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run` for the commands: a Yimen error goes on to the CLI, which prints its
    sentence; any other is a bug, logged here with its traceback and told in one sentence."""
    try:
        asyncio.run(main)
    except YimenError:
        raise
    except Exception as e:
        log.exception(Text("yimen 因意外错误停止", "yimen stopped on an unexpected error"))
        what = e.__class__.__name__
        raise NodeError(f"yimen 因意外错误（{what}）停止，详情见上面的日志",
                        f"yimen stopped on an unexpected error ({what}); the log above has the details") from e


class Systemd:
    """The service manager's notification socket (sd_notify, through `sdnotify`), if any."""

    def __init__(self) -> None:
        # sdnotify opens a socket even with no NOTIFY_SOCKET (and leaks it): only ask when there is one
        self.notifier = sdnotify.SystemdNotifier() if os.environ.get("NOTIFY_SOCKET") else None

    def tell(self, state: str) -> None:
        if self.notifier is not None:
            self.notifier.notify(state)

    def close(self) -> None:
        if self.notifier is not None and self.notifier.socket is not None:
            self.notifier.socket.close()


async def serve(node: Node, host: str, port: int, with_sync: bool = True,
                on_listening: Callable[[str], None] = print, stop: asyncio.Event | None = None,
                supervisor: Supervisor | None = None, access_log: bool = False) -> None:
    """Serve `node` (and sync it with its parent) until `stop` is set, by default on
    SIGINT or SIGTERM; closes the node on the way out. Raises `HomeBusy` or `CannotListen`
    with nothing left running. `supervisor`: tests give one with short delays.
    `access_log`: log each request (logger `yimen.access`)."""
    async with _lifetime(node, stop) as stop:
        tls = server_tls(node, host)
        app = web.AppRunner(create_app(node, secure=tls is not None), access_log=logging.getLogger(ACCESS_LOGGER) if access_log else None)
        await app.setup()  # starts the (supervised) materializer
        try:
            url = await _listen(app, host, port, tls)
            log.info(Text("节点 %s 已启动，正在监听 %s", "node %s started, listening on %s"), node.node_id, url)
            on_listening(url)
            await _run_tasks(node, stop, supervisor, with_sync)
        finally:
            await app.cleanup()


async def sync_forever(node: Node, stop: asyncio.Event | None = None,
                       supervisor: Supervisor | None = None) -> None:
    """Sync `node` with its parent, without serving, until `stop` is set (by default on
    SIGINT or SIGTERM); closes the node on the way out."""
    async with _lifetime(node, stop) as stop:
        await _run_tasks(node, stop, supervisor, with_sync=True)


async def _run_tasks(node: Node, stop: asyncio.Event, supervisor: Supervisor | None, with_sync: bool) -> None:
    """Run the supervised sync loop (if asked) until `stop`, then stop it. Its unexpected
    failures are recorded as its last error, unless the supervisor given records them."""
    report = SyncReport(node)
    tasks = supervisor or Supervisor()
    tasks.on_crash = tasks.on_crash or report.crashed
    if with_sync:
        tasks.start("sync", lambda: uplink.run_loop(node, stop, report=report))
    systemd = Systemd()
    try:
        systemd.tell("READY=1")  # listening (serve), the node open, the tasks started
        await stop.wait()
    finally:
        systemd.tell("STOPPING=1")
        log.info(Text("节点 %s 正在停止", "node %s is stopping"), node.node_id)
        systemd.close()
        await tasks.stop()


@asynccontextmanager
async def _lifetime(node: Node, stop: asyncio.Event | None) -> AsyncIterator[asyncio.Event]:
    """The home's lock and the stop event around a run. On the way out, whatever happened
    (the lock refused included), the database thread finishes its call and the node closes,
    and only then does the lock drop."""
    lock = HomeLock(node.home)
    try:
        lock.acquire()
        if stop is not None:
            yield stop
            return
        stop, loop = asyncio.Event(), asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            yield stop
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        try:
            with suppress(RuntimeError):  # the node was closed already
                await in_db(node, lambda: None)  # a call a cancelled task left running ends
        finally:
            node.close()  # waits for that call too, if the wait above was cut short
            lock.release()


async def _listen(app: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None) -> str:
    """Start listening (over TLS with `tls`); the URL, or one sentence saying why not."""
    try:
        await web.TCPSite(app, host, port, ssl_context=tls).start()
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise CannotListen(f"端口 {port} 已被占用（{host}），请用 --port 换一个端口",
                               f"port {port} on {host} is already in use; choose another with --port") from e
        if isinstance(e, socket.gaierror):
            raise CannotListen(f"无法解析地址 {host}，请检查 --host", f"cannot resolve the address {host}; check --host") from e
        reason = os_reason(e)
        raise CannotListen(f"无法在 {host}:{port} 上监听：{reason[0]}", f"cannot listen on {host}:{port}: {reason[1]}") from e
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{app.addresses[0][1]}"
