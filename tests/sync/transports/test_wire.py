"""Wire format: msgpack+zlib bodies round-trip and bad bodies raise only WireError (with a
bounded expansion); signed requests verify, and any change, wrong key, stale time or
another recipient is refused; the protocol check."""

from __future__ import annotations

import zlib

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from yimen.sync.engine import public_bytes
from yimen.sync.errors import SyncError
from yimen.sync.transports import wire
from yimen.sync.transports.wire import MAX_EXPANDED, MAX_SKEW_S, PROTOCOL, WireError

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PUB = public_bytes(KEY)
VILLAGE = "440608100201"
TOWN = "440608100000"
NOW = 1_795_000_000.0
PATH = "/sync/push"

scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
           | st.text(max_size=20) | st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=25)
messages = st.dictionaries(st.text(max_size=12), values, max_size=8)


def unpack_or_error(body) -> dict | None:
    try:
        return wire.unpack(body)
    except WireError as e:
        assert e.code in wire.ERROR_STATUS
        return None


# -------------------------------------------------------------------------- bodies

@given(messages)
def test_unpack_gives_back_what_pack_packed(message):
    got = wire.unpack(wire.pack(message))
    assert got == message
    assert msgpack.packb(got, use_bin_type=True) == msgpack.packb(message, use_bin_type=True)  # types kept


def test_pack_keeps_bytes_and_str_apart_and_seals_intact():
    seal_bytes = bytes(range(256))
    message = {"protocol": PROTOCOL, "seals": [[seal_bytes, b"\0" * 64]], "from": VILLAGE,
               "n": 2**64 - 1, "neg": -2**63, "f": 0.5, "ok": True, "none": None, "nested": {"a": [1, "x"]}}
    got = wire.unpack(wire.pack(message))
    assert got == message
    assert type(got["seals"][0][0]) is bytes and type(got["from"]) is str


def test_pack_compresses():
    message = {"seals": [[b"same bytes " * 100, b"s" * 64]] * 50}
    assert len(wire.pack(message)) < len(msgpack.packb(message, use_bin_type=True)) / 10


@given(st.binary(max_size=500))
def test_unpack_of_arbitrary_bytes_raises_only_wire_error(body):
    unpack_or_error(body)


@given(values)
def test_unpack_of_compressed_values_is_a_map_or_bad_request(value):
    body = zlib.compress(msgpack.packb(value, use_bin_type=True))
    if isinstance(value, dict):
        assert wire.unpack(body) == value
    else:
        with pytest.raises(WireError) as e:
            wire.unpack(body)
        assert e.value.code == "bad_request"


@given(messages, st.data())
def test_unpack_of_damaged_bodies_raises_only_wire_error(message, data):
    raw = bytearray(msgpack.packb(message, use_bin_type=True))
    if raw:
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[:data.draw(st.integers(0, len(raw)))]
    unpack_or_error(zlib.compress(bytes(raw)))
    body = wire.pack(message)
    unpack_or_error(body[:data.draw(st.integers(0, len(body)))])


@pytest.mark.parametrize("raw", [
    msgpack.packb([1, 2]), msgpack.packb("map"), msgpack.packb(None), msgpack.packb(7),
    msgpack.packb({1: "int key"}), msgpack.packb({"a": 1}) + b"\x00", b"\xa3\xff\xfe\xfd", b"",
    msgpack.packb({"a": [1, 2, 3]})[:-1],
], ids=["list", "str", "nil", "int", "int-key", "extra-data", "bad-utf8", "empty", "short"])
def test_unpack_refuses_what_is_not_one_string_keyed_map(raw):
    with pytest.raises(WireError) as e:
        wire.unpack(zlib.compress(raw))
    assert e.value.code == "bad_request"
    assert wire.ERROR_STATUS[e.value.code] == 400


@pytest.mark.parametrize("body", [b"", b"plain msgpack? no", msgpack.packb({"a": 1}), "text", None, 5])
def test_unpack_refuses_bodies_that_are_not_zlib_bytes(body):
    with pytest.raises(WireError) as e:
        wire.unpack(body)
    assert e.value.code == "bad_request"


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_deeply_nested_body_is_bad_request(depth):
    """Nesting costs the sender a byte a level: the unpacker's own stack bound refuses it."""
    raw = b"\x81\xa1a" + b"\x91" * depth + b"\xc0"  # {"a": [[[...[nil]...]]]}
    with pytest.raises(WireError) as e:
        wire.unpack(zlib.compress(raw))
    assert e.value.code == "bad_request"


