"""Mutators for the fuzz suites, as hypothesis strategies: structured mutations of a VALID
signed message (a real child's hello, push or pull, a real bundle file), not only random
bytes. A drawn mutation is plain data (frozen dataclasses, so a failing example prints as
what was done) applied to the base message at run time:

    fields of the msgpack message    positions to huge / negative / bool / float / str,
                                     the seals list reshaped, a field dropped or added
    seal bodies                      taken apart and put back with a mutated header or
                                     change (seq >= 2**63, odd scopes, bad kinds, another
                                     node's peer, garbage Loro blobs, oversized changes),
                                     re-signed with the sender's key: a stolen key signs
                                     whatever it likes
    the body's bytes                 truncated, trailing bytes, flipped, not zlib, deeply
                                     nested; signed again or left with the old signature
    headers                          time, signature, node; unsigned requests

`Named("victim")` and the like stand for values only known at run time (another village's
region, its Loro peer, ...): `Context.names` holds them. Bundle files: `support.mutate_bundle`.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st

from support.forge import case_doc, change_of, pack_body, unpack_body
from support.served import Request
from yimen.sync import seal as seals
from yimen.sync.transports import wire

EDGE_INTS = (0, 1, -1, 7, 2**31, 2**53 + 1, 2**62 - 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, -2**63)
ODD_SCOPES = ("not-a-region", "", "44", "00", "4406081002", "440608100201 ", "990000000000",
              "440608100200", "440000100000", "４４０６", "440608100201\x00")


@dataclass(frozen=True)
class Named:
    """A value known only at run time (see `Context.names`)."""

    name: str


@dataclass(frozen=True)
class Context:
    """Whose stolen key signs, and the run-time values `Named` stands for."""

    key: Ed25519PrivateKey
    sender: str
    recipient: str
    names: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Named):
            return self.names[value.name]
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def sign(ctx: Context, path: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers the node's real client sends with `body`, signed with the thief's key
    for `ctx.recipient`: the one place that knows how requests are signed, so a change of
    `wire.sign_request` (binding the recipient, a nonce) is followed here only."""
    return wire.sign_request(ctx.key, ctx.sender, ctx.recipient, "POST", path, body, now=now)


# -- values ---------------------------------------------------------------------------------
def edge_ints() -> st.SearchStrategy[int]:
    """Integers msgpack can carry, the edges most often."""
    return st.one_of(st.sampled_from(EDGE_INTS), st.integers(-2**63, 2**64 - 1))


def hostile_values() -> st.SearchStrategy[Any]:
    """Any value msgpack can carry, small and odd."""
    leaf = st.one_of(edge_ints(), st.booleans(), st.none(), st.floats(), st.text(max_size=12),
                     st.binary(max_size=24))
    keys = st.one_of(st.text(max_size=6), st.binary(max_size=6))
    return st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                     st.dictionaries(keys, kids, max_size=4)), max_leaves=10)


def positions() -> st.SearchStrategy[Any]:
    """What a thief puts where a feed position goes."""
    return st.one_of(edge_ints(), st.sampled_from([True, False, 1.5, float("nan"), float("inf"), "1", None, [1], b"\x01"]))


# -- message fields ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Set:
    """`key` given `value` (resolved at run time): a message field, or a request header
    among a `Plan`'s `headers`."""

    key: str
    value: Any

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {**message, self.key: ctx.resolve(self.value)}


@dataclass(frozen=True)
class Drop:
    key: str

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != self.key}


@dataclass(frozen=True)
class Merge:
    """Extra entries in a map field (bytes keys among str ones, say)."""

    key: str
    extra: dict[Any, Any]

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        value = message.get(self.key)
        return {**message, self.key: {**(value if isinstance(value, dict) else {}), **self.extra}}


SEAL_SHAPES = ("none", "flat", "body_only", "three", "swapped", "as_maps", "as_text", "not_a_list",
               "duplicated", "tiny_garbage", "empty_pairs")


