"""Node certificates: who a node is, vouched for by its parent.

A certificate binds a region code to the node's three public keys (Ed25519 signing, age
encryption, the TLS pin) for a validity window, signed by the issuer: the parent that
admitted the node, or the node itself for the chain's root (the city), which a child pins
at enrollment. Like a seal, it is canonical bytes signed once and kept as those exact bytes:

    body = msgpack([VERSION, region, name, signing_key, encryption_key, tls_fingerprint,
                    not_before, not_after, issuer, issuer_key_id, retires])
    certificate = msgpack([body, Ed25519(CONTEXT + body)])

Times are Unix seconds. `retires` is `[key_id, seq]` when the certificate replaces the
node's previous key (`yimen key rotate`): that key's seals after `seq` are refused, the
earlier ones stay valid. A key is named by its *key id*, the first 8 bytes of the SHA-256
of the raw public key; seals name the key id they were signed with.

`verify` is the one check, in a fixed order (Morango's): signature → issuer is the parent
→ scope within the issuer's → validity → not revoked. Each failure is its own error class.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Protocol

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.schema import region
from yimen.schema.errors import SchemaError
from yimen.sync.errors import SyncError

VERSION = 1
CONTEXT = b"yimen/certificate/v1\x00"
KEY_ID_BYTES = 8
MAX_CERT_BYTES = 2048  # a certificate is about 300 bytes
MAX_NAME = 100
MAX_TEXT = 100  # an age recipient is 62 characters, a fingerprint 64
MAX_TIME = 2**40
MAX_SEQ = 2**63 - 1  # seal numbers are SQLite integers


class BadCertificate(SyncError):
    """A node certificate is malformed or its signature does not hold."""

    code = "bad_certificate"


class NotIssuedByParent(BadCertificate):
    """A node certificate was issued by a node that is not the subject's parent."""

    code = "certificate_not_from_parent"


class OutOfScope(BadCertificate):
    """A node certificate names a region outside its issuer's."""

    code = "certificate_out_of_scope"


class CertificateExpired(BadCertificate):
    """A node certificate is not valid at this time (expired, or not yet valid)."""

    code = "certificate_expired"


class CertificateRevoked(BadCertificate):
    """A node certificate's key has been revoked."""

    code = "certificate_revoked"


