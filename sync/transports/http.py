"""The HTTP transport's client side: the far end of a session is a node's server, reached
with requests signed for that node (see `wire`) on its `/v1/hello`, `/v1/push` and
`/v1/pull` routes; `call` reaches its other signed routes (reconcile).

Links run over TLS (1.3, as the server offers no less) to the peer's own self-signed
certificate, pinned by the SHA-256 of its DER bytes learnt at enrollment (`link_ssl`): no
public CA is involved, and a certificate other than the pinned one ends the connection in
the handshake, before a byte of the request is sent. Plain `http://` is refused unless the
peer is on this machine (127.0.0.1, ::1, localhost) and the node's `plain_http` setting
asks for it (tests, demos)."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from yarl import URL

from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync.errors import SyncError
from yimen.sync.positions import BadPosition, Holding, is_count
from yimen.sync.session import Ack
from yimen.sync.transports import wire

# What a broken or absent link raises (the caller tries the next ancestor).
LINK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class WrongPeer(SyncError):
    """The address answered as another node than the one expected."""

    code = "wrong_peer"


class InsecureLink(SyncError):
    """A peer's address would send personal data in clear, or no certificate pin is known for it."""

    code = "insecure_link"


class CertificateMismatch(SyncError):
    """The peer showed a TLS certificate other than the one pinned at enrollment."""

    code = "certificate_mismatch"


def is_loopback(host: str | None) -> bool:
    """Is `host` this machine (a loopback address, or the name localhost)?"""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def link_ssl(url: str, fingerprint: str | None, plain_http: bool = False) -> aiohttp.Fingerprint | bool:
    """What to give aiohttp's `ssl=` for `url`: the pin of an https address (`fingerprint`,
    SHA-256 hex of the peer's certificate), or False for a plain loopback address when
    `plain_http` allows it. Anything else is `InsecureLink`."""
    if not url.isprintable() or " " in url:  # (told as one line)
        raise InsecureLink(f"地址 {url!r} 无效：须为 https://主机:端口", f"{url!r} is not a usable address: give https://host:port")
    try:  # parsed as aiohttp will (yarl), so what passes here is what it connects to
        parts = URL(url)
        host, _ = parts.host, parts.port
    except (ValueError, TypeError):
        parts, host = None, None
    if parts is not None and parts.scheme == "https" and host:
        if not fingerprint:
            raise InsecureLink(f"本节点不知道 {url} 的证书指纹，无法安全连接：请重新注册",
                               f"no certificate pin is known for {url}, so it cannot be reached safely: enroll again")
        return aiohttp.Fingerprint(bytes.fromhex(fingerprint))
    if parts is not None and parts.scheme == "http" and is_loopback(host):
        if plain_http:
            return False
        raise InsecureLink(f"拒绝明文连接 {url}：请用 https://，或（仅测试和演示）设置 plain_http",
                           f"plain http to {url} is refused: use https://, or (tests and demos only) the plain_http "
                           "setting")
    if parts is not None and parts.scheme == "http":
        raise InsecureLink(f"拒绝明文连接 {url}：明文 http 只允许本机地址，请用 https://",
                           f"plain http to {url} is refused: only an address on this machine may be plain; use https://")
    raise InsecureLink(f"地址 {url} 无效：须为 https://主机:端口", f"{url} is not a usable address: give https://host:port")


def mismatch(url: str, e: aiohttp.ServerFingerprintMismatch) -> CertificateMismatch:
    return CertificateMismatch(
        f"{url} 出示的 TLS 证书不是注册时记下的那一个（可能有人冒充上级，或上级重装过）：已拒绝，未发送任何数据",
        f"{url} showed a TLS certificate other than the one pinned at enrollment (someone posing as it, or it was "
        f"reinstalled): refused before anything was sent (got sha256 {e.got.hex()[:16]}...)")


def answered(peer: str, status: int, answer: dict[str, Any]) -> wire.WireError:
    """The error a node's JSON answer tells, in both languages (a node older than the
    `message_zh` field tells only English: that text is all there is)."""
    en = str(answer.get("message", ""))
    zh = str(answer.get("message_zh") or en)
    extra = {k: v for k, v in answer.items() if k not in ("error", "message", "message_zh")}
    return wire.WireError(str(answer.get("error", "bad_request")), f"节点 {peer} 答复：{zh}",
                          f"{peer} answered {status}: {en}", **extra)


class HttpTransport:
    def __init__(self, session: aiohttp.ClientSession, url: str, peer: str, node_id: str,
                 key: Ed25519PrivateKey, ssl: aiohttp.Fingerprint | bool = True):
        """`ssl`: the peer's pin (see `link_ssl`); the default verifies against public CAs,
        which no node's certificate is signed by, so an https peer is then never reached."""
        self.session, self.url, self.peer = session, url.rstrip("/"), peer
        self.node_id, self.key, self.ssl = node_id, key, ssl

    async def call(self, path: str, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        body = wire.pack({"protocol": wire.PROTOCOL, **message})
        headers = wire.sign_request(self.key, self.node_id, self.peer, "POST", path, body)
        async with self.session.post(self.url + path, data=body, headers=headers, ssl=self.ssl,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            if resp.status >= 400 and resp.content_type not in ("application/json", wire.CONTENT_TYPE):
                # not a Yimen node answering (a proxy's error page, a wrong address): a link
                # that does not work, so the next ancestor is tried
                raise aiohttp.ClientResponseError(resp.request_info, resp.history, status=resp.status,
                                                  message=f"{self.url} is not a Yimen node ({resp.content_type})")
            if resp.content_type == "application/json":
                answer = await resp.json()
                if resp.status == 422:  # some seals were quarantined; the rest went in
                    return answer
                raise answered(self.peer, resp.status, answer)
            return wire.unpack(raw)

    async def hello(self) -> Holding:
        welcome = await self.call("/v1/hello", {})
        if welcome.get("node") != self.peer:
            raise WrongPeer(f"{self.url} 不是节点 {self.peer}", f"{self.url} is not node {self.peer}")
        try:
            return Holding.from_wire(welcome, "recv_upto")
        except BadPosition:
            raise wire.WireError("bad_request", "上级的应答格式错误", f"{self.peer} answered a malformed hello")

    async def push(self, batch: Batch) -> Ack:
        message = {"start": batch.start, "next": batch.next, "seals": batch.seals}
        if batch.rewind:
            message["rewind"] = True
        try:
            answer = await self.call("/v1/push", message)
        except wire.WireError as e:
            if e.code == "out_of_order" and is_count(e.extra.get("recv_upto")):
                raise OutOfOrder(e.zh, e.en, e.extra["recv_upto"]) from e
            raise
        return Ack(answer["recv_upto"], answer.get("imported", 0), answer.get("duplicates", 0),
                   answer.get("quarantined", []))

    async def pull(self, held: Holding, max_bytes: int, wait: float) -> Batch:
        message = {"since": held.upto, "max_bytes": max_bytes, "wait": wait}
        if held.last_seal is not None:  # (the parent may learn it was restored: see positions)
            message["last_seal"] = held.last_seal
        answer = await self.call("/v1/pull", message, timeout=wait + 60)
        return Batch(self.peer, answer["start"], answer["next"], [(b, s) for b, s in answer["seals"]],
                     bool(answer["more"]), bool(answer.get("rewind", False)))