@dataclass(frozen=True)
class Seals:
    """The push's seals list in another shape (`n`: how many, where it says)."""

    shape: str
    n: int = 1

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        seals_ = message.get("seals")
        pairs = [p for p in seals_ if isinstance(p, (list, tuple)) and len(p) == 2] if isinstance(seals_, list) else []
        body, sig = pairs[0] if pairs and all(isinstance(x, bytes) for x in pairs[0]) else (b"", b"")
        shaped = {
            "none": [], "flat": [body, sig], "body_only": [[body]], "three": [[body, sig, b""]],
            "swapped": [[sig, body]], "as_maps": [{"body": body, "signature": sig}],
            "as_text": [[body.hex(), sig.hex()]], "not_a_list": body,
            "duplicated": [[body, sig]] * min(self.n, 300),
            "tiny_garbage": [[bytes([i % 256]), b"x"] for i in range(min(self.n, 300))],
            "empty_pairs": [[b"", b""]] * min(self.n, 50),
        }[self.shape]
        return {**message, "seals": shaped}


@dataclass(frozen=True)
class InSeal:
    """Mutate one seal of the push (`index` modulo their number), re-signed by the sender."""

    index: int
    ops: tuple[Any, ...]

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        pairs = message.get("seals")
        if not (isinstance(pairs, list) and pairs and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
            return message
        pairs, i = [list(p) for p in pairs], self.index % len(pairs)
        if isinstance(pairs[i][0], bytes) and isinstance(pairs[i][1], bytes):
            pairs[i] = list(mutate_seal((pairs[i][0], pairs[i][1]), self.ops, ctx))
        return {**message, "seals": pairs}


@dataclass(frozen=True)
class ManyDocs:
    """A `/v1/seals` request for `n` documents (the bound is 1000)."""

    n: int

    def apply(self, message: dict[str, Any], ctx: Context) -> dict[str, Any]:
        docs = message.get("docs")
        docs = [d for d in docs if isinstance(d, str)] if isinstance(docs, list) else []
        docs = docs or ["x"]
        return {**message, "docs": [docs[i % len(docs)] for i in range(self.n)]}


# -- seal bodies --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealHead:
    """One header field of the body array [protocol, author, seq, scope, down, rows]."""

    field: int
    value: Any


@dataclass(frozen=True)
class ChangeCell:
    """One field of one change row [doc_id, kind, peer, start, end, blob]."""

    row: int
    field: int
    value: Any


@dataclass(frozen=True)
class Blob:
    """Change bytes made from the real ones: garbage, truncated, flipped, empty, huge."""

    how: str
    n: int = 0

    def make(self, real: bytes) -> bytes:
        rng = random.Random(self.n)
        if self.how == "garbage":
            return rng.randbytes(self.n % 200 + 1)
        if self.how == "truncated":
            return real[:self.n % max(len(real), 1)]
        if self.how == "flipped":
            b = bytearray(real or b"\x00")
            b[self.n % len(b)] ^= 1 << (self.n % 8)
            return bytes(b)
        if self.how == "huge":  # incompressible: the seal goes past its size bound
            return rng.randbytes(seals.MAX_SEAL_BYTES + 65 * 1024)
        if self.how == "zeros":  # compresses to little, expands beyond the bound
            return bytes(seals.MAX_SEAL_BYTES + 128 * 1024)
        return b""


ROW_SHAPES = ("none", "too_many", "short", "long", "not_a_list", "row_not_a_list", "duplicate")


@dataclass(frozen=True)
class ChangeRows:
    how: str


SEAL_BYTES = ("truncate", "trail", "flip", "not_zlib", "not_an_array")


@dataclass(frozen=True)
class SealBytes:
    """The (compressed) body's bytes, after everything else."""

    how: str
    n: int = 1


@dataclass(frozen=True)
class Poison:
    """The seal's changes replaced by one new case document of the seal's own scope (a
    real Loro change of a fresh peer) whose `case.<field>` is `value`: what the author
    may write, but no projection can list (an applicant's name that is a list, say)."""

    field: str
    value: Any
    n: int = 0

    def rows(self, fields: list[Any], ctx: Context) -> list[Any]:
        scope = fields[3] if isinstance(fields[3], str) else ctx.sender
        doc = case_doc(f"{ctx.sender}-2026-{900000 + self.n % 99999:06d}", scope)
        doc.update("case", {self.field: ctx.resolve(self.value)})
        c = change_of(doc)
        return [[c.doc_id, c.kind, c.peer, c.start, c.end, c.blob]]


POISONS = {
    "applicant_name": [["张三"], {"姓": "张"}, 7, None, b"\x00", "名" * 5000],
    "item_version": ["1", -1, 2**40, None, 1.5],
    "item_code": [7, None, "T-NONE"],
    "item_publisher": [7, None, "4406", "440608100201"],
    "case_id": ["440608100202-2026-000001", None, 7],
    "node": [Named("victim"), None, ["440608100201"]],
}


@dataclass(frozen=True)
class SealSig:
    """The signature: the old one (now wrong), empty, random, or too short."""

    how: str


def _rows(fields: list[Any], how: str) -> list[Any]:
    rows = fields[5] if isinstance(fields[5], list) else []
    row = list(rows[0]) if rows and isinstance(rows[0], list) else ["x", "case", 1, 0, 1, b""]
    fields[5] = {"none": [], "too_many": [row] * (seals.MAX_SEAL_CHANGES + 1), "short": [row[:5]],
                 "long": [row + [b"extra"]], "not_a_list": b"rows", "row_not_a_list": ["row"],
                 "duplicate": [row, row]}[how]
    return fields


def _body_bytes(body: bytes, op: SealBytes) -> bytes:
    if op.how == "truncate":
        return body[:op.n % max(len(body), 1)]
    if op.how == "trail":
        return body + b"\x00" * (op.n % 64 + 1)
    if op.how == "flip":
        b = bytearray(body)
        b[op.n % len(b)] ^= 0x40
        return bytes(b)
    if op.how == "not_zlib":  # the raw msgpack (bytes an earlier op broke stay as they are)
        try:
            return zlib.decompressobj().decompress(body)
        except zlib.error:
            return body
    return zlib.compress(msgpack.packb({"v": 1}))


def mutate_seal(pair: tuple[bytes, bytes], ops: tuple[Any, ...], ctx: Context) -> tuple[bytes, bytes]:
    """A seal with `ops` applied, signed again with `ctx.key` unless an op says otherwise."""
    body, sig = pair
    try:
        fields = unpack_body(body)
    except Exception:  # noqa: BLE001 (reshaped before: not a seal any more, left as it is)
        return pair
    if not (isinstance(fields, list) and len(fields) == 6):
        return pair
    for op in ops:
        if isinstance(op, SealHead):
            fields[op.field] = ctx.resolve(op.value)
        elif isinstance(op, ChangeCell) and isinstance(fields[5], list) and fields[5]:
            row = fields[5][op.row % len(fields[5])]
            if not (isinstance(row, list) and len(row) == 6):
                continue
            row = list(row)
            value = op.value.make(row[5]) if isinstance(op.value, Blob) else ctx.resolve(op.value)
            row[op.field] = value
            fields[5] = [*fields[5]]
            fields[5][op.row % len(fields[5])] = row
        elif isinstance(op, ChangeRows):
            fields = _rows(fields, op.how)
        elif isinstance(op, Poison):
            fields[5] = op.rows(fields, ctx)
    new = pack_body(fields)
    for op in ops:
        if isinstance(op, SealBytes):
            new = _body_bytes(new, op)
    resigned = seals.sign(ctx.key, new)
    for op in ops:
        if isinstance(op, SealSig):
            resigned = {"keep": sig, "empty": b"", "random": random.Random(len(new)).randbytes(64),
                        "short": resigned[:63]}[op.how]
    return new, resigned


def seal_ops() -> st.SearchStrategy[tuple[Any, ...]]:
    """1-3 mutations of one seal (see `mutate_seal`); the checks deepest inside (numbers,
    scopes, change bytes, bodies no projection can list) come up most often."""
    rows = st.integers(0, 3)
    blobs = st.one_of(st.builds(Blob, st.sampled_from(["garbage", "truncated", "flipped", "empty", "huge", "zeros"]),
                                st.integers(0, 10_000)), st.binary(max_size=32), st.sampled_from(["text", 0, None]))
    scopes = st.one_of(st.sampled_from(ODD_SCOPES), st.integers(-1, 2**64 - 1),
                       st.sampled_from([Named("victim"), Named("parent"), Named("hub"), Named("city")]))
    poison = st.one_of(*(st.builds(Poison, st.just(f), st.sampled_from(values), st.integers(0, 99_999))
                         for f, values in POISONS.items()))
    one = st.one_of(
        st.builds(SealHead, st.just(2), positions()),  # seq
        st.builds(SealHead, st.just(3), scopes),
        st.builds(ChangeCell, rows, st.just(5), blobs),
        st.builds(ChangeCell, rows, st.just(2), st.one_of(positions(), st.just(Named("victim_peer")))),
        poison,
        st.builds(ChangeCell, rows, st.just(0), st.sampled_from(
            [Named("victim_case"), Named("hub_item"), Named("victim_record"), "", "x" * 5000, 5, None])),
        st.builds(ChangeCell, rows, st.just(1), st.sampled_from(
            ["bogus", "node", "catalog_item", "space_doc", "revocation", "", 7, None])),
        st.builds(ChangeCell, rows, st.sampled_from([3, 4]), positions()),
        st.builds(SealHead, st.sampled_from([0, 1, 4]), st.sampled_from(
            [0, 2, None, "1", True, "", 7, Named("victim"), Named("stranger"), Named("parent")])),
        st.builds(ChangeRows, st.sampled_from(ROW_SHAPES)),
        st.builds(SealBytes, st.sampled_from(SEAL_BYTES), st.integers(0, 4096)),
        st.builds(SealSig, st.sampled_from(["keep", "empty", "random", "short"])),
    )
    return st.lists(one, min_size=1, max_size=3).map(tuple)


# -- bodies and headers -------------------------------------------------------------------------
@dataclass(frozen=True)
class Bytes:
    """The request body's bytes after packing: truncated, trailing bytes, a flipped bit,
    random, msgpack not compressed, arrays nested `n` deep, or nothing."""

    how: str
    n: int = 1

    def apply(self, body: bytes) -> bytes:
        if self.how == "truncate":
            return body[:self.n % max(len(body), 1)]
        if self.how == "trail":
            return body + bytes(range(256))[: self.n % 256 + 1]
        if self.how == "flip":
            b = bytearray(body or b"\x00")
            b[self.n % len(b)] ^= 1 << (self.n % 8)
            return bytes(b)
        if self.how == "random":
            return random.Random(self.n).randbytes(self.n % 512)
        if self.how == "not_zlib":
            return zlib.decompress(body)
        if self.how == "deep":
            return zlib.compress(b"\x82\xa8protocol\x01\xa5seals" + b"\x91" * (self.n + 1) + b"\xc0")
        return b""


BODY_HOWS = ("truncate", "trail", "flip", "random", "not_zlib", "deep", "empty")
HEADER_VALUES = {
    "X-Yimen-Time": ["", "abc", "1e9", "9" * 400, "-1", str(2**64), " 42 ", "0x10", "1.5",
                     "１２３".encode().decode("latin-1"), "-" + "9" * 30],
    "X-Yimen-Signature": ["", "zz", "00" * 63, "00" * 64, "0" * 129, "ff" * 64, "é"],
    "X-Yimen-Node": [Named("victim"), Named("stranger"), Named("parent"), Named("hub"), "", "x",
                     "4406081002019", "440608100201\t", "4" * 300],
    "Content-Type": ["text/plain", "", "application/json"],
}


@dataclass(frozen=True)
class Unsigned:
    """No X-Yimen-* header at all."""


@dataclass(frozen=True)
class SignedAt:
    """Signed properly, but at a time `offset` seconds from now."""

    offset: float


@dataclass(frozen=True)
class Plan:
    """Mutations of one request: of the message, then of the packed body's bytes, then
    signed (by the sender's key, or the base request's signature kept), then headers."""

    message: tuple[Any, ...] = ()
    body: tuple[Bytes, ...] = ()
    resign: bool = True
    headers: tuple[Any, ...] = ()

    @property
    def only_seals(self) -> bool:
        """Only seals inside a well-formed, well-signed push are mutated: the batch must go
        in, and a seal that is refused is quarantined alone."""
        return bool(self.message) and all(isinstance(op, InSeal) for op in self.message) \
            and not self.body and self.resign and not self.headers

    def apply(self, path: str, base: dict[str, Any], ctx: Context) -> Request:
        message = base
        for op in self.message:
            message = op.apply(message, ctx)
        body = wire.pack(message)
        for op in self.body:
            body = op.apply(body)
        headers = sign(ctx, path, body if self.resign else wire.pack(base))
        for op in self.headers:
            if isinstance(op, Unsigned):
                headers = {"Content-Type": wire.CONTENT_TYPE}
            elif isinstance(op, SignedAt):
                headers = sign(ctx, path, body, now=time.time() + op.offset)
            else:
                headers = op.apply(headers, ctx)
        return Request("POST", path, headers, body)


def header_ops() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(sorted(HEADER_VALUES)).flatmap(
            lambda name: st.builds(Set, st.just(name), st.sampled_from(HEADER_VALUES[name]))),
        st.just(Unsigned()),
        st.builds(SignedAt, st.sampled_from([-wire.MAX_SKEW_S - 5, wire.MAX_SKEW_S + 5, -1e9, 1e12, 1e15])),
    )


