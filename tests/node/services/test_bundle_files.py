"""Files by USB stick: a bundle carries the chunks of the documents in it (`--files with`),
none (`without`), or only them (`only`); the chunks a node said it wants come in the next
bundle back; an import keeps only chunks a document it holds lists, after the bundle's
seals went in; a damaged bundle with files is refused whole."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from support import id_number
from support.chain import synced_chain
from support.files_chain import deposit
from support.space import consent
from yimen.node.cli.main import main
from yimen.node.replication import signing_key
from yimen.node.services import space_files
from yimen.node.services.bundles import export_bundle, import_bundle
from yimen.personal_space.documents import CHUNK_SIZE
from yimen.sync.transports.bundle import BadBundle, write_bundle

SIZE = 2 * CHUNK_SIZE + 777  # three chunks


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path) as nodes:
        yield nodes


def whole(node, ref) -> bytes:
    out = io.BytesIO()
    space_files.write_out(node, ref, out)
    return out.getvalue()


def test_a_bundle_with_files_carries_the_documents_files(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _, data, ref = deposit(va, tmp_path, id_number(1), SIZE)
    seen = []
    up = export_bundle(va, town.node_id, tmp_path / "up.yimen", lambda *a: seen.append(a))
    assert up["files"] == "with" and up["chunks"] == 3 and up["files_complete"] and up["seals"] >= 1
    assert ("export_files", 3, 3) in seen
    got = import_bundle(town, tmp_path / "up.yimen")
    assert (got["chunks"], got["chunks_held"], got["chunks_refused"]) == (3, 0, 0)
    assert whole(town, ref) == data
    again = import_bundle(town, tmp_path / "up.yimen")  # importing twice only counts what is held
    assert (again["chunks"], again["chunks_held"]) == (0, 3)


def test_files_left_out_are_asked_for_and_come_in_a_files_only_bundle(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _, data, ref = deposit(va, tmp_path, id_number(2), SIZE)
    up = export_bundle(va, town.node_id, tmp_path / "up.yimen", files="without")
    assert up["chunks"] == 0 and up["seals"] >= 1
    import_bundle(town, tmp_path / "up.yimen")
    assert space_files.missing(town, ref) == list(ref.chunks)
    back = export_bundle(town, va.node_id, tmp_path / "back.yimen")  # its header asks for them
    import_bundle(va, tmp_path / "back.yimen")
    files = export_bundle(va, town.node_id, tmp_path / "files.yimen", files="only")
    assert (files["seals"], files["chunks"]) == (0, 3) and back["chunks"] == 0
    got = import_bundle(town, tmp_path / "files.yimen")
    assert got["imported"] == 0 and got["chunks"] == 3 and whole(town, ref) == data


def test_files_only_before_their_document_arrived_keeps_nothing(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _, data, ref = deposit(va, tmp_path, id_number(3), SIZE)
    files = export_bundle(va, town.node_id, tmp_path / "files.yimen", files="only")
    assert (files["seals"], files["chunks"]) == (0, 3)
    got = import_bundle(town, tmp_path / "files.yimen")
    assert (got["chunks"], got["chunks_refused"]) == (0, 3) and town.store.chunks.total() == (0, 0)
    # the seals were not carried, so a bundle with them still goes (and its files with it)
    up = export_bundle(va, town.node_id, tmp_path / "up.yimen")
    assert up["seals"] >= 1 and import_bundle(town, tmp_path / "up.yimen")["chunks"] == 3


def test_a_sibling_gets_no_files_it_may_not_hold(chain, tmp_path):
    va, town, vb = chain["village_a"], chain["town"], chain["village_b"]
    deposit(va, tmp_path, id_number(4), 1000)
    import_bundle(town, export_bundle(va, town.node_id, tmp_path / "up.yimen")["file"])
    down = export_bundle(town, vb.node_id, tmp_path / "down.yimen")
    assert down["chunks"] == 0


def test_a_damaged_bundle_with_files_is_refused_whole(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    deposit(va, tmp_path, id_number(5), SIZE)
    path = tmp_path / "up.yimen"
    export_bundle(va, town.node_id, path)
    raw = bytearray(path.read_bytes())
    before = town.store.chunks.total(), town.store.count("space_doc")
    for at in (len(raw) // 2, len(raw) - 100):  # a byte inside a chunk record, one near the end
        bad = bytearray(raw)
        bad[at] ^= 1
        path.write_bytes(bytes(bad))
        with pytest.raises(BadBundle) as e:
            import_bundle(town, path)
        assert "\n" not in e.value.en and (town.store.chunks.total(), town.store.count("space_doc")) == before
    path.write_bytes(bytes(raw[:len(raw) * 2 // 3]))  # cut short, mid-chunk
    with pytest.raises(BadBundle):
        import_bundle(town, path)
    assert (town.store.chunks.total(), town.store.count("space_doc")) == before


def test_a_signed_bundle_with_a_chunk_no_document_lists_stores_none_of_it(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    header = {"protocol": 3, "from": va.node_id, "to": town.node_id, "created_at": "2026-11-16T09:00:00+08:00",
              "ack": 0}
    path = tmp_path / "forged.yimen"
    write_bundle(path, header, [], signing_key(va), va.store.keys.transit(town.node_id)[0], [b"not listed anywhere"])
    got = import_bundle(town, path)
    assert (got["chunks"], got["chunks_refused"]) == (0, 1) and town.store.chunks.total() == (0, 0)


def test_a_protocol_2_bundle_is_still_read(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    header = {"protocol": 2, "from": va.node_id, "to": town.node_id, "created_at": "2026-11-16T09:00:00+08:00",
              "ack": 0}
    path = tmp_path / "old.yimen"
    write_bundle(path, header, [], signing_key(va), va.store.keys.transit(town.node_id)[0])
    got = import_bundle(town, path)
    assert got["from"] == va.node_id and got["chunks"] == 0


def test_the_cli_takes_files_with_without_only(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    deposit(va, tmp_path, id_number(6), 1000)
    runner = CliRunner()
    out = runner.invoke(main, ["--home", str(va.home), "bundle", "export", "--to", town.node_id, "--files", "only",
                               "--json", str(tmp_path / "f.yimen")])
    assert out.exit_code == 0, out.output
    s = json.loads(out.stdout)
    assert (s["files"], s["seals"], s["chunks"]) == ("only", 0, 1)
    bad = runner.invoke(main, ["--home", str(va.home), "bundle", "export", "--to", town.node_id, "--files", "some",
                               str(tmp_path / "g.yimen")])
    assert bad.exit_code != 0


def test_a_consent_holder_gets_the_document_and_its_file_on_one_stick(chain, tmp_path):
    va, town, vb = chain["village_a"], chain["town"], chain["village_b"]
    cid = id_number(7)
    _, data, ref = deposit(va, tmp_path, cid, SIZE)
    import_bundle(town, export_bundle(va, town.node_id, tmp_path / "up.yimen")["file"])  # the file reaches the town
    consent(vb, cid)
    import_bundle(town, export_bundle(vb, town.node_id, tmp_path / "ask.yimen")["file"])  # the consent asks
    down = export_bundle(town, vb.node_id, tmp_path / "down.yimen")
    assert down["chunks"] == 3
    got = import_bundle(vb, tmp_path / "down.yimen")
    assert got["chunks"] == 3 and whole(vb, ref) == data
