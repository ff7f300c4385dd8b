"""Mutators of bundle files, as hypothesis strategies (see `support.mutate` for seals).

A real bundle is decrypted with its recipient's identity and taken apart into its records
(header, batches, end), mutated, framed again, signed with the sender's key (a stolen key
signs whatever it likes) and encrypted to the recipient again (anyone may encrypt to a
public key); its readable envelope may be changed too. Then, sometimes, the file is
damaged as bytes: cut short, trailing bytes, a flipped bit (in the ciphertext, or in the
records before they are encrypted again: damage that age's authentication cannot see).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import msgpack
import pyrage
from hypothesis import strategies as st
from pyrage import x25519

from support.mutate import Context, hostile_values, mutate_seal, positions, seal_ops
from yimen.sync.transports import bundle as framing


def opened(data: bytes, identity: x25519.Identity) -> tuple[Any, list[Any]]:
    """The envelope and the records (header, batches..., end) of a well-formed bundle."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data[len(framing.MAGIC):len(framing.MAGIC) + framing.MAX_ENVELOPE_BYTES])
    envelope = unpacker.unpack()
    body = pyrage.decrypt(data[len(framing.MAGIC) + unpacker.tell():], [identity])
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(body) + 1)
    unpacker.feed(body)
    return envelope, list(unpacker)


def frame(records: list[Any], ctx: Context, recipient: x25519.Recipient, end: dict[str, Any] | None = None,
          envelope: Any = None, damage: FileBytes | None = None) -> bytes:
    """Records (header and batches) framed as a bundle, with an end record signed by
    `ctx.key` whose counts match (`end` overrides its fields), encrypted to `recipient`;
    `damage` is done to the records before they are encrypted."""
    if envelope is None:
        envelope = {"protocol": framing.PROTOCOL, "from": ctx.sender, "to": ctx.recipient}
    prefix = framing.MAGIC + msgpack.packb(envelope, use_bin_type=True)
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    seal_count = sum(len(r["seals"]) for r in records[1:] if isinstance(r, dict) and isinstance(r.get("seals"), list))
    signature = ctx.key.sign(framing.SIGNING_CONTEXT + hashlib.sha256(prefix + body).digest())
    record = {"batches": len(records) - 1, "seals": seal_count, "signature": signature, **(end or {})}
    body += msgpack.packb(record, use_bin_type=True)
    if damage is not None:
        body = damage.apply(body)
    return prefix + pyrage.encrypt(body, [recipient])


@dataclass(frozen=True)
class RecordField:
    """A field of the header (`index` 0), of a batch (1..), or of the end record (-1);
    `drop` removes it."""

    index: int
    key: str
    value: Any = None
    drop: bool = False


@dataclass(frozen=True)
class EnvelopeField:
    """A field of the readable envelope (`drop` removes it)."""

    key: str
    value: Any = None
    drop: bool = False


@dataclass(frozen=True)
class BundleSeal:
    """One seal of one batch, mutated and re-signed (see `mutate.mutate_seal`)."""

    batch: int
    seal: int
    ops: tuple[Any, ...]


RECORD_SHAPES = ("drop_batch", "dup_batch", "swap_batches", "extra_record", "only_header", "inflated_batch",
                 "header_twice", "batch_not_a_map")


@dataclass(frozen=True)
class Records:
    how: str


FILE_HOWS = ("truncate", "trail", "flip", "flip_fixed", "empty", "magic_only", "random")


@dataclass(frozen=True)
class FileBytes:
    """The file's bytes: cut at `n`, trailing bytes, a flipped bit (`flip_fixed`: in the
    records, encrypted again, so that the ciphertext authenticates), empty, just the
    magic, random."""

    how: str
    n: int = 0

    def apply(self, data: bytes) -> bytes:
        if self.how == "truncate":
            return data[:self.n % len(data)]
        if self.how == "trail":
            return data + random.Random(self.n).randbytes(self.n % 300 + 1)
        if self.how in ("flip", "flip_fixed"):
            b = bytearray(data)
            b[self.n % len(b)] ^= 1 << (self.n % 8)
            return bytes(b)
        if self.how == "magic_only":
            return framing.MAGIC
        if self.how == "random":
            return random.Random(self.n).randbytes(self.n % 4096)
        return b""


def _reshape(records: list[Any], how: str) -> list[Any]:
    header, batches = records[0], records[1:]
    last = batches[-1].get("next", 0) if batches and isinstance(batches[-1], dict) else 0
    return {
        "drop_batch": [header, *batches[1:]],
        "dup_batch": [header, *batches, *batches[-1:]],
        "swap_batches": [header, *batches[::-1]],
        "extra_record": [header, *batches, {"what": "extra"}],
        "only_header": [header],
        "inflated_batch": [header, *batches, {"start": last, "next": 2**62 - 1, "seals": []}],
        "header_twice": [header, header, *batches],
        "batch_not_a_map": [header, [1, 2, 3], *batches],
    }[how]


