"""Seals: what `seal.make` signs, `seal.decode` gives back and `seal.verify` accepts; every
damaged, forged or malformed seal is refused with BadSeal (never another exception)."""

from __future__ import annotations

import os
import zlib

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from yimen.schema import region
from yimen.sync import seal
from yimen.sync.certs import key_id
from yimen.sync.docs import KINDS
from yimen.sync.engine import public_bytes
from yimen.sync.seal import MAX_SEAL_BYTES, MAX_SEAL_CHANGES, PROTOCOL, BadSeal, Seal, SealedChange

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PUB, OTHER_PUB = public_bytes(KEY), public_bytes(OTHER)
KID = key_id(PUB)
VILLAGE = "440608100201"
EXPANDED_LIMIT = MAX_SEAL_BYTES + 64 * 1024  # what decode lets a body expand to
SIG = bytes(64)  # a signature's shape (decode does not check it verifies)
INT64 = 2**63 - 1  # the largest integer SQLite stores

# -------------------------------------------------------------------------- strategies

int64 = st.integers(0, INT64)
doc_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x9FFF).filter(lambda c: c.isprintable()
                                                                                 and not c.isspace()),
                  min_size=1, max_size=seal.MAX_DOC_ID)


@st.composite
def region_codes(draw) -> str:
    """A region code in either written form: its 12 digits, or its significant prefix."""
    code = draw(st.sampled_from(sorted(region.PROVINCE_CODES)))
    for width in draw(st.sampled_from([(), (2,), (2, 2), (2, 2, 3), (2, 2, 3, 3)])):
        code += str(draw(st.integers(1, 10**width - 1))).zfill(width)
    return code.ljust(12, "0") if draw(st.booleans()) else code


@st.composite
def sealed_changes(draw) -> SealedChange:
    start = draw(st.integers(0, INT64 - 1))
    end = draw(st.integers(start + 1, INT64))
    return SealedChange(draw(doc_ids), draw(st.sampled_from(KINDS)), draw(int64), start, end,
                        draw(st.binary(max_size=300)))


headers = st.fixed_dictionaries({
    "author": region_codes(),
    "seq": st.integers(1, INT64),
    "scope": region_codes(),
    "flow": st.integers(0, 3),
})
change_lists = st.lists(sealed_changes(), min_size=1, max_size=6)

# any value msgpack can carry (str keys only: decode uses strict_map_key)
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=10) | st.binary(max_size=10),
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def good_change(**kw) -> list:
    row = {"doc_id": "d1", "kind": "case", "peer": 7, "start": 0, "end": 3, "blob": b"ops"}
    row.update(kw)
    return list(row.values())


def raw_body(*fields) -> bytes:
    """A body built by hand from the seven top-level fields, compressed as `encode` does."""
    return zlib.compress(msgpack.packb(list(fields), use_bin_type=True))


def header_body(**kw) -> bytes:
    f = {"v": PROTOCOL, "author": VILLAGE, "seq": 1, "scope": VILLAGE, "flow": 0, "kid": KID,
         "rows": [good_change()]}
    f.update(kw)
    return raw_body(*f.values())


def flip(data: bytes, i: int, mask: int) -> bytes:
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]


# -------------------------------------------------------------------------- round trips

@given(headers, change_lists)
def test_decode_gives_back_what_make_sealed(h, changes):
    made = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes)
    got = seal.decode(made.body, made.signature)
    assert isinstance(got, Seal)
    assert (got.author, got.seq, got.scope, got.flow, got.key_id) == (h["author"], h["seq"], h["scope"], h["flow"], KID)
    assert got.changes == tuple(changes)
    assert type(got.flow) is int and all(type(c.blob) is bytes for c in got.changes)
    assert (got.body, got.signature) == (made.body, made.signature)
    assert got == made
    seal.verify(got, PUB)


@given(headers, change_lists)
def test_encode_is_deterministic_and_the_body_is_what_is_signed(h, changes):
    body = seal.encode(h["author"], h["seq"], h["scope"], h["flow"], KID, changes)
    made = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes)
    assert made.body == body
    assert made.signature == seal.sign(KEY, body)  # Ed25519 is deterministic
    assert len(made.signature) == 64