def key_id(public_key: bytes) -> bytes:
    """The id a seal or a certificate names a signing key by."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class Certificate:
    region: str
    name: str
    signing_key: bytes
    encryption_key: str
    tls_fingerprint: str
    not_before: int
    not_after: int
    issuer: str
    issuer_key_id: bytes
    retires: tuple[bytes, int] | None
    raw: bytes  # the exact bytes, as stored and relayed

    @property
    def key_id(self) -> bytes:
        return key_id(self.signing_key)

    @property
    def self_issued(self) -> bool:
        return self.issuer == self.region and self.issuer_key_id == self.key_id


def issue(issuer_key: Ed25519PrivateKey, issuer: str, subject: str, name: str, public: dict[str, str],
          not_before: int, not_after: int, retires: tuple[bytes, int] | None = None) -> Certificate:
    """A certificate for `subject` (its keys as `identity.Keys.public()` gives them), signed
    by `issuer` with `issuer_key`."""
    issuer_id = key_id(issuer_key.public_key().public_bytes_raw())
    issuer, subject = region.normalize(issuer), region.normalize(subject)
    body = msgpack.packb([VERSION, subject, name, bytes.fromhex(public["public_key"]), public["encryption_key"],
                          public["tls_fingerprint"], not_before, not_after, issuer, issuer_id,
                          list(retires) if retires else None], use_bin_type=True)
    return parse(msgpack.packb([body, issuer_key.sign(CONTEXT + body)], use_bin_type=True))


def _bad(what: str, why: str = "") -> BadCertificate:
    return BadCertificate(f"节点证书格式错误：{what}", f"malformed node certificate: {why or what}")


def _text(v: object, limit: int) -> bool:
    return type(v) is str and len(v) <= limit and v.isprintable()


def _time(v: object) -> bool:
    return type(v) is int and 0 <= v < MAX_TIME


def _code(v: object) -> bool:
    try:
        return type(v) is str and len(v) == region.CODE_LEN and region.normalize(v) == v
    except SchemaError:
        return False


def parse(raw: bytes) -> Certificate:
    """A certificate's fields, each in its bounds (no signature check: see `verify`)."""
    if type(raw) is not bytes or len(raw) > MAX_CERT_BYTES:
        raise _bad("过大或不是字节", "too large or not bytes")
    try:
        body, _sig = msgpack.unpackb(raw, raw=False)
        v, subject, name, skey, enc, fp, nb, na, issuer, iid, retires = msgpack.unpackb(body, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise _bad("无法解析", f"cannot be read ({e})") from e
    if v != VERSION:
        raise _bad(f"版本 {v!r:.20} 不支持", f"unsupported version {v!r:.20}")
    if not (_code(subject) and _code(issuer) and _text(name, MAX_NAME) and _text(enc, MAX_TEXT)
            and _text(fp, MAX_TEXT) and type(skey) is bytes and len(skey) == 32 and type(iid) is bytes
            and len(iid) == KEY_ID_BYTES and _time(nb) and _time(na) and nb <= na):
        raise _bad("字段不合规", "a field is out of bounds")
    if retires is not None and not (type(retires) is list and len(retires) == 2 and type(retires[0]) is bytes
                                    and len(retires[0]) == KEY_ID_BYTES and type(retires[1]) is int
                                    and 0 <= retires[1] <= MAX_SEQ):
        raise _bad("被替换的密钥字段不合规", "the retired key is out of bounds")
    return Certificate(subject, name, skey, enc, fp, nb, na, issuer, iid,
                       (retires[0], retires[1]) if retires else None, raw)


class Issuers(Protocol):
    def certificate(self, key_id: bytes) -> Certificate | None:
        """The certificate of the signing key `key_id`, if known and trusted."""


def verify(raw: bytes, issuers: Issuers, now: int, revoked: Callable[[bytes, str], bool] = lambda kid, node: False,
           pinned_root: bool = False) -> Certificate:
    """The certificate `raw`, checked in the fixed order (see the module docstring). The
    issuer's certificate is looked up in `issuers` by key id; a self-issued certificate is
    taken only as the pinned root (`pinned_root`: enrollment's answer, where the chain ends)."""
    cert = parse(raw)
    body, sig = msgpack.unpackb(raw, raw=False)
    shown = cert.region
    issuer = cert if cert.self_issued and pinned_root else issuers.certificate(cert.issuer_key_id)
    if issuer is None:
        raise BadCertificate(f"节点 {shown} 的证书由未知密钥签发", f"the certificate of {shown} was issued by an unknown key")
    try:
        Ed25519PublicKey.from_public_bytes(issuer.signing_key).verify(sig, CONTEXT + body)
    except (InvalidSignature, ValueError) as e:
        raise BadCertificate(f"节点 {shown} 的证书签名无效", f"bad signature on the certificate of {shown}") from e
    parent = cert.region if cert.self_issued else region.parent_code(cert.region)
    if not issuer.region == cert.issuer == parent:
        raise NotIssuedByParent(f"节点 {shown} 的证书不是由其上级签发的（签发者 {issuer.region}）",
                                f"the certificate of {shown} was not issued by its parent (issuer {issuer.region})")
    if not region.is_within(cert.region, issuer.region):
        raise OutOfScope(f"节点 {shown} 不在签发者 {issuer.region} 的辖区内",
                         f"{shown} lies outside its issuer {issuer.region}'s region")
    if not cert.not_before <= now <= cert.not_after:
        raise CertificateExpired(f"节点 {shown} 的证书不在有效期内", f"the certificate of {shown} is not valid now")
    if revoked(cert.key_id, cert.region):
        raise CertificateRevoked(f"节点 {shown} 的密钥已被吊销", f"the key of {shown} has been revoked")
    return cert
