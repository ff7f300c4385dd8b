"""Wire format shared by the HTTP transport's server and client.

Bodies are msgpack, compressed with zlib (decompression is bounded, so a small body cannot
expand into a huge one). Requests between nodes are signed by the sending node:

    X-Yimen-Node: <sender's node id>      X-Yimen-To: <recipient's node id>
    X-Yimen-Time: <unix seconds>          X-Yimen-Nonce: <16 random bytes, hex>
    X-Yimen-Signature: hex(Ed25519(REQUEST_CONTEXT + sender \n recipient \n method \n path
                                   \n time \n nonce \n hex(sha256(body))))

The recipient is signed so that a request captured on its way to one node (a town) is
refused by every other node that knows the sender's key (the district, the city); the
nonce is what the recipient's replay guard (`replay.ReplayGuard`) remembers, so that the
same request is taken once. No signed field can hold a newline (ids and time are digits,
the nonce and digest hex, the path one of the server's routes), so the joined bytes name
one request only. The time is at most 12 digits (no float arithmetic on a huge number)
and at most `MAX_SKEW_S` from the recipient's clock.

Errors are JSON `{"error": code, "message": en, "message_zh": zh}` with a 4xx status (see
`ERROR_STATUS`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.sync.errors import SyncError

PROTOCOL = 1
CONTENT_TYPE = "application/vnd.yimen+msgpack"
REQUEST_CONTEXT = b"yimen/request/v2\x00"
MAX_BODY = 8 << 20  # compressed, on the wire
MAX_EXPANDED = 32 << 20
MAX_SKEW_S = 300
NONCE_BYTES = 16
SENDER, RECIPIENT, TIME, NONCE, SIGNATURE = (
    "X-Yimen-Node", "X-Yimen-To", "X-Yimen-Time", "X-Yimen-Nonce", "X-Yimen-Signature")
_TIME = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would take "+1", "1_0", " 1", "١"
_NONCE = re.compile(f"[0-9a-f]{{{2 * NONCE_BYTES}}}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")

# Stable error codes and their HTTP status.
ERROR_STATUS = {
    "bad_request": 400, "unsupported_protocol": 400, "invalid_input": 400,
    "bad_signature": 401, "stale_request": 401, "replayed_request": 401, "unknown_node": 403, "revoked_node": 403,
    "rotation_refused": 403, "consent_refused": 403, "chunk_refused": 403, "chunk_not_here": 404, "bad_chunk": 400,
    "resume_refused": 409,
    "enrollment_refused": 403, "not_found": 404, "out_of_order": 409,
    "body_too_large": 413, "wrong_recipient": 421, "seals_quarantined": 422, "too_many_attempts": 429,
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


@dataclass(frozen=True)
class RequestStamp:
    """Who signed a verified request, for whom, when, and its nonce (for the replay guard)."""

    sender: str
    recipient: str
    time: int
    nonce: bytes


def _signed_bytes(sender: str, recipient: str, method: str, path: str, stamp: str, nonce: str,
                  body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return REQUEST_CONTEXT + "\n".join((sender, recipient, method, path, stamp, nonce, digest)).encode()


def sign_request(key: Ed25519PrivateKey, sender: str, recipient: str, method: str, path: str, body: bytes,
                 now: float | None = None) -> dict[str, str]:
    """The headers of a request from node `sender` to node `recipient`, with a new nonce."""
    stamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(NONCE_BYTES)
    sig = key.sign(_signed_bytes(sender, recipient, method, path, stamp, nonce, body))
    return {SENDER: sender, RECIPIENT: recipient, TIME: stamp, NONCE: nonce, SIGNATURE: sig.hex(),
            "Content-Type": CONTENT_TYPE}


def verify_request(public_key: bytes, headers: Mapping[str, str], method: str, path: str, body: bytes,
                   recipient: str, now: float | None = None) -> RequestStamp:
    """Check a request signed with `public_key` for node `recipient`, in this order: the
    time (cheap, before any signature work), the signature, the recipient (after the
    signature, so that only the sender learns which node it reached). Whether the request
    was seen before is the replay guard's to say."""
    stamp, nonce, sig = (headers.get(h, "") for h in (TIME, NONCE, SIGNATURE))
    if not _TIME.fullmatch(stamp) or not _NONCE.fullmatch(nonce) or not _SIGNATURE.fullmatch(sig):
        raise WireError("bad_signature", "请求签名缺失或格式错误", "missing or malformed request signature")
    if abs((now if now is not None else time.time()) - int(stamp)) > MAX_SKEW_S:
        raise WireError("stale_request", "请求时间与本节点相差过大", "request time is too far from ours")
    sender, to = headers.get(SENDER, ""), headers.get(RECIPIENT, "")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            bytes.fromhex(sig), _signed_bytes(sender, to, method, path, stamp, nonce, body))
    except (InvalidSignature, ValueError):
        raise WireError("bad_signature", "请求签名无效（或发送节点未在此注册）",
                        "bad request signature (or the sender is not enrolled here)")
    if to != recipient:
        raise WireError("wrong_recipient", f"此请求是发给节点 {to} 的，不是本节点 {recipient}",
                        f"this request is for node {to!r}, not for this node {recipient}")
    return RequestStamp(sender, to, int(stamp), bytes.fromhex(nonce))


def check_protocol(message: dict[str, Any]) -> None:
    v = message.get("protocol")
    if type(v) is not int or v != PROTOCOL:
        zh = "请求未注明协议版本" if v is None else "协议版本须为整数" if type(v) is not int else f"不支持的协议版本 {v}"
        raise WireError("unsupported_protocol", f"{zh}（本节点使用版本 {PROTOCOL}）",
                        f"unsupported protocol version {message.get('protocol')!r}; this node speaks {PROTOCOL}",
                        supported=[PROTOCOL])