@given(headers, change_lists)
def test_verify_refuses_another_key(h, changes):
    made = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes)
    with pytest.raises(BadSeal) as e:
        seal.verify(seal.decode(made.body, made.signature), OTHER_PUB)
    assert e.value.code == "bad_seal"
    assert f"{h['author']}#{h['seq']}" in e.value.en


@given(headers, change_lists, st.data())
def test_any_flipped_byte_of_the_body_is_refused(h, changes, data):
    made = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes)
    i = data.draw(st.integers(0, len(made.body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(BadSeal):
        seal.verify(seal.decode(flip(made.body, i, mask), made.signature), PUB)


@given(headers, change_lists, st.data())
def test_any_flipped_byte_of_the_signature_is_refused(h, changes, data):
    made = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes)
    i = data.draw(st.integers(0, len(made.signature) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    s = seal.decode(made.body, flip(made.signature, i, mask))  # the signature is not parsed
    with pytest.raises(BadSeal):
        seal.verify(s, PUB)


def test_verify_refuses_a_truncated_or_empty_signature_and_a_malformed_key():
    made = seal.make(KEY, VILLAGE, 1, VILLAGE, False, [SealedChange("d1", "case", 7, 0, 3, b"ops")])
    for sig in (made.signature[:-1], b"", made.signature + b"\0"):
        with pytest.raises(BadSeal):
            seal.verify(seal.decode(made.body, sig), PUB)
    for key in (PUB[:-1], b"", PUB + b"\0"):
        with pytest.raises(BadSeal):
            seal.verify(made, key)


def test_verify_binds_the_signing_context():
    """A signature over the bare body (no SIGNING_CONTEXT) does not verify."""
    made = seal.make(KEY, VILLAGE, 1, VILLAGE, False, [SealedChange("d1", "case", 7, 0, 3, b"ops")])
    with pytest.raises(BadSeal):
        seal.verify(seal.decode(made.body, KEY.sign(made.body)), PUB)


def test_the_limits_in_changes_are_inclusive():
    one = SealedChange("d", "case", 1, 0, 1, b"")
    for changes in ([one], [one] * MAX_SEAL_CHANGES):
        made = seal.make(KEY, VILLAGE, 1, VILLAGE, False, changes)
        assert len(seal.decode(made.body, made.signature).changes) == len(changes)


def test_a_body_expanding_to_exactly_the_limit_is_accepted_one_byte_more_is_not():
    def rows(n: int) -> list:
        return [good_change(blob=b"\0" * n)]
    n = EXPANDED_LIMIT - 200
    while len(msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, 0, KID, rows(n)], use_bin_type=True)) < EXPANDED_LIMIT:
        n += 1
    assert len(msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, 0, KID, rows(n)], use_bin_type=True)) == EXPANDED_LIMIT
    assert len(seal.decode(raw_body(PROTOCOL, VILLAGE, 1, VILLAGE, 0, KID, rows(n)), SIG).changes[0].blob) == n
    with pytest.raises(BadSeal, match="too large when expanded"):
        seal.decode(raw_body(PROTOCOL, VILLAGE, 1, VILLAGE, 0, KID, rows(n + 1)), SIG)


# -------------------------------------------------------------------------- malformed input

@pytest.mark.parametrize("v", [0, 1, 3, -1, "2", None, b"\x02", [2]])
def test_decode_refuses_another_protocol(v):
    with pytest.raises(BadSeal, match="protocol"):
        seal.decode(header_body(v=v), SIG)


@pytest.mark.parametrize("field, value", [
    ("author", 440608100201), ("author", None), ("author", b"440608100201"),
    ("scope", 440608100201), ("scope", None), ("scope", b"440608100201"),
    ("seq", 0), ("seq", -1), ("seq", "1"), ("seq", 1.0), ("seq", None),
    ("flow", True), ("flow", 4), ("flow", -1), ("flow", "yes"), ("flow", None),
    ("kid", b"short"), ("kid", KID.hex()), ("kid", None),
])
def test_decode_refuses_bad_header_types(field, value):
    with pytest.raises(BadSeal, match="header"):
        seal.decode(header_body(**{field: value}), SIG)


