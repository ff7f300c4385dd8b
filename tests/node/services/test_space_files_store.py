"""A file kept in the node: stored in chunks once however often it is deposited, read back
whole; a chunk whose bytes do not match its hash is refused."""

from __future__ import annotations

import io
import os

import pytest

from support import id_number
from support.space import document
from yimen.node.services import space_files
from yimen.personal_space.files import FileDamaged
from yimen.sync.store.chunks import BadChunk


def test_a_file_is_stored_once_in_chunks_and_read_back_whole(fresh_node, tmp_path):
    scan = tmp_path / "收入证明.pdf"
    scan.write_bytes(os.urandom((1 << 20) * 2 + 123))
    ref = space_files.store_file(fresh_node, scan)
    again = space_files.store_file(fresh_node, scan)
    assert ref == again and len(ref.chunks) == 3 and ref.mime == "application/pdf"
    assert fresh_node.store.chunks.total() == (3, scan.stat().st_size)
    doc_id = document(fresh_node, id_number(1), files=(ref,))
    row = fresh_node.store.conn.execute("SELECT doc_id, size FROM space_files WHERE file_hash = ?", (ref.hash,)).fetchall()
    assert row == [(doc_id, scan.stat().st_size)]
    out = io.BytesIO()
    assert space_files.write_out(fresh_node, ref, out) == scan.stat().st_size and out.getvalue() == scan.read_bytes()
    with fresh_node.store.transaction():
        fresh_node.store.chunks.delete([ref.chunks[1]])
    assert space_files.missing(fresh_node, ref) == [ref.chunks[1]]
    with pytest.raises(FileDamaged):
        space_files.write_out(fresh_node, ref, io.BytesIO())


def test_bytes_that_are_not_their_chunk_are_refused(fresh_node):
    with fresh_node.store.transaction(), pytest.raises(BadChunk):
        fresh_node.store.chunks.put("00" * 32, b"not that")
    assert fresh_node.store.chunks.total() == (0, 0)


def test_an_empty_scan_is_refused_and_nothing_is_kept(fresh_node, tmp_path):
    from yimen.personal_space.files import EmptyFile
    empty = tmp_path / "户口簿.pdf"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFile, match="empty"):
        space_files.store_file(fresh_node, empty)
    assert fresh_node.store.chunks.total() == (0, 0)
