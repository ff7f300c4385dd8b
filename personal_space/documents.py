"""The bodies of space documents and consents: built here, read back here (pure).

A space document (`space_doc`) is one document of a citizen's space: a result of a
completed case (with its e-certificate) or a scan handed in at a window. Its root map
`space` describes it, its root map `files` lists the files it carries by hash (each with
its 1 MiB chunks' hashes, so a chunk fetched from anywhere is checked against the signed
document). A consent (`consent`) lets one window (its scope, the node `X`) and X's
ancestors hold the citizen's documents of some types until it expires or is withdrawn (its
root map `withdrawn`, empty while it is live).

Bodies come from other nodes: `read_space_doc` and `read_consent` bound and check every
field and raise `MalformedSpaceDocument`, never anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from yimen.personal_space.errors import MalformedSpaceDocument
from yimen.schema.doc_types import DOC_TYPES

CHUNK_SIZE = 1 << 20  # bytes of every chunk of a file but the last
MAX_FILES = 16  # files one document carries
MAX_FILE_BYTES = 256 << 20
MAX_TEXT = 200  # characters of a name, title or purpose
MAX_CREDENTIAL = 2048  # bytes of an e-certificate (a CWT is ~200)
MAX_CONSENT_TYPES = len(DOC_TYPES)
# the longest consent any node honours, whatever its writer's `consent_max_days` (a window
# asks for days; a modified node must not hand out a century)
MAX_CONSENT_SPAN = timedelta(days=366)
SOURCES = ("result", "scan")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _bad(what: str) -> MalformedSpaceDocument:
    return MalformedSpaceDocument(f"个人空间文档格式错误：{what}", f"malformed space document: {what}")


def _text(v: Mapping[str, Any], key: str, *, empty: bool = True, limit: int = MAX_TEXT) -> str:
    got = v.get(key, "")
    if type(got) is not str or len(got) > limit or (not empty and not got.strip()):
        raise _bad(key)
    return got


def _int(v: Mapping[str, Any], key: str, low: int, high: int) -> int:
    got = v.get(key)
    if type(got) is not int or not low <= got <= high:
        raise _bad(key)
    return got


def _when(v: Mapping[str, Any], key: str, *, empty: bool = False, day: bool = False) -> str:
    """An ISO date, or an ISO time with its offset (a time without one cannot be compared
    with another node's: every rule comparing times would fail on it)."""
    text = _text(v, key, empty=empty, limit=40)
    if text:
        try:
            when = (date if day else datetime).fromisoformat(text)
        except ValueError:
            raise _bad(key) from None
        if not day and when.tzinfo is None:
            raise _bad(key)
    return text


def _doc_type(code: Any) -> str:
    if code not in DOC_TYPES:
        raise _bad("doc_type")
    return code


@dataclass(frozen=True)
class FileRef:
    """A file a document carries: its SHA-256, what it is, and its chunks' SHA-256s."""

    hash: str
    name: str
    mime: str
    size: int
    chunks: tuple[str, ...]
    chunk_size: int = CHUNK_SIZE

    def value(self) -> dict[str, Any]:
        return {"name": self.name, "mime": self.mime, "size": self.size,
                "chunk_size": self.chunk_size, "chunks": list(self.chunks)}

    @classmethod
    def read(cls, file_hash: Any, v: Any) -> FileRef:
        if type(file_hash) is not str or not _HEX64.fullmatch(file_hash) or not isinstance(v, dict):
            raise _bad("files")
        size = _int(v, "size", 0, MAX_FILE_BYTES)
        chunk_size = _int(v, "chunk_size", 1, CHUNK_SIZE)
        chunks = v.get("chunks")
        if (not isinstance(chunks, list) or len(chunks) != max(1, -(-size // chunk_size))
                or not all(type(c) is str and _HEX64.fullmatch(c) for c in chunks)):
            raise _bad("files.chunks")
        return cls(file_hash, _text(v, "name"), _text(v, "mime", limit=100), size, tuple(chunks), chunk_size)


@dataclass(frozen=True)
class SpaceDocument:
    """What a space document says (its `space` and `files` maps)."""

    doc_type: str
    title: str
    citizen_id: str
    citizen_name: str
    issuer: str
    issuer_name: str
    issued_on: str
    source: str
    deposited_at: str
    clerk_id: str
    valid_until: str = ""
    case_id: str = ""
    credential: bytes | None = None
    files: tuple[FileRef, ...] = field(default=())

    def space_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in (
            "doc_type", "title", "citizen_id", "citizen_name", "issuer", "issuer_name", "issued_on",
            "valid_until", "source", "case_id", "deposited_at", "clerk_id")}
        if self.credential is not None:
            out["credential"] = self.credential
        return out

    def files_map(self) -> dict[str, Any]:
        return {f.hash: f.value() for f in self.files}


def read_space_doc(value: Mapping[str, Any]) -> SpaceDocument:
    """A space document's body, checked (MalformedSpaceDocument if it is not one)."""
    v, files = value.get("space"), value.get("files", {})
    if not isinstance(v, dict) or not isinstance(files, dict) or len(files) > MAX_FILES:
        raise _bad("space")
    credential = v.get("credential")
    if credential is not None and (type(credential) is not bytes or len(credential) > MAX_CREDENTIAL):
        raise _bad("credential")
    source = v.get("source")
    if source not in SOURCES:
        raise _bad("source")
    return SpaceDocument(
        doc_type=_doc_type(v.get("doc_type")), title=_text(v, "title"),
        citizen_id=_text(v, "citizen_id", empty=False, limit=18), citizen_name=_text(v, "citizen_name", empty=False),
        issuer=_text(v, "issuer", empty=False, limit=12), issuer_name=_text(v, "issuer_name"),
        issued_on=_when(v, "issued_on", day=True), valid_until=_when(v, "valid_until", empty=True, day=True),
        source=source, case_id=_text(v, "case_id", limit=40), deposited_at=_when(v, "deposited_at"),
        clerk_id=_text(v, "clerk_id", limit=40), credential=credential,
        files=tuple(FileRef.read(h, f) for h, f in sorted(files.items())))


@dataclass(frozen=True)
class Consent:
    """A citizen's consent that node `node` (and its ancestors) may hold their documents of
    `types` for `purpose` until `expires_at`, unless withdrawn."""

    node: str
    citizen_id: str
    citizen_name: str
    types: tuple[str, ...]
    purpose: str
    granted_at: str
    expires_at: str
    clerk_id: str
    clerk_name: str
    present: bool = True
    withdrawn_at: str = ""
    withdrawn_by: str = ""
    withdraw_reason: str = ""

    def consent_map(self) -> dict[str, Any]:
        return {"node": self.node, "citizen_id": self.citizen_id, "citizen_name": self.citizen_name,
                "types": list(self.types), "purpose": self.purpose, "granted_at": self.granted_at,
                "expires_at": self.expires_at, "clerk_id": self.clerk_id, "clerk_name": self.clerk_name,
                "present": self.present}

    def withdrawn_map(self) -> dict[str, Any]:
        return {"at": self.withdrawn_at, "clerk_id": self.withdrawn_by, "reason": self.withdraw_reason}


def read_consent(value: Mapping[str, Any]) -> Consent:
    """A consent's body, checked (MalformedSpaceDocument if it is not one)."""
    v, w = value.get("consent"), value.get("withdrawn", {})
    if not isinstance(v, dict) or not isinstance(w, dict):
        raise _bad("consent")
    types = v.get("types")
    if not isinstance(types, list) or not 0 < len(types) <= MAX_CONSENT_TYPES:
        raise _bad("types")
    present = v.get("present", True)
    if type(present) is not bool:
        raise _bad("present")
    granted, expires = _when(v, "granted_at"), _when(v, "expires_at")
    if not timedelta(0) < datetime.fromisoformat(expires) - datetime.fromisoformat(granted) <= MAX_CONSENT_SPAN:
        raise _bad("expires_at")
    return Consent(
        node=_text(v, "node", empty=False, limit=12), citizen_id=_text(v, "citizen_id", empty=False, limit=18),
        citizen_name=_text(v, "citizen_name", empty=False), types=tuple(sorted({_doc_type(t) for t in types})),
        purpose=_text(v, "purpose"), granted_at=granted, expires_at=expires,
        clerk_id=_text(v, "clerk_id", limit=40), clerk_name=_text(v, "clerk_name"), present=present,
        withdrawn_at=_when(w, "at", empty=True), withdrawn_by=_text(w, "clerk_id", limit=40),
        withdraw_reason=_text(w, "reason"))


def live(expires_at: str, withdrawn_at: str, now: str) -> bool:
    """Is a consent with these times live at `now` (ISO times with their offsets)? The one
    spelling of the rule: not withdrawn, not expired. A time that cannot be compared (not
    one `read_consent` lets through) is not live."""
    if withdrawn_at:
        return False
    try:
        return datetime.fromisoformat(now) < datetime.fromisoformat(expires_at)
    except (TypeError, ValueError):
        return False


def covers(types: tuple[str, ...] | list[str], doc_type: str) -> bool:
    """Does a consent for `types` cover a document of `doc_type`?"""
    return doc_type in types
