"""Replication by bundle files: village A ↔ town by USB stick, the rest of the chain online."""

from __future__ import annotations

import itertools
import json
import zlib

import pyrage

import pytest
from click.testing import CliRunner

from support.chain import push, synced_chain
from support import id_number
from yimen.sync.store import driver
from yimen.node.services import bundles, cases
from yimen.node import home, identity
from yimen.node.services.bundles import UnknownPeer, WrongRecipient, export_bundle, import_bundle
from yimen.node.cli.main import main
from yimen.node.replication import engine, signing_key
from yimen.sync.transports import bundle as framing
from yimen.sync.transports.bundle import PROTOCOL, BadBundle, write_bundle
from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync import seal as seals
from yimen.sync.docs import Doc
from yimen.sync.errors import SyncError
from yimen.sync.seal import SealedChange

REPLICATED = ("docs", "changes", "feed", "pending", "quarantine", "cases", "case_events", "node_certs")


@pytest.fixture
def chain(tmp_path):
    with synced_chain(tmp_path) as nodes:  # everyone holds the catalog and the node records
        yield nodes


def _statuses(node):
    return dict(node.store.conn.execute("SELECT case_id, status FROM cases").fetchall())


def _tables(node):
    conn = node.store.conn
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in REPLICATED}


def _dump(node):
    return list(driver.iterdump(node.store.conn))


APPLICANTS = itertools.count(1)


def _dibao_in_review(va):
    """A case in review for a new applicant (a second open case of one applicant's item
    would need a confirmation)."""
    cid = cases.accept(va, "c01", cases.Application(
        "T-DIBAO", id_number(next(APPLICANTS)), "陈美玲", {"居民身份证": None, "收入证明": None}, {}))["case_id"]
    cases.act(va, cid, "submit", "c01")
    cases.act(va, cid, "approve", "c01")
    return cid


def _bundle_cli(node, *args):
    return CliRunner().invoke(main, ["--home", str(node.home), *args])


