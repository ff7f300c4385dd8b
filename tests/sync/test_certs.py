"""Node certificates: what `issue` signs `verify` accepts, and every damaged, forged or
misplaced certificate is refused with its own error, in the fixed order (signature →
issuer is the parent → scope within the issuer's → validity → not revoked)."""

from __future__ import annotations

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from yimen.sync import certs
from yimen.sync.certs import (BadCertificate, Certificate, CertificateExpired, CertificateRevoked, NotIssuedByParent,
                              OutOfScope)
from yimen.sync.engine import public_bytes

CITY, DISTRICT, TOWN, VILLAGE = "440600000000", "440608000000", "440608100000", "440608100201"
OTHER_DISTRICT = "440607000000"
KEYS = {n: Ed25519PrivateKey.generate() for n in (CITY, DISTRICT, TOWN, VILLAGE, OTHER_DISTRICT)}
NOW, YEAR = 1_800_000_000, 365 * 86400


def public(node: str, key: Ed25519PrivateKey | None = None) -> dict[str, str]:
    return {"public_key": public_bytes(key or KEYS[node]).hex(), "encryption_key": "age1" + "q" * 58,
            "tls_fingerprint": "ab" * 32}


def cert(issuer: str, subject: str, key: Ed25519PrivateKey | None = None, not_before: int = NOW - 10,
         not_after: int = NOW + YEAR, issuer_key: Ed25519PrivateKey | None = None) -> Certificate:
    return certs.issue(issuer_key or KEYS[issuer], issuer, subject, "某节点", public(subject, key), not_before, not_after)


class Ring:
    """The issuers a verifier knows, by key id (as `KeyRing.certificate`)."""

    def __init__(self, *held: Certificate):
        self.held = {c.key_id: c for c in held}

    def certificate(self, kid: bytes) -> Certificate | None:
        return self.held.get(kid)


ROOT = cert(CITY, CITY)
D_CERT = cert(CITY, DISTRICT)
T_CERT = cert(DISTRICT, TOWN)
V_CERT = cert(TOWN, VILLAGE)
RING = Ring(ROOT, D_CERT, T_CERT)


def test_a_chain_verifies_from_the_pinned_root_down():
    assert certs.verify(ROOT.raw, Ring(), NOW, pinned_root=True) == ROOT
    for c in (D_CERT, T_CERT, V_CERT):
        got = certs.verify(c.raw, RING, NOW)
        assert got == c and got.raw == c.raw  # the exact bytes are what is kept
    assert V_CERT.key_id == certs.key_id(public_bytes(KEYS[VILLAGE])) and len(V_CERT.key_id) == certs.KEY_ID_BYTES
    assert (V_CERT.region, V_CERT.issuer, V_CERT.issuer_key_id) == (VILLAGE, TOWN, T_CERT.key_id)


@settings(max_examples=300)
@given(st.data())
def test_any_changed_byte_fails_verification(data):
    raw = bytearray(V_CERT.raw)
    i = data.draw(st.integers(0, len(raw) - 1), label="at")
    raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(BadCertificate):
        certs.verify(bytes(raw), RING, NOW)


@given(st.binary(max_size=3000))
def test_any_bytes_are_a_certificate_or_a_bad_one(raw):
    try:
        certs.verify(raw, RING, NOW)
    except BadCertificate as e:
        assert e.zh and e.en


@given(st.lists(st.none() | st.booleans() | st.integers(-2, 2**41) | st.text(max_size=14) | st.binary(max_size=40),
                min_size=11, max_size=11))
def test_a_body_of_any_fields_is_refused_as_malformed_never_an_exception(fields):
    body = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(BadCertificate):
        certs.parse(msgpack.packb([body, bytes(64)], use_bin_type=True))


def test_a_forged_certificate_is_refused():
    forger = Ed25519PrivateKey.generate()
    forged = certs.issue(forger, TOWN, VILLAGE, "伪造", public(VILLAGE), NOW - 10, NOW + YEAR)
    with pytest.raises(BadCertificate, match="issued by an unknown key"):
        certs.verify(forged.raw, RING, NOW)
    # naming the town's key id, signed by another: the signature does not hold
    body, _ = msgpack.unpackb(V_CERT.raw, raw=False)
    with pytest.raises(BadCertificate, match="bad signature") as e:
        certs.verify(msgpack.packb([body, forger.sign(certs.CONTEXT + body)], use_bin_type=True), RING, NOW)
    assert type(e.value) is BadCertificate and "签名无效" in e.value.zh


def test_a_self_issued_certificate_is_taken_only_as_the_pinned_root():
    selfie = cert(VILLAGE, VILLAGE)
    with pytest.raises(BadCertificate, match="unknown key"):
        certs.verify(selfie.raw, RING, NOW)
    assert certs.verify(ROOT.raw, RING, NOW) == ROOT  # the root, known already, is itself


def test_a_certificate_from_a_non_parent_is_refused():
    from_grandparent = cert(DISTRICT, VILLAGE)
    with pytest.raises(NotIssuedByParent, match="not issued by its parent") as e:
        certs.verify(from_grandparent.raw, RING, NOW)
    assert "上级" in e.value.zh
    # the issuer field says the town, the signature is the district's
    lying = certs.issue(KEYS[DISTRICT], TOWN, VILLAGE, "", public(VILLAGE), NOW, NOW + YEAR)
    with pytest.raises(BadCertificate):
        certs.verify(lying.raw, RING, NOW)


def test_a_scope_outside_the_issuers_is_refused():
    """A district certifying a town of another district. (For one step down the tree the
    parent check implies the scope check; the scope check stays, in the design's order, for
    the root, whose region is its own.)"""
    town_elsewhere = certs.issue(KEYS[DISTRICT], DISTRICT, "440607100000", "", public(VILLAGE), NOW, NOW + YEAR)
    with pytest.raises(NotIssuedByParent):
        certs.verify(town_elsewhere.raw, RING, NOW)
    assert issubclass(OutOfScope, BadCertificate) and OutOfScope.__doc__


@pytest.mark.parametrize("not_before, not_after", [(NOW - 2 * YEAR, NOW - 1), (NOW + 1, NOW + YEAR)])
def test_an_expired_or_not_yet_valid_certificate_is_refused(not_before, not_after):
    with pytest.raises(CertificateExpired, match="not valid now") as e:
        certs.verify(cert(TOWN, VILLAGE, not_before=not_before, not_after=not_after).raw, RING, NOW)
    assert "有效期" in e.value.zh


def test_a_revoked_key_is_refused_last():
    revoked = {(V_CERT.key_id, VILLAGE)}
    with pytest.raises(CertificateRevoked, match="revoked") as e:
        certs.verify(V_CERT.raw, RING, NOW, lambda kid, node: (kid, node) in revoked)
    assert "吊销" in e.value.zh
    # an expired certificate of a revoked key says it is expired: the order is fixed
    old = cert(TOWN, VILLAGE, not_before=NOW - 2 * YEAR, not_after=NOW - 1)
    with pytest.raises(CertificateExpired):
        certs.verify(old.raw, RING, NOW, lambda kid, node: True)


def test_a_rotation_certificate_names_the_key_it_retires():
    new = Ed25519PrivateKey.generate()
    c = certs.issue(KEYS[TOWN], TOWN, VILLAGE, "", public(VILLAGE, new), NOW, NOW + YEAR, (V_CERT.key_id, 41))
    assert certs.verify(c.raw, RING, NOW).retires == (V_CERT.key_id, 41)
