"""Files of a citizen's documents, in chunks (pure): fixed 1 MiB chunks, each named by its
SHA-256, the whole file by the SHA-256 of its bytes. Fixed-size chunks rather than
content-defined ones: a scan or a PDF is deposited once and never edited, so there is no
shifted content for content-defined boundaries to find again, and a fixed size makes
"resume from the last whole chunk" a matter of counting."""

from __future__ import annotations

import hashlib
import mimetypes
from typing import BinaryIO, Callable, Iterable, Iterator

from yimen.personal_space.documents import CHUNK_SIZE, MAX_FILE_BYTES, FileRef
from yimen.personal_space.errors import SpaceError


class FileTooLarge(SpaceError):
    """A file is larger than a space document may carry."""

    code = "file_too_large"


class EmptyFile(SpaceError):
    """A scan handed in is an empty file (a scanner that failed, a file saved before it was written)."""

    code = "empty_file"


class FileDamaged(SpaceError):
    """A file's chunks do not make the file its document names."""

    code = "file_damaged"


def split(stream: BinaryIO, name: str, mime: str = "",
          put: Callable[[str, bytes], None] = lambda digest, data: None, chunk_size: int = CHUNK_SIZE) -> FileRef:
    """Read a file in chunks, handing each to `put(sha256 hex, bytes)` as it is read (so a
    file of tens of MB is never whole in memory), and return its reference."""
    whole, chunks, size = hashlib.sha256(), [], 0
    while block := stream.read(chunk_size):
        size += len(block)
        if size > MAX_FILE_BYTES:
            raise FileTooLarge(f"文件 {name} 超过 {MAX_FILE_BYTES >> 20} MB", f"{name} is larger than {MAX_FILE_BYTES >> 20} MB")
        whole.update(block)
        digest = hashlib.sha256(block).hexdigest()
        put(digest, block)
        chunks.append(digest)
    if not chunks:  # an empty file is one empty chunk, so every file has at least one
        chunks.append(hashlib.sha256(b"").hexdigest())
        put(chunks[0], b"")
    return FileRef(whole.hexdigest(), name, mime or guess_mime(name), size, tuple(chunks), chunk_size)


def guess_mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def join(ref: FileRef, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The file's bytes from its chunks in order, checked chunk by chunk and as a whole
    (FileDamaged at the first that does not match)."""
    whole, size = hashlib.sha256(), 0
    for digest, data in zip(ref.chunks, chunks, strict=True):
        if hashlib.sha256(data).hexdigest() != digest:
            raise FileDamaged(f"文件 {ref.name} 的分块已损坏", f"a chunk of {ref.name} is damaged")
        whole.update(data)
        size += len(data)
        yield data
    if size != ref.size or whole.hexdigest() != ref.hash:
        raise FileDamaged(f"文件 {ref.name} 不完整或已损坏", f"{ref.name} is incomplete or damaged")
