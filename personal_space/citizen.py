"""Finding a citizen without their ID number: a keyed hash, the key city-wide.

Space documents and consents are found by `subject`, HMAC-SHA256 of the ID number under
the city's key, so the index a node keeps of them (and anything it logs) names no ID
number: an ID number has too little entropy (birth date, region, a few digits) for a plain
hash to hide it. The key is the chain root's: the root writes `space_key` into its own node
record (`node:<root>`, map `node`), which the trust list carries to every node of the city,
encrypted on every link and at rest. A node that knows no root yet (standing alone before
it joins a chain) uses a provisional key of its own; its projections are derived again when
it learns the root's (`learn` says when), so nothing stored depends on which key was used:
the documents hold the ID number itself, and only projections hold the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from yimen.schema import region
from yimen.sync.docs import Doc
from yimen.sync.store import Store

KEY_META = "space:key"  # "<region of the root that wrote it> <key hex>"
PROVISIONAL_META = "space:provisional_key"
RECORD_FIELD = "space_key"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def new_key() -> str:
    """A fresh city key, as the root's node record holds it (hex)."""
    return secrets.token_hex(32)


def key(store: Store) -> bytes:
    """The city key this node derives subjects with: the root's once learnt, else this
    node's provisional one (made on first use)."""
    held = store.meta(KEY_META)
    if held:
        return bytes.fromhex(held.split()[1])
    provisional = store.meta(PROVISIONAL_META)
    if provisional is None:
        with store.transaction():
            provisional = store.meta(PROVISIONAL_META) or new_key()
            store.set_meta(PROVISIONAL_META, provisional)
    return bytes.fromhex(provisional)


def subject(city_key: bytes, id_number: str) -> str:
    """The keyed hash a citizen is found by (32 hex characters)."""
    return hmac.new(city_key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()[:32]


def subject_of(store: Store, id_number: str) -> str:
    return subject(key(store), id_number)


def learn(store: Store, doc: Doc) -> bool:
    """Take the city key from a node record that carries one (inside the caller's
    transaction). The record of the highest region wins (only a chain's root writes one;
    a root that later joins a chain under a higher one gives way to it). True if the key
    this node derives subjects with changed: the caller derives its space projections again."""
    if doc.kind != "node":
        return False
    info: Any = doc.value().get("node")
    hexkey = info.get(RECORD_FIELD) if isinstance(info, dict) else None
    if type(hexkey) is not str or not _HEX64.fullmatch(hexkey):
        return False
    before = store.meta(KEY_META)
    if before:
        held_region, held_key = before.split()
        if held_key == hexkey or doc.scope != held_region and (
                region.level_rank(region.level(held_region)) <= region.level_rank(region.level(doc.scope))):
            return False  # the same key, or a lower root's (the root it holds replaces its own freely)
    store.set_meta(KEY_META, f"{doc.scope} {hexkey}")
    return (before or "").split()[-1:] != [hexkey] and (before is not None or store.meta(PROVISIONAL_META) is not None)