def plans(message_ops: st.SearchStrategy[Any]) -> st.SearchStrategy[Plan]:
    """A plan: mostly message mutations signed by the sender (the checks past the
    signature are the ones worth reaching), sometimes bytes or headers as well."""
    return st.builds(
        Plan,
        message=st.lists(message_ops, max_size=3).map(tuple),
        body=st.one_of(st.just(()), st.just(()), st.just(()),
                       st.tuples(st.builds(Bytes, st.sampled_from(BODY_HOWS), st.integers(0, 20_000)))),
        resign=st.one_of(st.just(True), st.just(True), st.just(True), st.just(False)),
        headers=st.one_of(st.just(()), st.just(()), st.just(()), st.tuples(header_ops())),
    )


def _fields(*keys: str) -> st.SearchStrategy[Any]:
    names = st.sampled_from([*keys, "protocol", "extra"])
    return st.one_of(st.builds(Set, names, hostile_values()), st.builds(Set, st.sampled_from(keys), positions()),
                     st.builds(Drop, names))


def hello_plans() -> st.SearchStrategy[Plan]:
    return plans(_fields("node", "recv_upto"))


def push_plans() -> st.SearchStrategy[Plan]:
    """Half of them mutate only seals (see `Plan.only_seals`), the rest anything."""
    in_seal = st.builds(InSeal, st.integers(0, 7), seal_ops())
    return st.one_of(
        st.builds(Plan, st.lists(in_seal, min_size=1, max_size=2).map(tuple)),
        plans(st.one_of(_fields("start", "next", "seals"),
                        st.builds(Seals, st.sampled_from(SEAL_SHAPES), st.integers(0, 300)), in_seal)))