@pytest.mark.parametrize("sig", ["ab" * 32, None, bytearray(64), 64])
def test_decode_refuses_a_signature_that_is_not_bytes(sig):
    with pytest.raises(BadSeal):
        seal.decode(header_body(), sig)


@pytest.mark.parametrize("rows, match", [
    ([], "changes"),
    ([good_change()] * (MAX_SEAL_CHANGES + 1), "changes"),
    (None, "malformed seal"),
    (5, "malformed seal"),
    ([good_change()[:5]], "malformed seal"),
    ([good_change() + [b"extra"]], "malformed seal"),
    ([good_change(kind="dossier")], "malformed change"),
    ([good_change(kind=None)], "malformed change"),
    ([good_change(doc_id=5)], "malformed change"),
    ([good_change(doc_id=b"d1")], "malformed change"),
    ([good_change(peer="7")], "malformed change"),
    ([good_change(peer=7.0)], "malformed change"),
    ([good_change(start=3, end=3)], "malformed change"),
    ([good_change(start=4, end=3)], "malformed change"),
    ([good_change(start=-1, end=3)], "malformed change"),
    ([good_change(start=0.0)], "malformed change"),
    ([good_change(end="3")], "malformed change"),
    ([good_change(blob="ops")], "malformed change"),
    ([good_change(blob=None)], "malformed change"),
    ([good_change(), good_change(kind="nope")], "malformed change"),
])
def test_decode_refuses_bad_change_lists(rows, match):
    with pytest.raises(BadSeal, match=match):
        seal.decode(header_body(rows=rows), SIG)


@pytest.mark.parametrize("raw", [
    b"", msgpack.packb(None), msgpack.packb(1), msgpack.packb("seal"),
    msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, False]),  # five fields
    msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, False, [good_change()], "extra"], use_bin_type=True),
    msgpack.packb({"protocol": 1}),
    msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, False, [good_change()]], use_bin_type=True) + b"\xc1",
    msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, False, [good_change()]], use_bin_type=True)[:-2],
    b"\xa3\xff\xfe\xfd",  # a str that is not UTF-8
    msgpack.packb({1: 2}),  # a map with a non-string key
], ids=["empty", "nil", "int", "str", "five", "seven", "map", "extra-byte", "short", "utf8", "int-key"])
def test_decode_refuses_bodies_that_are_not_a_six_field_array(raw):
    with pytest.raises(BadSeal):
        seal.decode(zlib.compress(raw), SIG)


@pytest.mark.parametrize("body", [b"", b"\0" * 10, b"not zlib at all", msgpack.packb([1, "a", 1, "s", False, []])])
def test_decode_refuses_bytes_that_are_not_zlib(body):
    with pytest.raises(BadSeal, match="malformed"):
        seal.decode(body, SIG)


@pytest.mark.parametrize("body", ["text", bytearray(header_body()), memoryview(header_body()), None, 5])
def test_decode_refuses_a_body_that_is_not_bytes(body):
    with pytest.raises(BadSeal):
        seal.decode(body, SIG)


def test_decode_refuses_truncated_zlib_at_every_length():
    made = seal.make(KEY, VILLAGE, 3, VILLAGE, False, [SealedChange("d1", "case", 7, 0, 3, os.urandom(100))])
    for n in range(len(made.body)):
        with pytest.raises(BadSeal):
            seal.decode(made.body[:n], made.signature)


