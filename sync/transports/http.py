"""The HTTP transport's client side: the far end of a session is a node's server, reached
with requests signed for that node (see `wire`) on its `/v1/hello`, `/v1/push` and
`/v1/pull` routes; `call` reaches its other signed routes (reconcile)."""

from __future__ import annotations

from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
                 key: Ed25519PrivateKey):
        self.session, self.url, self.peer = session, url.rstrip("/"), peer
        self.node_id, self.key = node_id, key

    async def call(self, path: str, message: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        body = wire.pack({"protocol": wire.PROTOCOL, **message})
        headers = wire.sign_request(self.key, self.node_id, self.peer, "POST", path, body)
        async with self.session.post(self.url + path, data=body, headers=headers,
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
