"""`yimen serve` as a service: it tells systemd when it is ready and when it stops (a real
unix datagram socket as NOTIFY_SOCKET), logs for people in the configured language, to a
rotating file when asked, with each request when asked."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from click.testing import CliRunner

from yimen.node import logs
from yimen.node.cli.main import main
from yimen.node.errors import UnknownCase
from yimen.node.server import runner
from yimen.schema.text import Text


@pytest.fixture
def log_to(tmp_path):
    """`logs.setup` with a file, undone after the test."""
    handlers = []

    def setup(lang: str, access_log: bool = False):
        handlers.append(logs.setup(lang, tmp_path / "logs" / "yimen.log", access_log))
        return tmp_path / "logs" / "yimen.log"
    yield setup
    for h in handlers:
        logs.remove(h)


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    yield sock
    sock.close()


async def _received(sock: socket.socket) -> str:
    return (await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 256), 10)).decode()


async def test_systemd_hears_ready_once_listening_and_stopping_at_the_end(fresh_node, notify_socket):
    stop, urls = asyncio.Event(), []
    served = asyncio.create_task(runner.serve(fresh_node, "127.0.0.1", 0, with_sync=False,
                                              on_listening=urls.append, stop=stop))
    assert await _received(notify_socket) == "READY=1"
    async with aiohttp.ClientSession() as s, s.get(urls[0] + "/v1/status") as r:  # bound and the node open
        assert r.status == 200
    stop.set()
    assert await _received(notify_socket) == "STOPPING=1"
    await served


async def test_without_notify_socket_nothing_is_sent(fresh_node, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    stop = asyncio.Event()
    served = asyncio.create_task(runner.serve(fresh_node, "127.0.0.1", 0, with_sync=False,
                                              on_listening=lambda url: stop.set(), stop=stop))
    await served


@pytest.mark.parametrize("lang,line", [("zh", "同步失败：没有受理编号为 X 的办件"),
                                       ("en", "sync failed: no case has the receipt number X")])
def test_log_lines_in_the_configured_language(log_to, lang, line):
    path = log_to(lang)
    logging.getLogger("yimen.test").warning(Text("同步失败：%s", "sync failed: %s"),
                                             UnknownCase("没有受理编号为 X 的办件", "no case has the receipt number X"))
    assert line in path.read_text("utf-8")


def test_the_log_file_rotates(log_to, monkeypatch):
    monkeypatch.setattr(logs, "ROTATE_BYTES", 200)
    path = log_to("zh")
    for i in range(20):
        logging.getLogger("yimen.test").info("line %d", i)
    assert path.with_name("yimen.log.1").exists() and not path.with_name(f"yimen.log.{logs.ROTATE_KEEP + 1}").exists()


async def test_the_access_log_holds_each_request(fresh_node, log_to):
    path = log_to("zh", access_log=True)
    stop, listening, urls = asyncio.Event(), asyncio.Event(), []
    served = asyncio.create_task(runner.serve(fresh_node, "127.0.0.1", 0, with_sync=False, stop=stop, access_log=True,
                                              on_listening=lambda url: (urls.append(url), listening.set())))
    await listening.wait()
    async with aiohttp.ClientSession() as s, s.get(urls[0] + "/v1/status") as r:
        assert r.status == 200
    stop.set()
    await served
    text = path.read_text("utf-8")
    assert "GET /v1/status" in text and "已启动，正在监听" in text and "正在停止" in text


@pytest.mark.parametrize("args,message", [(["--port", "70000"], "70000"),
                                          (["--log-file", "/proc/no/yimen.log"], "/proc/no")])
def test_bad_serve_options_are_one_sentence(fresh_node, args, message):
    result = CliRunner().invoke(main, ["--home", str(fresh_node.home), "serve", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
