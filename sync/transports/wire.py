"""Wire format shared by the HTTP transport's server and client.

Bodies are msgpack, compressed with zlib (decompression is bounded, so a small body cannot
expand into a huge one). Requests between nodes are signed by the sending node:

    X-Yimen-Node: <region code>   X-Yimen-Time: <unix seconds>
    X-Yimen-Signature: hex(Ed25519(REQUEST_CONTEXT + method \n path \n time \n sha256(body)))

Errors are JSON `{"error": code, "message": text}` with a 4xx status (see `ERROR_STATUS`).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.sync.errors import SyncError

PROTOCOL = 1
CONTENT_TYPE = "application/vnd.yimen+msgpack"
REQUEST_CONTEXT = b"yimen/request/v1\x00"
MAX_BODY = 8 << 20  # compressed, on the wire
MAX_EXPANDED = 32 << 20
MAX_SKEW_S = 300

# Stable error codes and their HTTP status.
ERROR_STATUS = {
    "bad_request": 400, "unsupported_protocol": 400, "invalid_input": 400,
    "bad_signature": 401, "stale_request": 401, "unknown_node": 403,
    "enrollment_refused": 403, "not_found": 404, "out_of_order": 409,
    "body_too_large": 413, "seals_quarantined": 422,
}


class WireError(SyncError):
    """A request or response on the wire is malformed, unauthenticated or not allowed."""

    code = "bad_request"

    def __init__(self, code: str, zh: str, en: str, **extra: Any):
        super().__init__(zh, en)
        self.code = code
        self.extra = extra


def pack(message: dict[str, Any]) -> bytes:
    # level 1: the seals inside are compressed already; this only squeezes the framing
    return zlib.compress(msgpack.packb(message, use_bin_type=True), 1)


def unpack(body: bytes) -> dict[str, Any]:
    """The message a body holds: one whole zlib stream (nothing after it), expanding to at
    most MAX_EXPANDED bytes, of one string-keyed msgpack map."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(body, MAX_EXPANDED)
        if d.unconsumed_tail:
            raise WireError("body_too_large", "请求体解压后过大", "body expands beyond the limit")
        if not d.eof or d.unused_data:
            raise WireError("bad_request", "请求体不完整或有多余数据", "the body is truncated or has bytes after it")
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except WireError:
        raise
    except (zlib.error, ValueError, TypeError, msgpack.UnpackException) as e:
        raise WireError("bad_request", "请求体无法解析", f"malformed body: {e}") from e
    if not isinstance(message, dict):
        raise WireError("bad_request", "请求体格式错误", "the body is not a map")
    return message


def _signed_bytes(method: str, path: str, stamp: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return REQUEST_CONTEXT + f"{method}\n{path}\n{stamp}\n{digest}".encode()


def sign_request(key: Ed25519PrivateKey, node_id: str, method: str, path: str, body: bytes,
                 now: float | None = None) -> dict[str, str]:
    stamp = str(int(now if now is not None else time.time()))
    sig = key.sign(_signed_bytes(method, path, stamp, body))
    return {"X-Yimen-Node": node_id, "X-Yimen-Time": stamp, "X-Yimen-Signature": sig.hex(),
            "Content-Type": CONTENT_TYPE}


def verify_request(public_key: bytes, headers: Any, method: str, path: str, body: bytes,
                   now: float | None = None) -> None:
    stamp = headers.get("X-Yimen-Time", "")
    try:
        skew = abs((now if now is not None else time.time()) - int(stamp))
        sig = bytes.fromhex(headers.get("X-Yimen-Signature", ""))
    except ValueError:
        raise WireError("bad_signature", "请求签名缺失或格式错误", "missing or malformed request signature")
    if skew > MAX_SKEW_S:
        raise WireError("stale_request", "请求时间与本节点相差过大", "request time is too far from ours")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, _signed_bytes(method, path, stamp, body))
    except (InvalidSignature, ValueError):
        raise WireError("bad_signature", "请求签名无效", "bad request signature")


def check_protocol(message: dict[str, Any]) -> None:
    if type(message.get("protocol")) is not int or message["protocol"] != PROTOCOL:
        raise WireError("unsupported_protocol", f"不支持的协议版本：{message.get('protocol')}",
                        f"unsupported protocol version {message.get('protocol')!r}; this node speaks {PROTOCOL}",
                        supported=[PROTOCOL])
