"""What a receiver checks of a seal before any of it is written (the architecture's order):
the author is known, the signature holds, the author may write every document it changes
(`visibility.may_write`: the id names the owner, the scope is the owner's, the author is
the owner or an ancestor), every change is of the seal's direction and holds only the
author's own Loro peer's ops, and each document keeps the kind and scope it has here."""

from __future__ import annotations

from yimen.sync import seal as seals
from yimen.sync.docs import Doc, change_spans
from yimen.sync.seal import BadSeal, Seal
from yimen.sync.store import Store
from yimen.sync.visibility import flows_down, write_refusal

UNKNOWN_AUTHOR = "seal from unknown node"


def check(store: Store, s: Seal, key: bytes | None) -> None:
    """Raise BadSeal with the reason if `s` (signed, it says, with `key`) may not go in."""
    if key is None:
        raise BadSeal(f"未知节点 {s.author} 的签封", f"{UNKNOWN_AUTHOR} {s.author}")
    seals.verify(s, key)
    owners = store.keys.owners(c.peer for c in s.changes)
    for c in s.changes:
        refusal = write_refusal(s.author, c.doc_id, c.kind, s.scope)
        if refusal is not None:
            raise BadSeal(*refusal)
        if flows_down(c.kind) != s.down:
            raise BadSeal("签封方向与文档类型不符", f"change of kind {c.kind} in a seal with down={s.down}")
        owner = owners[c.peer]
        if owner is not None and owner != s.author:
            raise BadSeal(f"变更的 peer {c.peer} 属于 {owner}", f"peer {c.peer} belongs to {owner}, not {s.author}")
        try:
            spans = change_spans(c.blob)
        except ValueError as e:
            raise BadSeal("变更内容无法解析", str(e)) from e
        if spans != {c.peer: (c.start, c.end)}:
            raise BadSeal("变更包含他人的操作", f"change {c.doc_id}@{c.peer} holds ops {spans}")
    check_held(store, s)


def check_held(store: Store, s: Seal) -> None:
    """Every change of a document has the kind and scope the document has here, and one
    kind per document within the seal."""
    kinds = dict(store.kinds({c.doc_id for c in s.changes}))
    for c in s.changes:
        if kinds.setdefault(c.doc_id, (c.kind, s.scope)) != (c.kind, s.scope):
            raise BadSeal(f"文档 {c.doc_id} 的类型或范围不符", f"document {c.doc_id} kind/scope mismatch")


def vouched_key(doc: Doc) -> bytes | None:
    """The public key a node record vouches for, or None. The record passed every check,
    but its content is whatever its author wrote: a record that is not one vouches for
    nothing (and must not fail the batch)."""
    rec = doc.value().get("node")
    if not isinstance(rec, dict) or rec.get("region") != doc.scope:
        return None
    key = rec.get("public_key")
    if not isinstance(key, str) or len(key) != 64:
        return None
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None  # fromhex skips spaces


def vouched_transit(doc: Doc) -> tuple[str, str] | None:
    """The (age recipient, TLS fingerprint) a node record vouches for, or None (its form
    only: a bad one fails where it is used, on this node's own link or bundle)."""
    rec = doc.value().get("node")
    if not isinstance(rec, dict) or rec.get("region") != doc.scope:
        return None
    enc, fp = rec.get("encryption_key"), rec.get("tls_fingerprint")
    if not (isinstance(enc, str) and enc.startswith("age1") and len(enc) <= 100 and enc.isascii()):
        return None
    if not (isinstance(fp, str) and len(fp) == 64 and all(c in "0123456789abcdef" for c in fp)):
        return None
    return enc, fp
