"""Enrollment's input checks: an online enrollment body is bounded (nesting, types,
lengths) before anything reads it as a request; the nesting count agrees with the parsed
value for any JSON; a malformed request is told apart from a refusal (which names the
node's state and so is answered alike online); invitation codes are not guessable."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yimen.node import home
from yimen.node.services import enrollment
from yimen.node.services.enrollment import EnrollmentRefused, MalformedEnrollment

TOWN, VILLAGE = "440608100", "440608100201"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('[]{}"\\,:'), max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(json_values, st.booleans())
def test_json_depth_is_the_nesting_of_the_parsed_value(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert enrollment.json_depth(text) == depth(value)


@given(st.text(max_size=200))
def test_json_depth_of_any_text_never_fails(text):
    assert enrollment.json_depth(text) >= 0


@pytest.fixture
def town(tmp_path):
    node = home.init(tmp_path / "town", TOWN, "荷城街道")
    yield node
    node.close()


@pytest.fixture
def village(tmp_path):
    node = home.init(tmp_path / "village", VILLAGE, "示范A村")
    yield node
    node.close()


def body(req, code="abc") -> bytes:
    return json.dumps({"request": req, "code": code}, ensure_ascii=False).encode()


def test_a_well_formed_online_enrollment_is_read(village):
    req = enrollment.request(village, "http://127.0.0.1:8711")
    assert enrollment.read_online(body(req, "  abc ")) == (req, "  abc ")


@pytest.mark.parametrize("raw", [
    b"", b"{", b"null", b"[]", b'"text"', b'{"request": {}}', b'{"code": "x"}', b'{"request": [], "code": "x"}',
    b'{"request": {}, "code": 5}', b'{"request": {}, "code": null}', b'{"request": {}, "code": ""}',
    b'{"request": {}, "code": "' + b"x" * 65 + b'"}', b"\xff\xfe", b'{"request": {}, "code": "\xff"}',
    b'{"request": ' + b"[" * 5000 + b"]" * 5000 + b', "code": "x"}', b'{"request": {"a": [[[[1]]]]}, "code": "x"}',
    b'{"request": {}, "code": "x", "code": ["dup"]}',
])
def test_a_malformed_online_enrollment_is_malformed(raw):
    with pytest.raises(MalformedEnrollment) as e:
        enrollment.read_online(raw)
    assert e.value.code == "bad_request"


@pytest.mark.parametrize("change", [
    {"type": "enroll_answer"}, {"protocol": 2}, {"protocol": "1"}, {"protocol": True}, {"protocol": 1.0},
    {"region": 440608100201}, {"region": "4406081002x1"}, {"region": "1" * 13}, {"region": None},
    {"name": ["a"]}, {"name": "村" * 101}, {"address": 8711}, {"address": "h" * 301},
    {"public_key": "zz" * 32}, {"public_key": "00" * 31}, {"public_key": "00" * 33}, {"public_key": 7},
    {"public_key": " " + "00" * 32},
])
def test_a_malformed_request_is_malformed_online_and_offline(town, village, change):
    req = {**enrollment.request(village), **change}
    with pytest.raises(MalformedEnrollment):
        enrollment.admit(town, req)
    with pytest.raises(MalformedEnrollment):
        enrollment.read_online(body(req))


def test_a_request_without_name_or_address_is_well_formed(town, village):
    req = enrollment.request(village)
    del req["name"], req["address"]
    assert enrollment.admit(town, req)["child"] == village.node_id


@pytest.mark.parametrize("region", ["440608200201", "440608100000", "440608"])
def test_a_region_that_is_no_child_is_a_refusal_not_malformed(town, village, region):
    """A region code that is well formed but not this node's child says something of this
    node, so it is a refusal (answered alike online), not a malformed request."""
    req = {**enrollment.request(village), "region": region}
    with pytest.raises(EnrollmentRefused) as e:
        enrollment.admit(town, req)
    assert not isinstance(e.value, MalformedEnrollment)


def test_invitation_codes_carry_at_least_96_random_bits_and_the_parents_pin(town):
    codes = [enrollment.split_code(enrollment.invite(town, VILLAGE)["code"]) for _ in range(20)]
    secrets = {secret for secret, _ in codes}
    assert len(secrets) == 20 and {pin for _, pin in codes} == {town.keys.tls_fingerprint}
    assert all(len(c) >= 16 and set(c) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
               for c in secrets)  # token_urlsafe(12): 16 characters of 6 bits


@given(secret=st.text(st.characters(blacklist_characters="."), max_size=40),
       pin=st.one_of(st.none(), st.text(max_size=80)))
def test_a_code_splits_into_its_secret_and_pin(secret, pin):
    code = secret if pin is None else f"{secret}.{pin}"
    got_secret, got_pin = enrollment.split_code(code)
    assert "." not in got_secret
    if pin is None or not pin.strip():
        assert got_pin is None or got_pin == pin.strip().lower()
    if pin is not None and secret == secret.strip() and pin == pin.strip():
        assert (got_secret, got_pin) == (secret, pin.lower() or None)