@dataclass(frozen=True)
class BundlePlan:
    records: tuple[Any, ...] = ()
    raw: tuple[FileBytes, ...] = ()

    @property
    def only_seals(self) -> bool:
        """Only seals inside a well-formed bundle signed by its sender are mutated: the
        bundle must go in, and a seal that is refused is quarantined alone."""
        return bool(self.records) and all(isinstance(op, BundleSeal) for op in self.records) and not self.raw

    def apply(self, data: bytes, ctx: Context, identity: x25519.Identity) -> bytes:
        """The bundle `data` (for the holder of `identity`) mutated by this plan."""
        envelope, records = opened(data, identity)
        records = records[:-1]  # the end record is made again
        end: dict[str, Any] = {}
        for op in self.records:
            if isinstance(op, Records):
                records = _reshape(records, op.how)
            elif isinstance(op, EnvelopeField):
                envelope = dict(envelope)
                envelope.pop(op.key, None) if op.drop else envelope.__setitem__(op.key, ctx.resolve(op.value))
            elif isinstance(op, RecordField) and op.index < 0:
                end[op.key] = ctx.resolve(op.value)
            elif isinstance(op, RecordField) and isinstance(records[op.index % len(records)], dict):
                record = dict(records[op.index % len(records)])
                record.pop(op.key, None) if op.drop else record.__setitem__(op.key, ctx.resolve(op.value))
                records[op.index % len(records)] = record
            elif isinstance(op, BundleSeal):
                records = _with_seal(records, op, ctx)
        inner = [raw for raw in self.raw if raw.how == "flip_fixed"]
        data = frame(records, ctx, identity.to_public(), end, envelope, inner[0] if inner else None)
        for raw in self.raw:
            if raw.how != "flip_fixed":
                data = raw.apply(data)
        return data


def _with_seal(records: list[Any], op: BundleSeal, ctx: Context) -> list[Any]:
    batches = [i for i, r in enumerate(records) if i and isinstance(r, dict) and isinstance(r.get("seals"), list)
               and r["seals"] and all(isinstance(p, list | tuple) and len(p) >= 2 for p in r["seals"])]
    if not batches:
        return records
    i = batches[op.batch % len(batches)]
    batch = dict(records[i])
    pairs = [list(p) for p in batch["seals"]]
    j = op.seal % len(pairs)
    pairs[j] = list(mutate_seal((pairs[j][0], pairs[j][1]), op.ops, ctx))
    batch["seals"] = pairs
    return [*records[:i], batch, *records[i + 1:]]


def bundle_plans() -> st.SearchStrategy[BundlePlan]:
    header = st.one_of(
        st.builds(RecordField, st.just(0), st.sampled_from(["from", "to"]),
                  st.sampled_from(["", "x" * 65, "not-a-region", "440608100202", "440608100000", "4406", 7, None])),
        st.builds(RecordField, st.just(0), st.just("ack"), positions()),
        st.builds(RecordField, st.just(0), st.sampled_from(["protocol", "created_at", "extra"]), hostile_values()),
        st.builds(RecordField, st.just(0), st.sampled_from(["from", "to", "ack", "protocol", "created_at"]),
                  drop=st.just(True)),
    )
    batch = st.one_of(
        st.builds(RecordField, st.integers(1, 3), st.sampled_from(["start", "next"]), positions()),
        st.builds(RecordField, st.integers(1, 3), st.sampled_from(["seals", "extra"]), hostile_values()),
    )
    envelope = st.one_of(
        st.builds(EnvelopeField, st.sampled_from(["from", "to"]),
                  st.sampled_from(["", "x" * 65, "440608100202", "440608100000", "4406", 7, None])),
        st.builds(EnvelopeField, st.sampled_from(["protocol", "extra"]), hostile_values()),
        st.builds(EnvelopeField, st.sampled_from(["from", "to", "protocol"]), drop=st.just(True)),
    )
    end = st.builds(RecordField, st.just(-1), st.sampled_from(["batches", "seals", "signature"]),
                    st.one_of(positions(), st.binary(min_size=63, max_size=65)))
    in_seal = st.builds(BundleSeal, st.integers(0, 3), st.integers(0, 7), seal_ops())
    record_op = st.one_of(header, envelope, batch, end, st.builds(Records, st.sampled_from(RECORD_SHAPES)), in_seal)
    raw = st.one_of(st.just(()), st.just(()), st.just(()),
                    st.tuples(st.builds(FileBytes, st.sampled_from(FILE_HOWS), st.integers(0, 1 << 20))))
    # half of them mutate only seals (see `BundlePlan.only_seals`), the rest anything
    return st.one_of(st.builds(BundlePlan, st.lists(in_seal, min_size=1, max_size=2).map(tuple)),
                     st.builds(BundlePlan, st.lists(record_op, max_size=3).map(tuple), raw))
