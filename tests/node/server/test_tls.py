"""Links over TLS with pinned certificates: a real `runner.serve` on 127.0.0.1 (an ephemeral
port) serving TLS 1.3 with the town's own certificate; a village that enrolls online with
the invitation code (which carries the town's pin) and syncs; a wrong pin refused in the
handshake, before a byte of a request is sent; plain http refused except on loopback with
the explicit setting."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import warnings
from contextlib import suppress
from dataclasses import replace

import aiohttp
import pytest
from click.testing import CliRunner

from support.signin import sign_in
from yimen.node import config, home
from yimen.node.cli.main import main
from yimen.node.server import runner
from yimen.node.services import enrollment, reconcile, uplink
from yimen.sync.transports.http import CertificateMismatch, InsecureLink

TOWN, VILLAGE = "440608100000", "440608100201"
WRONG_PIN = "ab" * 32


@pytest.fixture
async def town(tmp_path):
    """The town served over TLS (plain_http off); yields (node, url)."""
    node = home.init(tmp_path / "town", TOWN, "示范镇")
    node.config = replace(node.config, plain_http=False)
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.serve(node, "127.0.0.1", 0, with_sync=False, stop=stop,
                                            on_listening=listening.set_result))
    url = await asyncio.wait_for(listening, 30)
    yield node, url
    stop.set()
    await task


def drop_refused_transports() -> None:
    """aiohttp (3.14) leaves the transport of a connection it refused for its fingerprint to
    the garbage collector, which warns (ResourceWarning): collect it here, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


async def enroll(tmp_path, url: str, code: str, *extra: str):
    village = tmp_path / "village"
    if not village.exists():
        with home.init(village, VILLAGE, "示范村") as v:
            sign_in(v, "a01")  # enrolling is the admin's
    return await asyncio.to_thread(cli, "--home", str(village), "--lang", "en", *extra, "enroll", "--parent", url,
                                   "--code", code)


async def invite(town_node) -> str:
    from yimen.node.replication import in_db
    return (await in_db(town_node, enrollment.invite, town_node, VILLAGE))["code"]


async def test_a_village_enrolls_and_syncs_over_pinned_tls(town, tmp_path):
    node, url = town
    assert url.startswith("https://127.0.0.1:")
    code = await invite(node)
    assert code.endswith("." + node.keys.tls_fingerprint)
    result = await enroll(tmp_path, url, code)
    assert result.exit_code == 0, result.output
    with home.open_node(tmp_path / "village") as village:
        assert village.config.parent_url == url
        assert village.store.keys.transit(TOWN) == (node.keys.encryption_key, node.keys.tls_fingerprint)
        stats = await uplink.sync_once(village)
        assert stats.peer == TOWN and stats.pulled >= 1  # the town's record of the village came down
        assert await reconcile.reconcile(village) == []  # its signed routes over the same pinned link


async def test_a_wrong_pin_is_refused_before_anything_is_sent(town, tmp_path):
    node, url = town
    code = await invite(node)
    secret = code.partition(".")[0]
    result = await enroll(tmp_path, url, f"{secret}.{WRONG_PIN}")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "showed a TLS certificate other than the one pinned at enrollment" in result.output
    assert (await enroll(tmp_path, url, code)).exit_code == 0  # the code was not used up: nothing reached the town
    with home.open_node(tmp_path / "village") as village:
        with village.store.transaction():
            village.store.keys.learn_transit(TOWN, node.keys.encryption_key, WRONG_PIN)
        with pytest.raises(CertificateMismatch, match="refused before anything was sent"):
            await uplink.sync_once(village)
    drop_refused_transports()


async def test_the_client_sends_no_byte_to_a_server_with_another_certificate(tmp_path):
    """A TLS server with the town's certificate that records what arrives after the
    handshake: a client pinned to another certificate sends nothing."""
    node = home.init(tmp_path / "town", TOWN, "示范镇")
    got = bytearray()
    handshakes = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshakes.set()
        with suppress(OSError):
            got.extend(await reader.read(1 << 16))
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=runner.tls_context(node))
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ServerFingerprintMismatch):
                await session.post(f"https://127.0.0.1:{port}/v1/enroll", data=b"personal data",
                                   ssl=aiohttp.Fingerprint(bytes.fromhex(WRONG_PIN)))
        await asyncio.wait_for(handshakes.wait(), 10)
        await asyncio.sleep(0.1)  # (let the server read whatever the client might have sent)
        assert bytes(got) == b""
        drop_refused_transports()
    finally:
        server.close()
        await server.wait_closed()
        node.close()


async def test_an_unauthenticated_caller_learns_only_that_the_node_is_up(town):
    node, url = town
    pin = aiohttp.Fingerprint(bytes.fromhex(node.keys.tls_fingerprint))
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/v1/status", ssl=pin) as r:
            assert await r.json() == {"ok": True, "protocol": 1}
            assert r.headers["Server"] == "yimen"  # no software or version named
        async with session.get(url + "/nothing", ssl=pin) as r:
            assert r.status == 404 and r.headers["Server"] == "yimen" and TOWN not in await r.text()


async def test_the_server_speaks_tls_1_3_only(town):
    _, url = town
    host, port = url.removeprefix("https://").split(":")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2

    def handshake() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as raw, old.wrap_socket(raw):
            pass
    with pytest.raises((ssl.SSLError, ConnectionResetError)):  # (the server ends the handshake)
        await asyncio.to_thread(handshake)


async def test_plain_http_only_to_loopback_and_only_when_asked(fresh_node, monkeypatch):
    village = fresh_node
    with village.store.transaction():
        village.store.keys.learn_transit(TOWN, "age1x", WRONG_PIN)
    for plain in (True, False):
        village.config = replace(village.config, parent_url="http://10.1.2.3:8710", plain_http=plain)
        with pytest.raises(InsecureLink, match="only an address on this machine may be plain") as e:
            await uplink.sync_once(village)
        assert "明文" in e.value.zh
    village.config = replace(village.config, parent_url="http://127.0.0.1:9", plain_http=False)
    with pytest.raises(InsecureLink, match="plain_http"):
        await uplink.sync_once(village)
    config.save(village.home, village.config)
    monkeypatch.setenv("YIMEN_PLAIN_HTTP", "0")
    result = await asyncio.to_thread(cli, "--home", str(village.home), "--lang", "en", "sync", "--once")
    assert result.exit_code == 1 and result.output.startswith("Error: plain http to http://127.0.0.1:9 is refused")


async def test_serving_plain_http_is_refused_off_loopback(fresh_node):
    fresh_node.config = replace(fresh_node.config, plain_http=True)
    with pytest.raises(runner.PlainHttpRefused, match="only on this machine's loopback"):
        await runner.serve(fresh_node, "0.0.0.0", 0, with_sync=False, stop=asyncio.Event())
