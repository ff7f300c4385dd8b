"""Checkpoint notes (C2SP tlog-checkpoint in a signed note): what is made parses back the
same and verifies; anything else is refused as `BadNote`, never another exception; a
changed character fails the signature or the parse; a child's checkpoint message of any
shape is answered with a refusal, never an unexpected error."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from yimen.node.audit import note
from yimen.node.identity import raw_public

KEY, OTHER = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
origins = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs")), min_size=1, max_size=40) \
    .filter(lambda s: "+" not in s and "\u2014" not in s and " " not in s)


@given(origins, st.integers(0, 1 << 62), st.binary(min_size=32, max_size=32))
def test_a_made_checkpoint_parses_back_and_verifies(origin, size, root):
    cp = note.countersign(note.make(origin, size, root, KEY), "yimen.node/440608100", OTHER)
    back = note.parse(cp.note())
    assert (back.origin, back.size, back.root, back.text) == (origin, size, root, cp.text)
    assert back.signed_by(origin, raw_public(KEY)) and back.signed_by("yimen.node/440608100", raw_public(OTHER))
    assert not back.signed_by(origin, raw_public(OTHER))


@given(st.text(max_size=300) | st.binary(max_size=50) | st.none() | st.integers())
def test_anything_else_is_a_bad_note(text):
    try:
        note.parse(text)
    except note.BadNote:
        pass


@given(st.data())
def test_a_changed_character_is_refused_or_unsigned(data):
    text = note.make("yimen.audit/440608100201", 12, bytes(range(32)), KEY).note()
    i = data.draw(st.integers(0, len(text) - 1))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[i]))
    changed = text[:i] + new + text[i + 1:]
    try:
        cp = note.parse(changed)
    except note.BadNote:
        return
    assert not cp.signed_by("yimen.audit/440608100201", raw_public(KEY))


def test_the_key_id_is_the_signed_note_one():
    # c2sp.org/signed-note: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]
    import hashlib
    pub = raw_public(KEY)
    line = note.make("example.com/log", 1, bytes(32), KEY).note().splitlines()[-1]
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    assert raw[:4] == hashlib.sha256(b"example.com/log\n\x01" + pub).digest()[:4] and len(raw) == 68
