"""The YM1 e-certificate format: round trips, tampering, hostile input, size."""

from __future__ import annotations

import zlib

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, strategies as st

from support import id_number
from yimen.personal_space import credential, credential_qr
from yimen.personal_space.credential import BadCredential, Claims
from yimen.schema.doc_types import DOC_TYPES
from yimen.sync import certs

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()
ISSUERS = ("440608100201", "440608100000", "440608000000", "440600000000")
BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def claims(**kw) -> Claims:
    fields = dict(cert_id="440608100201-D2026-000123", issuer="440608100201", doc_type="marriage_certificate",
                  holder_name="王小明", id_number=id_number(45), case_id="440608100201-2026-000045",
                  issued_at=1_790_000_000, issued_on="2026-09-21", valid_until="")
    return credential.claims_for(**{**fields, **kw})


def text_of(c: Claims) -> str:
    return credential.to_text(credential.sign(c, KEY))


names = st.text(st.characters(codec="utf-8", categories=("Lo", "Lu", "Ll")), min_size=1, max_size=12)
codes = st.one_of(st.sampled_from(sorted(DOC_TYPES)), st.from_regex(r"[a-z][a-z_]{0,30}", fullmatch=True))
any_claims = st.builds(
    lambda issuer, seq, kind, name, case, iat, days, span, birth, salt: claims(
        cert_id=f"{issuer}-D2026-{seq:06d}", issuer=issuer, doc_type=kind, holder_name=name,
        case_id="" if not case else f"{issuer if case == 1 else '440608100202'}-2026-{seq:06d}", issued_at=iat,
        issued_on=credential._iso(days), valid_until=credential._iso(days + span) if span else "",
        id_number=id_number(seq, birth), salt=salt),
    st.sampled_from(ISSUERS), st.integers(1, 999_999), codes, names, st.sampled_from([0, 1, 2]),
    st.integers(0, 2**40 - 1), st.integers(0, 40_000), st.integers(0, 20_000),
    st.dates(min_value=__import__("datetime").date(1930, 1, 1), max_value=__import__("datetime").date(2020, 12, 31))
    .map(lambda d: d.strftime("%Y%m%d")), st.binary(min_size=8, max_size=8))


@given(any_claims)
def test_any_claims_round_trip_and_verify(c):
    parsed = credential.decode(text_of(c))
    assert parsed.claims == c
    assert parsed.key_id == certs.key_id(PUBLIC)
    assert credential.check_signature(parsed, PUBLIC)
    assert not credential.check_signature(parsed, Ed25519PrivateKey.generate().public_key().public_bytes_raw())


TEXT = text_of(claims())


@given(st.integers(0, len(TEXT) - 1), st.one_of(st.sampled_from(BASE45), st.characters()))
def test_any_changed_character_never_passes(i, ch):
    assume(ch != TEXT[i])
    changed = TEXT[:i] + ch + TEXT[i + 1:]
    try:
        parsed = credential.decode(changed)
    except BadCredential:
        return
    assert not credential.check_signature(parsed, PUBLIC)


def _text_of_bytes(raw: bytes) -> str:
    return credential.PREFIX + base45.b45encode(raw).decode()


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-10, 10) | st.text(max_size=3), inner, max_size=5),
    max_leaves=20)


def _sign1_of(payload: object) -> bytes:
    """A COSE_Sign1-shaped structure around any CBOR value (unsigned: the shape is what is tested)."""
    return cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: b"k" * 8}), {}, cbor2.dumps(payload), b"s" * 64]))


@given(st.one_of(
    st.text(max_size=400), st.binary(max_size=400),
    st.text(alphabet=BASE45, max_size=400).map(lambda t: credential.PREFIX + t),
    st.binary(max_size=600).map(_text_of_bytes),
    st.binary(max_size=600).map(lambda b: _text_of_bytes(zlib.compress(b))),
    cbor_values.map(lambda v: _text_of_bytes(cbor2.dumps(v))),
    cbor_values.map(lambda v: _text_of_bytes(_sign1_of(v))),
    cbor_values.map(lambda v: _text_of_bytes(_sign1_of({**credential.to_map(claims()), -1: v}))),
    st.integers(), st.none()))
def test_decode_raises_only_its_own_error(garbage):
    try:
        parsed = credential.decode(garbage)
    except BadCredential as e:
        assert e.zh and e.en
        return
    assert not credential.check_signature(parsed, PUBLIC)


def test_the_cose_bytes_themselves_decode_too():
    c = claims()
    cose = credential.sign(c, KEY)
    assert credential.decode(cose).claims == c
    assert credential.decode(credential.to_text(cose).encode()).cose == cose


def test_decompression_is_bounded():
    bomb = _text_of_bytes(zlib.compress(b"\0" * 500_000, 9))
    assert len(bomb) < credential.MAX_TEXT
    with pytest.raises(BadCredential, match="zlib"):
        credential.decode(bomb)


def test_deep_nesting_is_a_bad_credential():
    with pytest.raises(BadCredential):
        credential.decode(_text_of_bytes(b"\x81" * 700 + b"\x00"))


def test_a_typical_certificate_fits_a_version_12_qr_code_at_level_q():
    long = claims(doc_type="subsistence_certificate", holder_name="欧阳小明明", valid_until="2031-09-21")
    text = text_of(long)
    assert len(text) <= 300
    assert credential_qr.qr(text).version <= 12 and credential_qr.qr(text).error == "Q"


def test_the_holder_is_checked_by_the_full_id_number_and_the_city_key_only():
    key = bytes(range(32))
    c = claims(city_key=key)
    assert credential.holder_matches(c, id_number(45), key)
    assert not credential.holder_matches(c, id_number(46), key)
    assert not credential.holder_matches(c, "not a number", key)
    # whoever photographs the QR and guesses every birth date behind the mask, without the key, finds nothing
    assert not credential.holder_matches(c, id_number(45)) and not credential.holder_matches(c, id_number(45), bytes(32))
    assert c.holder_masked == id_number(45)[:6] + "*" * 8 + id_number(45)[-4:]
    assert id_number(45) not in repr(cbor2.loads(credential.decode(text_of(c)).cose))


def test_a_type_code_after_v1_travels_as_text():
    c = claims(doc_type="result_business_licence")
    assert credential.decode(text_of(c)).claims.doc_type == "result_business_licence"
    assert set(DOC_TYPES) <= set(credential.TYPES_V1)


@pytest.mark.parametrize("bad", [dict(id_number="123"), dict(issuer="abc"), dict(holder_name=""),
                                 dict(issued_on="2026-13-01"), dict(issued_on=""), dict(valid_until="2020-01-01"), dict(cert_id="a b")])
def test_bad_claims_are_refused_when_made(bad):
    with pytest.raises(Exception) as e:
        claims(**bad)
    assert hasattr(e.value, "zh") and hasattr(e.value, "en")


def test_a_qr_png_reads_back(tmp_path):
    path = tmp_path / "cert.png"
    path.write_bytes(credential_qr.qr_png(TEXT))
    assert credential_qr.read_image(path) == TEXT
    svg = credential_qr.qr_svg(TEXT)
    assert svg.startswith(b"<?xml") and b"<svg" in svg


def test_a_picture_without_a_code_or_not_a_picture(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    for path in (blank, junk):
        with pytest.raises(credential_qr.NoQrCode) as e:
            credential_qr.read_image(path)
        assert e.value.zh and e.value.en
    with pytest.raises(FileNotFoundError):
        credential_qr.read_image(tmp_path / "missing.png")