def pull_plans() -> st.SearchStrategy[Plan]:
    return plans(_fields("since", "max_bytes", "wait"))


def reconcile_plans() -> st.SearchStrategy[Plan]:
    odd = st.dictionaries(st.one_of(st.binary(max_size=8), st.text(max_size=8)), hostile_values(), min_size=1,
                          max_size=3)
    return plans(st.one_of(_fields("digests"), st.builds(Merge, st.just("digests"), odd)))


def seals_plans() -> st.SearchStrategy[Plan]:
    docs = st.lists(st.one_of(st.text(max_size=20), hostile_values()), max_size=5)
    return plans(st.one_of(_fields("docs"), st.builds(Set, st.just("docs"), docs),
                           st.builds(ManyDocs, st.sampled_from([0, 1, 999, 1000, 1001, 5000]))))


# -- enrollment (JSON, unauthenticated) and status (GET) ------------------------------------------
def json_values() -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.integers(-10**400, 10**400), st.sampled_from([2**63, -1, 0]), st.floats(allow_nan=False),
                     st.text(max_size=16), st.booleans(), st.none())
    return st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                     st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                        max_leaves=10)


RAW_JSON: dict[str, Callable[[int], bytes]] = {
    "deep_list": lambda n: b"[" * n + b"]" * n,
    "deep_request": lambda n: b'{"code": "x", "request": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}",
    "not_json": lambda n: b"{not json",
    "bad_utf8": lambda n: b'{"code": "\xff\xfe", "request": {}}',
    "huge_number": lambda n: b'{"code": 1' + b"0" * (n % 6000) + b', "request": {}}',
    "nan": lambda n: b'{"code": NaN, "request": Infinity}',
    "empty": lambda n: b"",
}


