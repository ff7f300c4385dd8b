"""Verifying an e-certificate against the trust list a node holds, with no link.

The checks, in order (the first that fails is the verdict's reason):

1. the text decodes (`credential.decode`: bounded, shape-checked);
2. the key id names a key of the trust list (`store.keys`), of a node whose region is the
   credential's issuer, and the signature holds under it;
3. the issue time is not after that key's certificate expired. (An issue time before the
   certificate's start is accepted: a village works before it joins a chain, with the key
   its certificate later vouches for, and its results stay valid. A backdated one is the
   limitation of check 4.);
4. the key was not revoked when the credential was issued. A key revocation is "cut
   after seal N" (`yimen.sync.admission`), and a credential carries no seal number, so
   this compares the credential's `iat` with the time the revocation was written (its
   `at`). **Limitation:** `iat` is what the signer wrote: a thief holding a stolen key can
   backdate a credential before the revocation, and that is not detected from the text
   alone. Where the verifying node holds the space document itself (the issuer's
   ancestors do, it flows up), the seals that carried it are compared with the cut: a
   document first sealed after the cut fails even with a backdated `iat`;
5. the certificate itself is not revoked (`credential_revocation:<issuer>`);
6. it is not past its `valid_until` date.

The verdict also says how old the node's revocation data is (`data_as_of`, the last time
this node heard from its parent): a node that has been offline still verifies, and says
"revocations as of N days ago"; that is never a failure by itself.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Protocol

from yimen.personal_space import credential
from yimen.personal_space.credential import BadCredential, Claims
from yimen.sync.certs import Certificate

Reason = tuple[str, str]  # (zh, en)


class Trust(Protocol):
    """What a verifier looks up in the trust list held here."""

    def certificate(self, kid: bytes) -> Certificate | None:
        """The certificate of signing key `kid`, if held."""

    def key_revoked_at(self, node_id: str, kid: bytes) -> tuple[int | None, str, str] | None:
        """If the key is revoked: (Unix time of the earliest revocation, or None when unknown,
        its reason in zh and en); None when not revoked."""

    def key_cut(self, node_id: str, kid: bytes) -> int | None:
        """The key's cut (revocation or retirement), if any."""

    def carrying_seals(self, doc_id: str, author: str) -> list[int] | None:
        """Seal numbers by `author` that carried document `doc_id`, None when it is not held."""

    def credential_revoked(self, issuer: str, cert_id: str) -> dict[str, Any] | None:
        """The revocation entry of a certificate, if any: {reason, reason_zh?, at, by}."""

    def data_as_of(self) -> int | None:
        """Unix time the trust list and revocations here were last brought up to date (now for
        the chain's root; None: never heard from the parent)."""


@dataclass
class Verdict:
    valid: bool
    reason: Reason  # why (zh, en): "valid", or the first check that failed
    claims: Claims | None = None
    issuer: dict[str, Any] | None = None  # region, name, key id of the signing node
    data_as_of: int | None = None
    data_age_days: int | None = None

    def as_dict(self, lang: str = "en") -> dict[str, Any]:
        pick = 0 if lang == "zh" else 1
        return {"valid": self.valid, "reason": self.reason[pick], "reason_zh": self.reason[0], "reason_en": self.reason[1],
                "claims": self.claims.as_dict() if self.claims else None, "issuer": self.issuer,
                "data_as_of": self.data_as_of, "data_age_days": self.data_age_days,
                "data_age": age_text(self.data_age_days)[pick]}


def age_text(days: int | None) -> Reason:
    if days is None:
        return "尚未从上级收到吊销信息", "no revocations received from the parent yet"
    if days <= 0:
        return "吊销信息为最新（今天）", "revocations as of today"
    return f"吊销信息截至 {days} 天前", f"revocations as of {days} days ago"


VALID: Reason = ("电子证照有效", "the e-certificate is valid")


def verify(text: object, trust: Trust, now: int) -> Verdict:
    """The verdict on a YM1 text (or its bytes) at Unix time `now`. Never raises on bad
    input: a text that does not decode is an invalid verdict with the reason."""
    as_of = trust.data_as_of()
    age = None if as_of is None else max(0, (now - as_of) // 86400)
    try:
        parsed = credential.decode(text)
    except BadCredential as e:
        return Verdict(False, (e.zh, e.en), data_as_of=as_of, data_age_days=age)
    verdict = Verdict(False, VALID, parsed.claims, data_as_of=as_of, data_age_days=age)
    failed = _first_failure(parsed, trust, now, verdict)
    verdict.valid, verdict.reason = failed is None, failed or VALID
    return verdict


def _first_failure(parsed: credential.Parsed, trust: Trust, now: int, verdict: Verdict) -> Reason | None:
    c = parsed.claims
    cert = trust.certificate(parsed.key_id)
    if cert is None:
        return (f"签名密钥 {parsed.key_id.hex()} 不在本节点的信任名单中",
                f"the signing key {parsed.key_id.hex()} is not in this node's trust list")
    verdict.issuer = {"region": cert.region, "name": cert.name, "key_id": parsed.key_id.hex()}
    if cert.region != c.issuer:
        return (f"签名密钥属于 {cert.region}，不属于签发机构 {c.issuer}",
                f"the signing key belongs to {cert.region}, not to the issuer {c.issuer}")
    if not credential.check_signature(parsed, cert.signing_key):
        return "签名无效：内容被改动或不是该机构签发", "bad signature: altered, or not signed by the issuer"
    if c.issued_at > cert.not_after:
        return "签发时间晚于签发节点证书的有效期", "issued after the issuing node's certificate expired"
    return _key_failure(parsed, trust) or _revoked(c, trust) or _expired(c, now)


def _key_failure(parsed: credential.Parsed, trust: Trust) -> Reason | None:
    c = parsed.claims
    revoked = trust.key_revoked_at(c.issuer, parsed.key_id)
    if revoked is not None:
        at, why_zh, why = revoked
        if at is None or c.issued_at >= at:
            return (f"签发节点 {c.issuer} 的密钥已于签发前被吊销（{why_zh}）",
                    f"the key of issuer {c.issuer} was revoked before this was issued ({why})")
    cut = trust.key_cut(c.issuer, parsed.key_id)
    seals = trust.carrying_seals(c.cert_id, c.issuer) if cut is not None else None
    if seals and min(seals) > cut:
        return (f"该证照所属文档在签发节点密钥停用（签封 #{cut}）之后才签封",
                f"its document was sealed after the issuer's key was cut (after seal #{cut})")
    return None


def _revoked(c: Claims, trust: Trust) -> Reason | None:
    entry = trust.credential_revoked(c.issuer, c.cert_id)
    if entry is None:
        return None
    reason = str(entry.get("reason", ""))
    return (f"电子证照已被吊销：{entry.get('reason_zh') or reason}", f"the e-certificate has been revoked: {reason}")


def _expired(c: Claims, now: int) -> Reason | None:
    if not c.valid_until:
        return None
    today = datetime.datetime.fromtimestamp(now, datetime.timezone(datetime.timedelta(hours=8))).date()
    if today > datetime.date.fromisoformat(c.valid_until):
        return f"电子证照已过有效期（{c.valid_until}）", f"the e-certificate expired on {c.valid_until}"
    return None