def test_decode_refuses_oversize_bodies():
    too_long = os.urandom(EXPANDED_LIMIT + 1)  # refused before it is even inflated
    with pytest.raises(BadSeal, match="too large"):
        seal.decode(too_long, SIG)
    # small on the wire, huge when expanded
    bomb = zlib.compress(msgpack.packb([PROTOCOL, VILLAGE, 1, VILLAGE, False, [good_change(blob=b"\0" * (4 << 20))]],
                                       use_bin_type=True), 9)
    assert len(bomb) < 10_000
    with pytest.raises(BadSeal, match="too large when expanded"):
        seal.decode(bomb, SIG)
    # the author's own oversize seal (make does not check) is refused by decode too
    big = seal.make(KEY, VILLAGE, 1, VILLAGE, False, [SealedChange("d", "case", 1, 0, 1, os.urandom(EXPANDED_LIMIT))])
    with pytest.raises(BadSeal, match="too large"):
        seal.decode(big.body, big.signature)


# -------------------------------------------------------------------------- bounds at the edge
# Every field is checked against what the receiver can store (SQLite integers are signed 64
# bits) and what a node ever writes, so that a hostile seal is refused here as BadSeal and
# never fails later (an OverflowError in the engine would fail the whole batch).

@pytest.mark.parametrize("field, value", [
    ("seq", INT64 + 1), ("seq", 2**64 - 1), ("seq", True),
    ("author", "4406081002010"), ("author", "x" * 100_000), ("author", ""),
    ("scope", "4406081002010"), ("scope", "x" * 100_000), ("scope", ""),
])
def test_decode_refuses_header_fields_out_of_bounds(field, value):
    with pytest.raises(BadSeal) as e:
        seal.decode(header_body(**{field: value}), SIG)
    assert len(e.value.en) < 300


@pytest.mark.parametrize("v", [2.0])
def test_decode_refuses_a_protocol_that_only_equals_ours(v):
    with pytest.raises(BadSeal, match="protocol"):
        seal.decode(header_body(v=v), SIG)


@pytest.mark.parametrize("field", ["author", "scope"])
@pytest.mark.parametrize("value", ["not-a-region", "99", "4406xx", " 4406", "4406 ", "440600", "440000100000",
                                   "440608100201\n"])
def test_decode_refuses_an_author_or_scope_that_is_not_a_region_code(field, value):
    with pytest.raises(BadSeal, match="not a region code") as e:
        seal.decode(header_body(**{field: value}), SIG)
    assert e.value.zh and "区划代码" in e.value.zh


@pytest.mark.parametrize("code", ["44", "4406", "440608", "440608100", "440608100201", "440600000000",
                                  "441900003000"])
def test_decode_accepts_both_written_forms_of_a_region_code(code):
    s = seal.decode(header_body(author=code, scope=code), SIG)
    assert (s.author, s.scope) == (code, code)


@pytest.mark.parametrize("row", [
    good_change(peer=INT64 + 1), good_change(peer=2**64 - 1), good_change(peer=-1), good_change(peer=True),
    good_change(start=INT64, end=INT64 + 1), good_change(end=2**64 - 1), good_change(start=False, end=3),
    good_change(end=True, start=0),
    good_change(doc_id=""), good_change(doc_id="d" * (seal.MAX_DOC_ID + 1)), good_change(doc_id="a b"),
    good_change(doc_id="a\x00b"), good_change(doc_id="a\nb"), good_change(doc_id="\u200b"),
], ids=lambda r: repr(r)[:40])
def test_decode_refuses_change_fields_out_of_bounds(row):
    with pytest.raises(BadSeal, match="malformed change"):
        seal.decode(header_body(rows=[row]), SIG)


def test_the_integer_and_id_bounds_are_inclusive():
    row = good_change(doc_id="d" * seal.MAX_DOC_ID, peer=INT64, start=INT64 - 1, end=INT64)
    s = seal.decode(header_body(seq=INT64, rows=[row]), SIG)
    assert (s.seq, s.changes[0].peer, s.changes[0].end) == (INT64, INT64, INT64)


@pytest.mark.parametrize("sig", [b"", b"s", bytes(63), bytes(65), bytes(1 << 20)], ids=len)
def test_decode_refuses_a_signature_of_the_wrong_length(sig):
    with pytest.raises(BadSeal):
        seal.decode(header_body(), sig)