def test_unpack_refuses_a_truncated_stream_at_every_length():
    """A zlib stream cut short may still inflate to a whole msgpack map (here at most cuts
    of the checksum): only a whole stream is a body."""
    body = wire.pack({"protocol": PROTOCOL, "seals": []})
    for n in range(len(body)):
        with pytest.raises(WireError) as e:
            wire.unpack(body[:n])
        assert e.value.code == "bad_request"


@pytest.mark.parametrize("tail", [b"\0", b"trailing", zlib.compress(msgpack.packb({"b": 2}))],
                         ids=["nul", "text", "stream"])
def test_unpack_refuses_bytes_after_the_stream(tail):
    with pytest.raises(WireError) as e:
        wire.unpack(wire.pack({"a": 1}) + tail)
    assert e.value.code == "bad_request"


def test_a_small_body_expanding_past_the_limit_is_body_too_large():
    bomb = zlib.compress(b"\0" * (MAX_EXPANDED + 1024), 9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(WireError) as e:
        wire.unpack(bomb)
    assert e.value.code == "body_too_large"
    assert wire.ERROR_STATUS["body_too_large"] == 413


def test_a_message_expanding_to_exactly_the_limit_is_accepted_one_byte_more_is_not():
    header = len(msgpack.packb({"x": b"\0" * 70_000}, use_bin_type=True)) - 70_000  # map, key, bin32 header
    exact = {"x": b"\0" * (MAX_EXPANDED - header)}
    assert len(msgpack.packb(exact, use_bin_type=True)) == MAX_EXPANDED
    assert len(wire.unpack(wire.pack(exact))["x"]) == MAX_EXPANDED - header
    with pytest.raises(WireError) as e:
        wire.unpack(wire.pack({"x": b"\0" * (MAX_EXPANDED - header + 1)}))
    assert e.value.code == "body_too_large"


# -------------------------------------------------------------------------- signed requests

def signed(method="POST", path=PATH, body=b"body", now=NOW, key=KEY, to=TOWN) -> dict[str, str]:
    return wire.sign_request(key, VILLAGE, to, method, path, body, now=now)


def refusal(headers, method="POST", path=PATH, body=b"body", now=NOW, key=PUB, me=TOWN) -> str:
    with pytest.raises(WireError) as e:
        wire.verify_request(key, headers, method, path, body, me, now=now)
    assert 400 <= wire.ERROR_STATUS[e.value.code] < 500
    return e.value.code


def test_sign_request_headers():
    h = signed()
    assert h["X-Yimen-Node"] == VILLAGE and h["X-Yimen-To"] == TOWN
    assert h["X-Yimen-Time"] == str(int(NOW))
    assert len(bytes.fromhex(h["X-Yimen-Nonce"])) == wire.NONCE_BYTES
    assert len(bytes.fromhex(h["X-Yimen-Signature"])) == 64
    assert h["Content-Type"] == wire.CONTENT_TYPE


def test_each_signing_draws_a_new_nonce():
    nonces = {signed()["X-Yimen-Nonce"] for _ in range(50)}
    assert len(nonces) == 50


@given(st.sampled_from(["GET", "POST", "PUT"]), st.text(min_size=1, max_size=40), st.binary(max_size=200),
       st.integers(0, 2**39))
def test_a_signed_request_verifies_and_tells_who_sent_it_to_whom(method, path, body, now):
    h = wire.sign_request(KEY, VILLAGE, TOWN, method, path, body, now=now)
    for at in (now, now + MAX_SKEW_S, now - MAX_SKEW_S):
        stamp = wire.verify_request(PUB, h, method, path, body, TOWN, now=at)
        assert stamp == wire.RequestStamp(VILLAGE, TOWN, now, bytes.fromhex(h["X-Yimen-Nonce"]))


def test_sign_request_uses_the_clock_when_no_time_is_given():
    import time
    h = wire.sign_request(KEY, VILLAGE, TOWN, "POST", PATH, b"body")
    assert abs(int(h["X-Yimen-Time"]) - time.time()) < 5
    wire.verify_request(PUB, h, "POST", PATH, b"body", TOWN)


def test_verify_request_reads_case_insensitive_headers():
    """As aiohttp hands them over: header names in any case."""
    h = CIMultiDict({k.lower(): v for k, v in signed().items()})
    wire.verify_request(PUB, h, "POST", PATH, b"body", TOWN, now=NOW)


def test_a_request_signed_by_another_key_is_refused():
    assert refusal(signed(key=OTHER)) == "bad_signature"
    assert refusal(signed(), key=public_bytes(OTHER)) == "bad_signature"


@pytest.mark.parametrize("change", [
    {"body": b"bodY"}, {"body": b""}, {"body": b"body\0"}, {"path": "/sync/pull"}, {"path": PATH + "/"},
    {"method": "GET"}, {"method": "post"},
])
def test_a_changed_body_path_or_method_is_refused(change):
    assert refusal(signed(), **change) == "bad_signature"


@given(st.binary(max_size=100), st.data())
def test_any_flipped_body_byte_is_refused(body, data):
    h = signed(body=body)
    if body:
        i = data.draw(st.integers(0, len(body) - 1))
        changed = body[:i] + bytes([body[i] ^ data.draw(st.integers(1, 255))]) + body[i + 1:]
    else:
        changed = b"\0"
    assert refusal(h, body=changed) == "bad_signature"


@pytest.mark.parametrize("header, value", [
    ("X-Yimen-Time", str(int(NOW) + 1)), ("X-Yimen-Nonce", "00" * wire.NONCE_BYTES),
    ("X-Yimen-Node", "440608100202"), ("X-Yimen-To", "440608200000"),
])
def test_a_changed_signed_header_is_refused(header, value):
    """The time, the nonce, the sender and the recipient are all signed: a recipient changed
    to this node's id (to aim a request signed for another node here) does not verify."""
    h = signed(to="440608200000") if header == "X-Yimen-To" else signed()
    h[header] = TOWN if header == "X-Yimen-To" else value
    assert refusal(h) == "bad_signature"


@pytest.mark.parametrize("recipient", ["440608200000", "440608000000", "", VILLAGE])
def test_a_request_signed_for_another_node_is_refused_as_misdirected(recipient):
    """Captured on its way to one node and sent to another, a request is refused there."""
    assert refusal(signed(to=recipient)) == "wrong_recipient"
    assert wire.ERROR_STATUS["wrong_recipient"] == 421


@pytest.mark.parametrize("offset", [MAX_SKEW_S + 1, -(MAX_SKEW_S + 1), 86_400, -86_400])
def test_a_stale_request_is_refused(offset):
    h = signed(now=NOW + offset)
    assert refusal(h) == "stale_request"


def test_a_stale_request_is_refused_before_its_signature_is_checked():
    h = signed(now=NOW - 10 * MAX_SKEW_S, key=OTHER)
    assert refusal(h) == "stale_request"


@pytest.mark.parametrize("change", [
    {},
    {"X-Yimen-Signature": None},
    {"X-Yimen-Time": None},
    {"X-Yimen-Nonce": None},
    {"X-Yimen-Time": "soon"},
    {"X-Yimen-Time": ""},
    {"X-Yimen-Time": f"{NOW:.1f}"},
    {"X-Yimen-Time": f"+{int(NOW)}"},
    {"X-Yimen-Time": f"{int(NOW):_}"},
    {"X-Yimen-Time": f" {int(NOW)}"},
    {"X-Yimen-Time": str(int(NOW)).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))},
    {"X-Yimen-Time": "0" * 13},
    {"X-Yimen-Signature": "zz" * 64},
    {"X-Yimen-Signature": "abc"},
    {"X-Yimen-Signature": ""},
    {"X-Yimen-Nonce": "zz" * wire.NONCE_BYTES},
    {"X-Yimen-Nonce": "00" * (wire.NONCE_BYTES - 1)},
    {"X-Yimen-Nonce": "00" * (wire.NONCE_BYTES + 1)},
    {"X-Yimen-Nonce": ""},
], ids=["zero-signature", "no-signature", "no-time", "no-nonce", "word-time",
        "empty-time", "float-time", "plus-time", "underscore-time", "space-time", "arabic-digit-time",
        "13-digit-time", "non-hex", "odd-hex", "empty-signature", "non-hex-nonce",
        "short-nonce", "long-nonce", "empty-nonce"])
