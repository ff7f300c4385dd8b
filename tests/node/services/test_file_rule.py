"""Which chunks a node wants and which may move to a peer, over the node's own tables: the
home and its ancestors, a consent holder while its consent is live, nobody else."""

from __future__ import annotations

import pytest

from support import id_number
from support.chain import sync_all, synced_chain
from support.files_chain import deposit
from support.space import consent, document
from yimen.node.services import file_transfer, space


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path) as nodes:
        yield nodes


def test_a_chunk_moves_to_the_home_its_ancestors_and_a_live_consent_holder_only(chain, tmp_path):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    cid = id_number(1)
    _, _, ref = deposit(va, tmp_path, cid, 5000)
    sync_all(chain)
    chunks = list(ref.chunks)
    assert file_transfer.wanted(town) == chunks and file_transfer.wanted(va) == []
    assert file_transfer.movable(town, va.node_id, chunks) == set(chunks)
    assert file_transfer.movable(chain["district"], town.node_id, chunks) == set(chunks)
    assert file_transfer.movable(town, vb.node_id, chunks) == set()
    assert file_transfer.offered(va, town.node_id) == chunks
    consent_id = consent(vb, cid)
    sync_all(chain)
    assert file_transfer.movable(town, vb.node_id, chunks) == set(chunks)
    assert file_transfer.answer_want(town, vb.node_id, chunks) == {"lacks": chunks, "gives": []}
    space.withdraw_consent(vb, consent_id, "c01", "撤回")
    sync_all(chain)
    assert file_transfer.movable(town, vb.node_id, chunks, giving=True) == set()
    # B writes a document of its own listing A's chunks (hashes it saw on a case it reused
    # them for): the town takes nothing from B by it and gives B nothing by it
    document(vb, cid, files=(ref,))
    sync_all(chain)
    assert file_transfer.movable(town, vb.node_id, chunks, giving=True) == set()
    with pytest.raises(file_transfer.ChunkRefused):
        file_transfer.serve(town, vb.node_id, chunks[0])
    assert file_transfer.answer_want(town, vb.node_id, chunks)["gives"] == []


def test_a_big_hub_scans_its_files_again_only_when_something_changed(chain, monkeypatch):
    town = chain["town"]
    monkeypatch.setattr(file_transfer, "SCAN_FREE_ROWS", -1)
    assert file_transfer._due(town, "p", 0)
    file_transfer._LAST_STEP.setdefault(town.store, {})["p"] = (file_transfer.time.monotonic(), 0, False)
    assert not file_transfer._due(town, "p", 0)
    assert file_transfer._due(town, "p", 1)  # a file row came
    file_transfer._LAST_STEP[town.store]["p"] = (file_transfer.time.monotonic(), 0, True)
    assert file_transfer._due(town, "p", 0)  # the last step moved something
    file_transfer._LAST_STEP[town.store]["p"] = (file_transfer.time.monotonic() - file_transfer.RESCAN_S, 0, False)
    assert file_transfer._due(town, "p", 0)
