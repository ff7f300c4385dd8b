"""The revocation rule at the engine: once a key is cut after seq N, no seal of it after N
is accepted (quarantined with the reason, in both languages), and no seal up to N is lost,
whatever the order seals and the revocation come in."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from yimen.sync import seal as seals
from yimen.sync.certs import key_id
from yimen.sync.docs import Doc, new_peer_id
from yimen.sync.engine import Batch, Engine, public_bytes
from yimen.sync.seal import SealedChange
from yimen.sync.store import Store

TOWN, VILLAGE = "440608100000", "440608100201"
KEY = Ed25519PrivateKey.generate()
KID = key_id(public_bytes(KEY))


def a_seal(seq: int) -> tuple[bytes, bytes]:
    doc = Doc.new(f"{VILLAGE}-2026-{seq:06d}", "case", VILLAGE, new_peer_id())
    doc.update("case", {"n": seq})
    c = doc.commit()
    s = seals.make(KEY, VILLAGE, seq, VILLAGE, False,
                   [SealedChange(doc.doc_id, "case", c.peer, c.counter_start, c.counter_end, doc.export_change(c))])
    return s.body, s.signature


@settings(max_examples=40, deadline=None)
@given(seqs=st.lists(st.integers(1, 60), min_size=1, max_size=12, unique=True), cut=st.integers(0, 60),
       revoked_after=st.integers(0, 12))
def test_no_seal_after_the_cut_is_accepted_and_none_before_it_is_lost(seqs, cut, revoked_after):
    """Seals arrive one by one; the revocation comes after the first `revoked_after` of them."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "town.db")
        try:
            town = Engine(store, TOWN, Ed25519PrivateKey.generate())
            with store.transaction():
                store.keys.trust(VILLAGE, public_bytes(KEY))
            accepted_before = set()
            for i, seq in enumerate(seqs):
                if i == revoked_after:
                    with store.transaction():
                        store.keys.cut(KID, VILLAGE, cut, "revoked", ("已吊销：被盗", "revoked: stolen"))
                r = town.receive(VILLAGE, Batch(VILLAGE, 0, 0, [a_seal(seq)]))
                if i < revoked_after:
                    accepted_before.add(seq)
                    assert r.imported == 1
                elif seq > cut:
                    assert r.imported == 0 and r.quarantined == [
                        f"the key of {VILLAGE} is cut after seal #{cut} (revoked: stolen): seal #{seq} is refused"]
                else:
                    assert r.imported == 1
            held = {seq for author, seq in store.conn.execute("SELECT author, seq FROM feed")}
            assert held == accepted_before | {s for s in seqs[revoked_after:] if s <= cut}
            zh = [row["reason_zh"] for row in store.quarantine.rows()]
            assert all("已停用" in z and "被盗" in z for z in zh)
        finally:
            store.close()