def test_malformed_signature_headers_are_refused(change):
    """A request with a zero signature, and each header in turn missing or malformed."""
    h = signed()
    h["X-Yimen-Signature"] = "00" * 64
    for k, v in change.items():
        if v is None:
            del h[k]
        else:
            h[k] = v
    assert refusal(h) == "bad_signature"


def test_no_headers_at_all_are_refused():
    assert refusal({}) == "bad_signature"


@pytest.mark.parametrize("cut", [2, 64, 126])
def test_a_truncated_or_lengthened_signature_is_refused(cut):
    h = signed()
    short = dict(h, **{"X-Yimen-Signature": h["X-Yimen-Signature"][:cut]})
    assert refusal(short) == "bad_signature"
    longer = dict(h, **{"X-Yimen-Signature": h["X-Yimen-Signature"] + "00"})
    assert refusal(longer) == "bad_signature"


@given(st.dictionaries(st.sampled_from(["X-Yimen-Time", "X-Yimen-Signature", "X-Yimen-Node", "X-Yimen-To",
                                        "X-Yimen-Nonce"]),
                       st.text(max_size=140) | st.from_regex(r"[0-9]{0,500}", fullmatch=True)),
       st.binary(max_size=20))
def test_verify_request_of_arbitrary_headers_raises_only_wire_error(headers, public_key):
    for key in (PUB, public_key):
        with pytest.raises(WireError) as e:
            wire.verify_request(key, headers, "POST", PATH, b"body", TOWN, now=NOW)
        assert e.value.code in ("bad_signature", "stale_request")


