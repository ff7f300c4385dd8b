"""Bundle framing: what is written is read back exactly; anything damaged is refused."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import msgpack
import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrage import x25519

from yimen.sync.transports import bundle, bundle_records
from yimen.sync.transports.bundle import MAGIC, BadBundle, BundleIOError, read_bundle, write_bundle
from yimen.sync.docs import KINDS
from yimen.sync.engine import Batch, public_bytes

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
TOWN_ID = x25519.Identity.generate()  # the recipient's encryption identity
TO = str(TOWN_ID.to_public())
VILLAGE, TOWN = "440608100201", "440608100000"


def header(**kw):
    return {"protocol": bundle.PROTOCOL, "from": VILLAGE, "to": TOWN, "created_at": "2026-11-16T09:00:00+08:00",
            "ack": 7, **kw}


def key_of(h):
    return public_bytes(KEY)


def read(path, sender_key=key_of, identity=TOWN_ID):
    return read_bundle(path, sender_key, identity)


def batches_of(got) -> list:
    out: list = []
    got.each(out.append)
    return out


def small(tmp_path: Path) -> bytes:
    path = tmp_path / "small.yimen"
    write_bundle(path, header(), [Batch(VILLAGE, 3, 5, [(b"body-1", b"s" * 64), (b"body-2", b"t" * 64)]),
                                  Batch(VILLAGE, 5, 9, [])], KEY, TO)
    return path.read_bytes()


codes = st.text(st.sampled_from("0123456789"), min_size=1, max_size=12)
seal = st.tuples(st.binary(max_size=300), st.binary(max_size=80))
batch_shapes = st.lists(st.tuples(st.integers(0, 50), st.lists(seal, max_size=5)), max_size=5)


@given(frm=codes, to=codes, created=st.text(min_size=1, max_size=40), ack=st.integers(0, 2**63 - 1),
       start=st.integers(0, 2**40), shapes=batch_shapes, chunks=st.lists(st.binary(max_size=3000), max_size=4),
       wanted=st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), max_size=3))
def test_round_trip(frm, to, created, ack, start, shapes, chunks, wanted):
    h = {"protocol": bundle.PROTOCOL, "from": frm, "to": to, "created_at": created, "ack": ack, "wanted": wanted}
    batches, pos = [], start
    for step, seals in shapes:
        batches.append(Batch(frm, pos, pos + step, seals))
        pos += step
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.yimen"
        counts = write_bundle(path, h, iter(batches), KEY, TO, iter(chunks))
        assert counts == {"bytes": path.stat().st_size, "batches": len(batches),
                          "seals": sum(len(b.seals) for b in batches), "chunks": len(chunks)}
        got_header, got = read(path)
        assert batches_of(got) == batches and len(got) == len(batches) and got.chunks == len(chunks)
        taken: list[bytes] = []
        got.each(None, taken.append)
        assert taken == chunks
    assert got_header == h


numbers = st.dictionaries(st.builds("{}:{}".format, st.sampled_from(KINDS), st.text(min_size=1, max_size=20)),
                          st.integers(0, 2**63 - 1), max_size=8)


@given(last_seal=st.integers(0, 2**63 - 1), numbers=numbers, rewind=st.booleans())
def test_the_numbering_fields_of_a_header_round_trip(last_seal, numbers, rewind):
    h = header(last_seal=last_seal, numbers=numbers, rewind=rewind)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.yimen"
        write_bundle(path, h, [Batch(VILLAGE, 7, 7, [])], KEY, TO)
        assert read(path)[0] == h


def test_every_truncation_is_refused(tmp_path):
    data = small(tmp_path)
    path = tmp_path / "cut.yimen"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(BadBundle):
            read(path)


def test_every_single_byte_flip_is_refused(tmp_path):
    data = small(tmp_path)
    path = tmp_path / "flip.yimen"
    for i in range(len(data)):
        for mask in (0x01, 0xFF):
            damaged = bytearray(data)
            damaged[i] ^= mask
            path.write_bytes(bytes(damaged))
            with pytest.raises(BadBundle):
                read(path)


def test_trailing_garbage_and_wrong_magic_are_refused(tmp_path):
    data = small(tmp_path)
    path = tmp_path / "b.yimen"
    path.write_bytes(data + b"\x00")
    with pytest.raises(BadBundle, match="cannot decrypt"):
        read(path)
    path.write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(BadBundle, match="not a Yimen bundle"):
        read(path)
    path.write_bytes(b"")
    with pytest.raises(BadBundle, match="truncated"):
        read(path)


def test_messages_are_one_line_in_both_languages(tmp_path):
    path = tmp_path / "b.yimen"
    path.write_bytes(small(tmp_path)[:-1])
    with pytest.raises(BadBundle) as e:
        read(path)
    assert e.value.code == "bad_bundle"
    assert "\n" not in e.value.zh and "\n" not in e.value.en
    assert "损坏" in e.value.zh and "damaged" in e.value.en


def forge(path: Path, records: list, sign_with=KEY, raw_tail: bytes = b"", envelope=None) -> None:
    """A well-encrypted file with arbitrary records; the last is the end record, given
    without its signature (added here over everything before it)."""
    prefix = MAGIC + msgpack.packb(envelope or {"protocol": bundle.PROTOCOL, "from": VILLAGE, "to": TOWN})
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in records[:-1])
    sig = sign_with.sign(bundle.SIGNING_CONTEXT + hashlib.sha256(prefix + body).digest())
    body += msgpack.packb({**records[-1], "signature": sig}, use_bin_type=True) + raw_tail
    path.write_bytes(prefix + pyrage.encrypt(body, [TOWN_ID.to_public()]))


def test_forged_content_with_a_valid_checksum_is_refused(tmp_path):
    path = tmp_path / "b.yimen"
    ok_batch = {"start": 0, "next": 2, "seals": [[b"x", b"y"]]}
    end = {"batches": 1, "seals": 1}
    forge(path, [header(), ok_batch, end])
    assert batches_of(read(path)[1])[0].seals == [(b"x", b"y")]
    cases = [
        ([header(protocol=4), ok_batch, end], "unsupported protocol 4"),
        ([header(protocol=True), ok_batch, end], "unsupported protocol True"),
        ([header(extra=1), ok_batch, end], "malformed header"),
        ([header(ack=-1), ok_batch, end], "malformed header"),
        ([header(ack=1 << 63), ok_batch, end], "malformed header"),
        ([header(last_seal=-1), ok_batch, end], "malformed header"),
        ([header(numbers={"case:2026": "31"}), ok_batch, end], "malformed header"),
        ([header(numbers=[1]), ok_batch, end], "malformed header"),
        ([header(numbers={"seal": 5}), ok_batch, end], "malformed header"),  # not a document counter
        ([header(rewind=1), ok_batch, end], "malformed header"),
        ([header(), {**ok_batch, "next": 1 << 63}, end], "malformed batch"),
        ([header(), {**ok_batch, "next": -1}, end], "malformed batch"),
        ([header(), {**ok_batch, "seals": [[b"x"]]}, end], "malformed batch"),
        ([header(), ok_batch, {**ok_batch, "start": 5, "next": 6}, {"batches": 2, "seals": 2}], "not contiguous"),
        ([header(), ok_batch, {"batches": 2, "seals": 1}], "counts"),
        ([header(), ok_batch], "malformed end record"),
        ([{"batches": 0, "seals": 0}], "missing header or end"),
    ]
    for records, message in cases:
        forge(path, records)
        with pytest.raises(BadBundle, match=message):
            read(path)
    forge(path, [header(), ok_batch, end], raw_tail=b"\x92")
    with pytest.raises(BadBundle, match="incomplete record"):
        read(path)


def test_signature_binds_the_sender(tmp_path):
    path = tmp_path / "b.yimen"
    forge(path, [header(), {"start": 0, "next": 1, "seals": []}, {"batches": 1, "seals": 0}], sign_with=OTHER)
    with pytest.raises(BadBundle, match="bad signature"):
        read(path)
    with pytest.raises(BadBundle, match="not a known node"):
        read(path, lambda h: None)


def test_size_bounds(tmp_path, monkeypatch):
    data = small(tmp_path)
    path = tmp_path / "b.yimen"
    path.write_bytes(data)
    monkeypatch.setattr(bundle, "MAX_BUNDLE_BYTES", len(data) - 1)
    monkeypatch.setattr(bundle, "AGE_ROOM", 0)
    with pytest.raises(BadBundle, match="larger than"):
        read(path)
    with pytest.raises(BadBundle, match="larger than"):
        write_bundle(tmp_path / "big.yimen", header(), [Batch(VILLAGE, 0, 1, [(b"x" * len(data), b"")])], KEY, TO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yimen", "small.yimen"]  # no temp file left
    monkeypatch.setattr(bundle, "MAX_BUNDLE_BYTES", 1 << 20)
    monkeypatch.setattr(bundle_records, "MAX_RECORD_BYTES", 64)
    with pytest.raises(BadBundle, match="record is larger"):
        read(path)


def test_write_is_atomic_and_refuses_a_bad_header(tmp_path):
    path = tmp_path / "b.yimen"
    path.write_bytes(b"old")
    with pytest.raises(BadBundle):
        write_bundle(path, header(ack="7"), [], KEY, TO)

    def failing():
        yield Batch(VILLAGE, 0, 1, [])
        raise OSError("stick pulled out")
    with pytest.raises(BundleIOError, match="stick pulled out"):
        write_bundle(path, header(), failing(), KEY, TO)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.yimen"]
    with pytest.raises(BundleIOError, match="cannot write"):
        write_bundle(tmp_path / "no" / "such" / "folder.yimen", header(), [], KEY, TO)
    with pytest.raises(BundleIOError, match="cannot read"):
        read(tmp_path / "missing.yimen")


def test_a_bundle_changed_after_it_was_verified_is_refused_while_read(tmp_path):
    """The batches are read from the file again during the import: a file swapped in
    between (same shape, other seals) ends the reading with an error, so an import in one
    transaction writes nothing."""
    path, other = tmp_path / "b.yimen", tmp_path / "c.yimen"
    end = {"batches": 1, "seals": 1}
    forge(path, [header(), {"start": 0, "next": 2, "seals": [[b"x", b"y"]]}, end])
    forge(other, [header(), {"start": 0, "next": 2, "seals": [[b"z", b"y"]]}, end])
    _, batches = read(path)
    path.write_bytes(other.read_bytes())
    with pytest.raises(BadBundle, match="changed while"):
        batches_of(batches)


def test_only_the_envelope_is_readable_and_the_file_is_0600(tmp_path):
    data = small(tmp_path)
    assert (tmp_path / "small.yimen").stat().st_mode & 0o777 == 0o600
    for secret in (b"body-1", b"body-2", b"2026-11-16", b"created_at", b"ack"):
        assert secret not in data
    envelope = msgpack.Unpacker(raw=False)
    envelope.feed(data[len(MAGIC):len(MAGIC) + 200])
    assert envelope.unpack() == {"protocol": bundle.PROTOCOL, "from": VILLAGE, "to": TOWN}


def test_another_nodes_key_cannot_read_it(tmp_path):
    path = tmp_path / "small.yimen"
    small(tmp_path)
    with pytest.raises(BadBundle, match="not encrypted to this node's key") as e:
        read(path, identity=x25519.Identity.generate())
    assert "不是加密给本节点的" in e.value.zh


def test_the_envelope_is_checked_before_decrypting_and_bound_by_the_signature(tmp_path):
    path = tmp_path / "b.yimen"
    seen = []
    small(tmp_path)
    with pytest.raises(BadBundle, match="not encrypted"):
        read(tmp_path / "small.yimen", lambda envelope: seen.append(envelope), x25519.Identity.generate())
    assert seen == [{"protocol": bundle.PROTOCOL, "from": VILLAGE, "to": TOWN}]
    ok = [header(), {"start": 0, "next": 1, "seals": []}, {"batches": 1, "seals": 0}]
    forge(path, ok, envelope={"protocol": bundle.PROTOCOL, "from": VILLAGE, "to": "440608100202"})
    with pytest.raises(BadBundle, match="envelope's nodes do not match"):
        read(path)
    for bad, message in (({"protocol": 4, "from": VILLAGE, "to": TOWN}, "unsupported protocol 4"),
                         ({"protocol": bundle.PROTOCOL, "from": VILLAGE}, "malformed envelope"),
                         ([1, 2], "malformed envelope")):
        forge(path, ok, envelope=bad)
        with pytest.raises(BadBundle, match=message):
            read(path)


def test_an_unencrypted_bundle_of_an_older_yimen_is_refused_with_a_way_out(tmp_path):
    path = tmp_path / "old.yimen"
    old = MAGIC + msgpack.packb({**header(), "protocol": 1}) + msgpack.packb({"batches": 0, "seals": 0})
    path.write_bytes(old + hashlib.sha256(old).digest())
    with pytest.raises(BadBundle, match="older Yimen: ask the sender to export it again") as e:
        read(path)
    assert "旧版" in e.value.zh


@settings(max_examples=30, deadline=None)
@given(seals=st.lists(st.binary(min_size=1, max_size=70_000), max_size=4), cut=st.integers(0, 1 << 20))
def test_large_records_cross_age_chunks_and_any_cut_is_refused(seals, cut):
    """Records longer than age's 64 KiB chunks are read back whole; a file cut anywhere is refused."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.yimen"
        batches = [Batch(VILLAGE, i, i + 1, [(s, b"z" * 64)]) for i, s in enumerate(seals)]
        write_bundle(path, header(), batches, KEY, TO)
        assert batches_of(read(path)[1]) == batches
        data = path.read_bytes()
        path.write_bytes(data[:cut % len(data)])
        with pytest.raises(BadBundle):
            read(path)
