"""Files in chunks: any file split and joined again is the same bytes; a changed chunk or
a chunk left out is FileDamaged."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, strategies as st

from yimen.personal_space import files
from yimen.personal_space.documents import FileRef
from yimen.personal_space.files import FileDamaged


def split(data: bytes, chunk_size: int):
    held: dict[str, bytes] = {}
    ref = files.split(io.BytesIO(data), "scan.pdf", put=held.__setitem__, chunk_size=chunk_size)
    assert FileRef.read(ref.hash, ref.value()) == ref  # what a document carries reads back
    return ref, held


@given(st.binary(max_size=5000), st.integers(1, 700))
def test_any_file_splits_and_joins_to_the_same_bytes(data, size):
    ref, held = split(data, size)
    assert ref.size == len(data) and ref.mime == "application/pdf"
    assert b"".join(files.join(ref, (held[c] for c in ref.chunks))) == data


@given(st.binary(min_size=1, max_size=3000), st.integers(1, 500), st.data())
def test_a_changed_or_missing_chunk_never_joins(data, size, draw):
    ref, held = split(data, size)
    chunks = [held[c] for c in ref.chunks]
    i = draw.draw(st.integers(0, len(chunks) - 1))
    if draw.draw(st.booleans()) and len(chunks) > 1:
        del chunks[i]
        error = (FileDamaged, ValueError)
    else:
        j = draw.draw(st.integers(0, max(0, len(chunks[i]) - 1)))
        chunks[i] = chunks[i][:j] + bytes([chunks[i][j] ^ 1]) + chunks[i][j + 1:] if chunks[i] else b"x"
        error = FileDamaged
    with pytest.raises(error):
        b"".join(files.join(ref, chunks))