@given(st.data())
def test_a_signed_request_with_one_header_replaced_raises_only_wire_error(data):
    """Structured mutations of a valid request: one header replaced by anything."""
    h = signed()
    name = data.draw(st.sampled_from(sorted(h)))
    h[name] = data.draw(st.text(max_size=200) | st.from_regex(r"[0-9a-f]{0,300}", fullmatch=True))
    try:
        wire.verify_request(PUB, h, "POST", PATH, b"body", TOWN, now=NOW)
    except WireError as e:
        assert e.code in ("bad_signature", "stale_request", "wrong_recipient")


def test_a_huge_time_stamp_is_refused_as_a_wire_error():
    """Only the sender's name need be enrolled to send this header (checked before the key):
    a 400-digit time once raised OverflowError (an HTTP 500)."""
    h = signed()
    h["X-Yimen-Time"] = "9" * 400
    assert refusal(h) == "bad_signature"


# -------------------------------------------------------------------------- protocol

def test_check_protocol_accepts_this_protocol():
    wire.check_protocol({"protocol": PROTOCOL, "seals": []})


@pytest.mark.parametrize("message", [
    {}, {"protocol": None}, {"protocol": PROTOCOL + 1}, {"protocol": 0}, {"protocol": str(PROTOCOL)},
    {"protocol": float(PROTOCOL)}, {"protocol": True}, {"protocol": [PROTOCOL]},
])
def test_check_protocol_refuses_anything_else(message):
    with pytest.raises(WireError) as e:
        wire.check_protocol(message)
    assert e.value.code == "unsupported_protocol"
    assert e.value.extra == {"supported": [PROTOCOL]}
    assert wire.ERROR_STATUS[e.value.code] == 400
    assert str(PROTOCOL) in e.value.en


def test_wire_error_carries_its_code_and_extras():
    e = WireError("out_of_order", "批次不连续", "resend", recv_upto=3)
    assert isinstance(e, SyncError)
    assert (e.code, e.en, e.extra) == ("out_of_order", "resend", {"recv_upto": 3})
    assert WireError.code == "bad_request"
    assert all(400 <= s < 500 for s in wire.ERROR_STATUS.values())
