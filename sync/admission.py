"""What a receiver checks of a seal before any of it is written (the architecture's order):
the author's key the seal names is known, the signature holds, the seal is not after that
key's cut (a revocation's or a rotation's: "cut after seq N"), the author may write every
document it changes (`visibility.may_write`: the id names the owner, the scope is the
owner's, the author is the owner or an ancestor), every change is of the seal's flow and
holds only the author's own Loro peer's ops, and each document keeps the kind and scope it
has here. Also: what node records and revocations vouch for (`certificates`,
`revocations`), read from their documents once the seal carrying them went in."""

from __future__ import annotations

from yimen.sync import certs
from yimen.sync import seal as seals
from yimen.sync.docs import Doc, change_spans
from yimen.sync.seal import BadSeal, Seal
from yimen.sync.store import Store
from yimen.sync.visibility import SPACE, flow, write_refusal

UNKNOWN_AUTHOR = "seal from unknown node"
MAX_REASON = 200


def check(store: Store, s: Seal) -> None:
    """Raise BadSeal with the reason if `s` may not go in."""
    known = store.keys.for_seal(s.author, s.key_id)
    if known is None:
        raise BadSeal(f"未知节点 {s.author}（密钥 {s.key_id.hex()}）的签封",
                      f"{UNKNOWN_AUTHOR} {s.author} (key {s.key_id.hex()})")
    key, cut, reason, reason_zh = known
    seals.verify(s, key)
    if cut is not None and s.seq > cut:
        raise BadSeal(f"节点 {s.author} 的密钥在签封 #{cut} 之后已停用（{reason_zh}），签封 #{s.seq} 不予接收",
                      f"the key of {s.author} is cut after seal #{cut} ({reason}): seal #{s.seq} is refused")
    if s.flow == SPACE and len({c.doc_id for c in s.changes}) != 1:
        raise BadSeal("个人空间签封只能包含一份文档", "a space seal holds changes of exactly one document")
    owners = store.keys.owners(c.peer for c in s.changes)
    for c in s.changes:
        refusal = write_refusal(s.author, c.doc_id, c.kind, s.scope)
        if refusal is not None:
            raise BadSeal(*refusal)
        if flow(c.kind) != s.flow:
            raise BadSeal("签封方向与文档类型不符", f"change of kind {c.kind} in a seal with flow={s.flow}")
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


def revoked_reason(reason: str) -> tuple[str, str]:
    """What a revoked key's refused seals and requests say, (zh, en), around the revoker's text."""
    return f"已吊销：{reason}", f"revoked: {reason}"


def certificates(doc: Doc) -> list[bytes]:
    """The certificate bytes a node record carries (its `certificates` map, key id -> bytes),
    each still to be verified; what is not bytes vouches for nothing (and must not fail the
    batch)."""
    held = doc.value().get("certificates")
    if not isinstance(held, dict):
        return []
    return [raw for raw in held.values() if type(raw) is bytes and len(raw) <= certs.MAX_CERT_BYTES]


def revocations(doc: Doc) -> list[tuple[bytes, int, str]]:
    """(key id, cut, reason) of each well-formed entry of a revocation document (its
    `revoked` map: "<key id hex>@<revoker>" -> {cut, reason, revoker, at}, one entry per
    revoker, so two ancestors revoking at once keep both cuts); the rest is ignored."""
    held = doc.value().get("revoked")
    out = []
    for name, entry in (held.items() if isinstance(held, dict) else ()):
        if not isinstance(entry, dict):
            continue
        cut, reason = entry.get("cut"), entry.get("reason")
        try:
            raw = bytes.fromhex(name.partition("@")[0])
        except ValueError:
            continue
        if len(raw) == certs.KEY_ID_BYTES and type(cut) is int and 0 <= cut <= seals.MAX_INT \
                and isinstance(reason, str):
            out.append((raw, cut, reason[:MAX_REASON]))
    return out