@dataclass(frozen=True)
class EnrollPlan:
    """Fields of the enrollment JSON (`request.` names one of the request's), or raw text."""

    fields: tuple[tuple[str, Any], ...] = ()
    raw: tuple[str, int] | None = None

    def apply(self, base: dict[str, Any], ctx: Context) -> Request:
        message = json.loads(json.dumps(base))
        for key, value in self.fields:
            where, _, name = key.rpartition(".")
            target = message.get(where) if where else message
            if isinstance(target, dict):
                target[name] = ctx.resolve(value)
        body = RAW_JSON[self.raw[0]](self.raw[1]) if self.raw else json.dumps(message).encode()
        return Request("POST", "/v1/enroll", {"Content-Type": "application/json"}, body)


def enroll_plans() -> st.SearchStrategy[EnrollPlan]:
    keys = st.sampled_from(["code", "request", "extra", "request.type", "request.protocol", "request.region",
                            "request.public_key", "request.name", "request.address"])
    regions = st.sampled_from([Named("victim"), Named("hub"), Named("stranger"), "440608200201", "x"])
    value = st.one_of(json_values(), regions)
    return st.one_of(
        st.builds(EnrollPlan, st.lists(st.tuples(keys, value), min_size=1, max_size=3).map(tuple)),
        st.builds(EnrollPlan, st.just(()), st.tuples(st.sampled_from(sorted(RAW_JSON)),
                                                     st.sampled_from([1, 64, 5_000, 200_000]))),
    )


STATUS_PATHS = ("/v1/status", "/v1/status?peers=all", "/v1/status/", "/v1/status?" + "a=1&" * 500,
                "/v1/%00", "/v1/status%2f..%2fhello", "/v1/../v1/status")


def status_requests() -> st.SearchStrategy[Request]:
    return st.builds(Request, st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "HEAD"]),
                     st.sampled_from(STATUS_PATHS),
                     st.one_of(st.just({}), st.builds(lambda n: {"X-Yimen-Node": n},
                                                      st.sampled_from(["440608100201", "", "x"]))),
                     st.sampled_from([b"", b"{}", b"\x00" * 100]))
