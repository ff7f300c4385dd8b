"""Checkpoints of the audit log in the C2SP formats: a tlog-checkpoint body (origin, tree
size, base64 root hash) in a signed note (https://c2sp.org/signed-note) with Ed25519
signatures (type 0x01): the node's own, and its parent's countersignature beside it.

The note text format is a few lines; the signatures are `cryptography`'s Ed25519. (The
PyPI packages that implement signed notes, `aics-tlog` and `tlog-scales`, are months old
and little used: not a dependency to build a province's audit on.)

Everything read here comes from outside (a child's request, a stored row an attacker may
have edited), so `parse` bounds the note and refuses anything not in the format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yimen.node.errors import NodeError
from yimen.node.identity import raw_public

MAX_NOTE = 4096
MAX_SIGNATURES = 8
DASH = "\u2014 "  # a signature line starts with an em dash and a space
ED25519 = b"\x01"


class BadNote(NodeError):
    """A checkpoint is not a well-formed signed note, or a signature on it does not verify."""

    code = "bad_checkpoint"


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: bytes  # 4 bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str  # the signed body, exactly as signed
    signatures: tuple[Signature, ...]

    def signed_by(self, name: str, public_key: bytes) -> bool:
        """Does a signature by `name` with `public_key` verify over the body?"""
        want = key_hash(name, public_key)
        for s in self.signatures:
            if s.name == name and s.key_hash == want:
                try:
                    Ed25519PublicKey.from_public_bytes(public_key).verify(s.signature, self.text.encode())
                    return True
                except (InvalidSignature, ValueError):
                    return False
        return False

    def note(self) -> str:
        return self.text + "\n" + "".join(line(s) for s in self.signatures)


def key_hash(name: str, public_key: bytes) -> bytes:
    """The signed-note key ID: SHA-256(name, newline, type, key), first four bytes."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def line(s: Signature) -> str:
    return f"{DASH}{s.name} {base64.b64encode(s.key_hash + s.signature).decode()}\n"


def body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign(text: str, name: str, key: Ed25519PrivateKey) -> Signature:
    return Signature(name, key_hash(name, raw_public(key)), key.sign(text.encode()))


def make(origin: str, size: int, root: bytes, key: Ed25519PrivateKey) -> Checkpoint:
    """A checkpoint signed by the log's own key (its key name is the origin)."""
    text = body(origin, size, root)
    return Checkpoint(origin, size, root, text, (sign(text, origin, key),))


def countersign(cp: Checkpoint, name: str, key: Ed25519PrivateKey) -> Checkpoint:
    """`cp` with one more signature, by `name` (replacing an earlier one of that name)."""
    others = tuple(s for s in cp.signatures if s.name != name)
    return Checkpoint(cp.origin, cp.size, cp.root, cp.text, (*others, sign(cp.text, name, key)))


def _bad(en: str) -> BadNote:
    return BadNote(f"审计检查点格式错误：{en}", f"malformed audit checkpoint: {en}")


def parse(note: object) -> Checkpoint:
    """A checkpoint note: body, blank line, one to MAX_SIGNATURES signature lines."""
    if not isinstance(note, str) or not 0 < len(note) <= MAX_NOTE:
        raise _bad("not a note of at most 4096 characters")
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n") or any(c < " " and c != "\n" for c in note):
        raise _bad("no blank line before the signatures, or a control character")
    lines = text.split("\n")
    if len(lines) != 3:
        raise _bad("the body is not origin, size and root hash")
    origin, size, root = lines
    if not origin or " " in origin or not size.isdigit() or not size.isascii() or (size != "0" and size[0] == "0"):
        raise _bad("bad origin or size")
    try:
        root_bytes = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("the root hash is not base64") from None
    if len(root_bytes) != 32 or int(size) >= 1 << 63:
        raise _bad("the root hash is not 32 bytes, or the size is out of range")
    return Checkpoint(origin, int(size), root_bytes, text + "\n", _signatures(sigs))


def _signatures(block: str) -> tuple[Signature, ...]:
    out = []
    rows = block[:-1].split("\n")
    if len(rows) > MAX_SIGNATURES:
        raise _bad("too many signatures")
    for row in rows:
        name, _, sig = row.removeprefix(DASH).rpartition(" ")
        if not row.startswith(DASH) or not name or " " in name or "+" in name:
            raise _bad("a signature line is not '— name signature'")
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("a signature is not base64") from None
        if len(raw) != 68:
            raise _bad("an Ed25519 signature is 4 + 64 bytes")
        out.append(Signature(name, raw[:4], raw[4:]))
    return tuple(out)