@pytest.mark.parametrize("tail", [b"\0", b"more bytes", zlib.compress(b"a second stream")],
                         ids=["nul", "text", "stream"])
def test_decode_refuses_bytes_after_the_compressed_stream(tail):
    made = seal.make(KEY, VILLAGE, 3, VILLAGE, False, [SealedChange("d1", "case", 7, 0, 3, b"ops")])
    with pytest.raises(BadSeal, match="malformed"):
        seal.decode(made.body + tail, made.signature)


edge_ints = st.sampled_from([-1, 0, 1, INT64 - 1, INT64, INT64 + 1, 2**64 - 1, True, False]) \
    | st.integers(-2**63, 2**64 - 1)


@given(edge_ints, edge_ints, edge_ints, edge_ints)
def test_decode_of_boundary_integers_is_badseal_or_in_bounds(seq, peer, start, end):
    s = decode_or_badseal(header_body(seq=seq, rows=[good_change(peer=peer, start=start, end=end)]), SIG)
    if s is not None:
        assert_in_bounds(s)


def test_a_non_region_scope_reason_is_bounded():
    with pytest.raises(BadSeal) as e:
        seal.decode(header_body(scope="9" * 12), SIG)
    assert "999999999999" in e.value.en and len(e.value.en) < 300


# -------------------------------------------------------------------------- fuzzing: BadSeal only

def assert_in_bounds(s: Seal) -> None:
    """What the receiver may store and look up as it is."""
    assert type(s.seq) is int and 1 <= s.seq <= INT64 and type(s.flow) is int and type(s.key_id) is bytes
    assert region.normalize(s.author) and region.normalize(s.scope)
    assert 1 <= len(s.changes) <= MAX_SEAL_CHANGES and type(s.signature) is bytes and len(s.signature) == 64
    for c in s.changes:
        assert c.kind in KINDS and type(c.blob) is bytes
        assert type(c.peer) is int and 0 <= c.peer <= INT64
        assert type(c.start) is int and type(c.end) is int and 0 <= c.start < c.end <= INT64
        assert type(c.doc_id) is str and 1 <= len(c.doc_id) <= seal.MAX_DOC_ID and c.doc_id.isprintable()


def decode_or_badseal(body, sig) -> Seal | None:
    try:
        return seal.decode(body, sig)
    except BadSeal:
        return None


@given(st.binary(max_size=400), st.binary(max_size=80))
def test_decode_of_arbitrary_bytes_raises_only_badseal(body, sig):
    decode_or_badseal(body, sig)


@given(msgpack_values, st.binary(max_size=64))
def test_decode_of_any_compressed_msgpack_value_raises_only_badseal(value, sig):
    decode_or_badseal(zlib.compress(msgpack.packb(value, use_bin_type=True)), sig)


@given(st.lists(msgpack_values, min_size=7, max_size=7),
       st.lists(st.lists(msgpack_values, min_size=6, max_size=6) | msgpack_values, max_size=4),
       st.integers(0, 6), st.data())
def test_decode_of_near_valid_seals_raises_only_badseal(fields, rows, keep, data):
    """Seven fields and six-field rows of arbitrary types, some of them made right, so the
    checks after the parse are reached."""
    good = [PROTOCOL, VILLAGE, 1, VILLAGE, 0, KID, rows]
    fields = [good[i] if i < keep or i == 6 else fields[i] for i in range(7)]
    body = raw_body(*fields)
    s = decode_or_badseal(body, data.draw(st.binary(min_size=64, max_size=64) | st.binary(max_size=80) | st.none()))
    if s is not None:  # whatever decode accepts is well typed
        assert_in_bounds(s)


@given(headers, change_lists, st.data())
def test_decode_of_damaged_seals_raises_only_badseal(h, changes, data):
    body = seal.make(KEY, h["author"], h["seq"], h["scope"], h["flow"], changes).body
    raw = bytearray(zlib.decompress(body))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    damaged = zlib.compress(bytes(raw[:cut]))
    decode_or_badseal(damaged, SIG)