def test_case_goes_up_by_stick_and_the_decision_comes_back(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    cid = _dibao_in_review(va)
    up = export_bundle(va, "440608100", tmp_path / "up.yimen")
    assert up["to"] == town.node_id and up["seals"] >= 1 and up["complete"]
    got = import_bundle(town, tmp_path / "up.yimen")
    assert got["imported"] == up["seals"] and got["quarantined"] == 0 and got["pending"] == 0
    push(town, chain["district"])
    push(chain["district"], chain["city"])
    for name in ("town", "district", "city"):
        assert _statuses(chain[name]) == {cid: "in_review"}

    cases.act(town, cid, "approve", "t01")
    down = export_bundle(town, va.node_id, tmp_path / "down.yimen")
    assert down["ack"] == engine(town).positions(va.node_id)[0] > 0
    import_bundle(va, tmp_path / "down.yimen")
    assert _statuses(va) == {cid: "approved"}
    assert _statuses(chain["village_b"]) == {}
    # The ack came back: village A's next bundle repeats nothing the town already holds.
    assert engine(va).positions(town.node_id)[1] == down["ack"]
    again = export_bundle(va, town.node_id, tmp_path / "up2.yimen")
    assert again["seals"] == 0 and again["since"] == down["ack"]


def test_importing_the_same_bundle_twice_changes_nothing(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _dibao_in_review(va)
    export_bundle(va, town.node_id, tmp_path / "up.yimen")
    first = import_bundle(town, tmp_path / "up.yimen")
    before, positions = _tables(town), engine(town).positions(va.node_id)
    second = import_bundle(town, tmp_path / "up.yimen")
    assert second["imported"] == 0 and second["duplicates"] == first["imported"] > 0
    assert _tables(town) == before and engine(town).positions(va.node_id) == positions


def test_an_old_bundle_imported_late_only_adds_duplicates(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _dibao_in_review(va)
    export_bundle(va, town.node_id, tmp_path / "old.yimen")
    _dibao_in_review(va)
    export_bundle(va, town.node_id, tmp_path / "new.yimen")
    import_bundle(town, tmp_path / "new.yimen")
    before = _tables(town)
    assert import_bundle(town, tmp_path / "old.yimen")["imported"] == 0
    assert _tables(town) == before and len(_statuses(town)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_bundle_is_one_line_error_and_changes_nothing(chain, tmp_path, damage):
    va, town = chain["village_a"], chain["town"]
    _dibao_in_review(va)
    path = tmp_path / "up.yimen"
    export_bundle(va, town.node_id, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    before = _dump(town)
    result = _bundle_cli(town, "bundle", "import", str(path))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1 and "数据包无效" in errors[0] and "损坏" in errors[0]
    result = _bundle_cli(town, "--lang", "en", "bundle", "import", str(path))
    assert result.exit_code == 1 and "damaged, truncated or tampered with" in result.output
    assert _dump(town) == before


def test_a_bundle_for_another_node_is_refused(chain, tmp_path):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    _dibao_in_review(va)
    export_bundle(va, town.node_id, tmp_path / "up.yimen")
    for other in (vb, chain["district"]):
        before = _dump(other)
        with pytest.raises(WrongRecipient, match="addressed to 440608100000"):
            import_bundle(other, tmp_path / "up.yimen")
        assert _dump(other) == before
    result = _bundle_cli(vb, "bundle", "import", str(tmp_path / "up.yimen"))
    assert result.exit_code == 1 and "不是给本节点" in result.output


def test_unknown_recipient_or_sender_is_refused(chain, tmp_path):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    with pytest.raises(UnknownPeer, match="440608100202"):
        export_bundle(va, vb.node_id, tmp_path / "x.yimen")  # siblings never meet
    with pytest.raises(WrongRecipient):
        export_bundle(va, va.node_id, tmp_path / "x.yimen")
    assert not (tmp_path / "x.yimen").exists()
    # A bundle signed by village A's key but claiming to come from village B:
    header = {"protocol": PROTOCOL, "from": vb.node_id, "to": town.node_id, "created_at": "x", "ack": 0}
    write_bundle(tmp_path / "forged.yimen", header, [], signing_key(va), town.keys.encryption_key)
    with pytest.raises(BadBundle, match="bad signature"):
        import_bundle(town, tmp_path / "forged.yimen")
    header["to"] = va.node_id
    write_bundle(tmp_path / "stranger.yimen", header, [], signing_key(vb), town.keys.encryption_key)
    with pytest.raises(UnknownPeer):
        import_bundle(va, tmp_path / "stranger.yimen")


def test_a_gap_refuses_the_whole_bundle(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    _dibao_in_review(va)
    engine(va).seal_pending()
    held = engine(town).positions(va.node_id)[0]
    real = engine(va).next_batch(town.node_id, held)
    header = {"protocol": PROTOCOL, "from": va.node_id, "to": town.node_id, "created_at": "x", "ack": 0}
    shifted = Batch(va.node_id, real.start + 1, real.next + 1, real.seals)
    write_bundle(tmp_path / "gap.yimen", header, [shifted], signing_key(va), town.keys.encryption_key)
    before = _dump(town)
    with pytest.raises(OutOfOrder, match="import the earlier bundle first"):
        import_bundle(town, tmp_path / "gap.yimen")
    assert _dump(town) == before


def test_all_batches_are_one_transaction(chain, tmp_path, monkeypatch):
    va, town = chain["village_a"], chain["town"]
    for _ in range(3):
        _dibao_in_review(va)
        engine(va).seal_pending()  # a seal per case
    monkeypatch.setattr(bundles, "BATCH_BYTES", 1)  # one seal per batch
    summary = export_bundle(va, town.node_id, tmp_path / "up.yimen")
    assert summary["batches"] >= 3
    eng = engine(town)
    real, calls = eng.receive, []

    def fail_on_third(peer, batch, defer=False):
        calls.append(batch)
        if len(calls) == 3:
            raise SyncError("断电", "power cut")
        return real(peer, batch, defer)
    monkeypatch.setattr(eng, "receive", fail_on_third)
    before = _dump(town)
    with pytest.raises(SyncError):
        import_bundle(town, tmp_path / "up.yimen")
    assert _dump(town) == before
    monkeypatch.setattr(eng, "receive", real)
    assert import_bundle(town, tmp_path / "up.yimen")["imported"] == summary["seals"]


def test_cli_round_trip(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    cid = _dibao_in_review(va)
    path = tmp_path / "stick" / "up.yimen"
    path.parent.mkdir()
    out = _bundle_cli(va, "bundle", "export", "--to", "440608100", str(path))
    assert out.exit_code == 0, out.output
    assert "已导出" in out.output and "给 440608100000" in out.output
    out = _bundle_cli(town, "bundle", "import", str(path), "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output[out.output.index("{"):])
    assert summary["from"] == va.node_id and summary["imported"] >= 1
    assert _statuses(town) == {cid: "in_review"}
    out = _bundle_cli(town, "--lang", "en", "bundle", "import", str(path))
    assert "0 new seals" in out.output and "duplicates" in out.output
    for args in (["--to", "44060810", str(path)], ["--to", "440608100", str(tmp_path / "gone" / "x.yimen")]):
        out = _bundle_cli(va, "bundle", "export", *args)
        assert out.exit_code == 1 and len([l for l in out.output.splitlines() if l.startswith("错误：")]) == 1


def test_a_bundle_cut_at_the_size_bound_continues_after_the_ack(chain, tmp_path, monkeypatch):
    va, town = chain["village_a"], chain["town"]
    cids = []
    for _ in range(2):
        cids.append(_dibao_in_review(va))
        engine(va).seal_pending()
    monkeypatch.setattr(bundles, "BATCH_BYTES", 1)  # one seal per batch
    first = engine(va).next_batch(town.node_id, engine(va).positions(town.node_id)[1], 1)
    second = engine(va).next_batch(town.node_id, first.next, 1)
    one = max(first.size, second.size) + 16  # room for one batch, never two (seals compress unequally)
    monkeypatch.setattr(bundles, "_FRAMING_ROOM", framing.MAX_BUNDLE_BYTES - one)
    part = export_bundle(va, town.node_id, tmp_path / "1.yimen")
    assert not part["complete"] and part["seals"] == 1
    import_bundle(town, tmp_path / "1.yimen")
    assert list(_statuses(town)) == cids[:1]
    import_bundle(va, export_bundle(town, va.node_id, tmp_path / "ack.yimen")["file"])
    rest = export_bundle(va, town.node_id, tmp_path / "2.yimen")
    assert rest["complete"] and rest["since"] == part["upto"]
    import_bundle(town, tmp_path / "2.yimen")
    assert sorted(_statuses(town)) == sorted(cids)


def test_a_reinstalled_node_recovers_through_an_acknowledgement_bundle(chain, tmp_path):
    """The town was reinstalled from scratch: the village believes the town holds its feed,
    so its next bundle starts past what the new town has. The new town's acknowledgement
    bundle resets that belief, and the following bundle carries everything again."""
    va, town = chain["village_a"], chain["town"]
    first = _dibao_in_review(va)
    import_bundle(town, export_bundle(va, town.node_id, tmp_path / "1.yimen")["file"])
    import_bundle(va, export_bundle(town, va.node_id, tmp_path / "ack.yimen")["file"])
    second = cases.accept(va, "c01", cases.Application("T-IMM", id_number(7), "陈", {"居民身份证": None}, {}))
    fresh = home.init(tmp_path / "town2", town.node_id, "重装的镇")
    try:
        # the reinstalled town keeps its key and is told its neighbours' keys again
        with fresh.store.transaction():
            identity.save(fresh.store, town.keys)
            for table, columns in (("node_certs", "?, ?, ?, ?, ?, ?"), ("node_transit", "?, ?, ?")):
                fresh.store.conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({columns})",
                                             town.store.conn.execute(f"SELECT * FROM {table}").fetchall())
        vars(fresh).pop("_keys", None)  # read the town's keys, just saved
        with pytest.raises(OutOfOrder, match="acknowledgement"):
            import_bundle(fresh, export_bundle(va, town.node_id, tmp_path / "2.yimen")["file"])
        import_bundle(va, export_bundle(fresh, va.node_id, tmp_path / "ack2.yimen")["file"])
        import_bundle(fresh, export_bundle(va, town.node_id, tmp_path / "3.yimen")["file"])
        assert fresh.store.get(first) is not None and fresh.store.get(second["case_id"]) is not None
    finally:
        fresh.close()


def _hostile_seal(va, kind: str) -> tuple[bytes, bytes]:
    """A seal village A's (stolen) key signs: its change bytes are not Loro, its scope is not
    a region code, or its number is beyond what SQLite stores."""
    doc = Doc.new(f"{va.node_id}-2026-950001", "case", va.node_id, va.store.peer)
    doc.update("case", {"case_id": doc.doc_id})
    c = doc.commit()
    change = SealedChange(doc.doc_id, "case", c.peer, c.counter_start, c.counter_end, doc.export_change(c))
    scope, seq = va.node_id, 60_000
    if kind == "not_loro":
        change = SealedChange(change.doc_id, "case", change.peer, change.start, change.end, b"not loro")
    elif kind == "scope":
        scope = "not-a-region"
    else:
        seq = 2**64 - 1
    s = seals.make(signing_key(va), va.node_id, seq, scope, False, [change])
    return s.body, s.signature


HOSTILE = {"not_loro": "not a Loro update", "scope": "is not a region code", "seq": "malformed seal header"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_seal_in_a_bundle_is_quarantined_alone_in_one_sentence(chain, tmp_path, kind):
    """Once a traceback and a partial write (loro's bare BaseException) or a misleading
    region-code error for the whole bundle."""
    va, town = chain["village_a"], chain["town"]
    cid = _dibao_in_review(va)
    engine(va).seal_pending()
    real = engine(va).next_batch(town.node_id, engine(town).positions(va.node_id)[0])
    header = {"protocol": PROTOCOL, "from": va.node_id, "to": town.node_id, "created_at": "x", "ack": 0}
    batch = Batch(va.node_id, real.start, real.next, [_hostile_seal(va, kind), *real.seals])
    write_bundle(tmp_path / "hostile.yimen", header, [batch], signing_key(va), town.keys.encryption_key)
    result = _bundle_cli(town, "--lang", "en", "bundle", "import", str(tmp_path / "hostile.yimen"))
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "1 quarantined" in result.output.splitlines()[-1] and "Error" not in result.output
    [row] = town.store.quarantine.rows()
    assert HOSTILE[kind] in row["reason"] and row["received_from"] == va.node_id
    assert _statuses(town)[cid] == "in_review"


def test_a_flood_of_bad_seals_in_a_bundle_is_bounded(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    held = engine(town).positions(va.node_id)[0]
    header = {"protocol": PROTOCOL, "from": va.node_id, "to": town.node_id, "created_at": "x", "ack": 0}
    flood = Batch(va.node_id, held, held, [(i.to_bytes(3, "big"), b"") for i in range(20_000)])
    write_bundle(tmp_path / "flood.yimen", header, [flood], signing_key(va), town.keys.encryption_key)
    got = import_bundle(town, tmp_path / "flood.yimen")
    assert got["quarantined"] == 20_000 and len(got["quarantine_reasons"]) == 20_000
    assert len(town.store.quarantine.rows()) == town.store.quarantine.KEEP_PER_PEER
    assert town.store.quarantine.count(va.node_id) == 20_000


def _readable(data: bytes, secrets: list[str]) -> list[str]:
    """The secrets found in `data` as UTF-8, either as they are or inside any zlib stream
    in it (what someone who found the file and "unzipped" it would see)."""
    texts = [data]
    for i in range(len(data) - 1):
        if data[i] == 0x78 and data[i + 1] in (0x01, 0x5E, 0x9C, 0xDA):
            try:
                texts.append(zlib.decompressobj().decompress(data[i:], 1 << 22))
            except zlib.error:
                pass
    return [s for s in secrets if any(s.encode() in t for t in texts)]


def test_a_found_stick_shows_no_name_or_id_number_and_only_the_recipient_reads_it(chain, tmp_path):
    va, vb, town = chain["village_a"], chain["village_b"], chain["town"]
    people = [("陈美玲", "440608199001010013"), ("欧阳志强", id_number(77, "19851231"))]
    for name, id_no in people:
        cases.accept(va, "c01", cases.Application("T-IMM", id_no, name, {"居民身份证": None}, {}))
    path = tmp_path / "up.yimen"
    export_bundle(va, town.node_id, path)
    assert path.stat().st_mode & 0o777 == 0o600
    secrets = [s for person in people for s in person]
    data = path.read_bytes()
    assert _readable(data, secrets) == []
    assert _readable(pyrage.decrypt(data[data.index(b"age-encryption.org"):], [town.keys.encryption]),
                     secrets) == secrets  # (the check sees them where they are)
    # a third node cannot read it: addressed to the town, and not decryptable even if readdressed
    before = _dump(vb)
    result = _bundle_cli(vb, "--lang", "en", "bundle", "import", str(path))
    assert result.exit_code == 1 and result.output.startswith("Error: the bundle is addressed to 440608100000")
    assert _dump(vb) == before
    district = chain["district"]  # knows village A's key (its node record went up), not the town's identity
    readdressed, before = tmp_path / "readdressed.yimen", _dump(district)
    readdressed.write_bytes(data.replace(town.node_id.encode(), district.node_id.encode(), 1))
    for lang, text in (("en", "Error: bad bundle: not encrypted to this node's key"),
                       ("zh", "错误：数据包无效：不是加密给本节点的")):
        result = _bundle_cli(district, "--lang", lang, "bundle", "import", str(readdressed))
        assert result.exit_code == 1 and result.output.startswith(text) and result.output.count("\n") == 1
    assert _dump(district) == before
    got = import_bundle(town, path)
    assert got["imported"] >= 1 and got["quarantined"] == 0
    assert {r[0] for r in town.store.conn.execute("SELECT applicant_name FROM cases")} >= {"陈美玲", "欧阳志强"}


def test_export_without_the_recipients_encryption_key_is_refused(chain, tmp_path):
    va, town = chain["village_a"], chain["town"]
    with va.store.transaction():
        va.store.conn.execute("DELETE FROM node_transit WHERE node_id = ?", (town.node_id,))
    result = _bundle_cli(va, "--lang", "en", "bundle", "export", "--to", town.node_id, str(tmp_path / "x.yimen"))
    assert result.exit_code == 1 and "holds no encryption key for 440608100000" in result.output
    assert not list(tmp_path.glob("*.yimen*"))
