"""`yimen status` shows when sync with the parent last worked and its last error, as a
sync loop recorded them: in Chinese in zh mode, in English in en mode, never mixed."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from yimen.node.cli.main import main
from yimen.node.services import status
from yimen.node.services.uplink import LinkDown

HAN = re.compile(r"[\u4e00-\u9fff（）]")


def _status(node, lang: str = "zh", *args: str) -> str:
    result = CliRunner().invoke(main, ["--lang", lang, "--home", str(node.home), "status", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _sync_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("最近同步", "last sync"))]


def test_status_before_any_sync(fresh_node):
    assert _sync_lines(_status(fresh_node)) == ["最近同步成功      （从未）", "最近同步错误      （无）"]
    en = _sync_lines(_status(fresh_node, "en"))
    assert [line.split()[-1] for line in en] == ["(never)", "(none)"] and not HAN.search("".join(en))


def test_status_shows_the_last_success_and_the_last_error_in_one_language(fresh_node, clock):
    status.record_sync(fresh_node, None)
    ok_at = fresh_node.now()
    clock.advance(minutes=3)
    status.record_sync(fresh_node, LinkDown("无法连接任何上级：http://127.0.0.1:9/: ClientConnectorError",
                                            "no ancestor reachable: http://127.0.0.1:9/: ClientConnectorError"))
    error_at = fresh_node.now()
    zh = _sync_lines(_status(fresh_node))
    assert zh == [f"最近同步成功      {ok_at}",
                  f"最近同步错误      {error_at}  无法连接任何上级：http://127.0.0.1:9/: ClientConnectorError"]
    en = _sync_lines(_status(fresh_node, "en"))
    assert en[0].endswith(f"  {ok_at}") and en[0].startswith("last sync succeeded")
    assert en[1].endswith(f"  {error_at}  no ancestor reachable: http://127.0.0.1:9/: ClientConnectorError")
    assert not HAN.search("".join(en))


def test_status_json_has_the_sync_outcome(fresh_node, clock):
    status.record_sync(fresh_node, LinkDown("未设置上级地址", "no parent address"))
    assert json.loads(_status(fresh_node, "en", "--json"))["sync"] == {
        "last_ok": None, "last_error": "no parent address", "last_error_at": fresh_node.now()}
    assert json.loads(_status(fresh_node, "zh", "--json"))["sync"]["last_error"] == "未设置上级地址"


def _refuse(node, n: int, peer: str = "440608100201") -> None:
    with node.store.transaction():
        for i in range(n):
            node.store.quarantine.add(peer, node.now(), peer, 100 + i, f"bad signature on seal {peer}#{100 + i}",
                                      i.to_bytes(4, "big"), bytes(64))


def test_status_counts_refused_seals_per_peer_and_reason_beyond_those_kept(fresh_node, monkeypatch):
    monkeypatch.setattr(type(fresh_node.store.quarantine), "KEEP_PER_PEER", 3)
    _refuse(fresh_node, 10)
    info = json.loads(_status(fresh_node, "en", "--json"))
    assert info["quarantined"] == 10
    assert [(q["peer"], q["reason"], q["count"]) for q in info["quarantine"]] == [
        ("440608100201", "bad signature on seal …", 10)]
    result = CliRunner().invoke(main, ["--lang", "en", "--home", str(fresh_node.home), "quarantine", "list"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert sum("bad signature on seal 440608100201#1" in line for line in lines) == 3  # the newest, one by one
    assert any("bad signature on seal …" in line and "10" in line.split() for line in lines)


def test_times_shown_to_a_clerk_are_node_time_like_case_times(fresh_node):
    """A row stamped in UTC (an older Yimen, an engine with the default clock) shows as
    +08:00, the format of case times."""
    utc, local = "2026-11-16T01:00:00+00:00", "2026-11-16T09:00:00+08:00"
    with fresh_node.store.transaction():
        fresh_node.store.peers.sent("440608100000", 1, 10, utc)
        fresh_node.store.quarantine.add("440608100000", utc, "440608100000", 1, "bad signature on seal x",
                                        b"x", bytes(64))
        fresh_node.store.set_meta(status.SYNC_OK, utc)
    info = json.loads(_status(fresh_node, "zh", "--json"))
    assert info["sync"]["last_ok"] == local and info["quarantine"][0]["last_at"] == local
    assert status.quarantine(fresh_node)[0]["received_at"] == local
    assert [p["last_contact"] for p in info["peers"]] == [local]
    assert f"最近同步成功      {local}" in _status(fresh_node)
    assert "UTC" not in _status(fresh_node)


def _quarantine_list(node, lang: str) -> str:
    result = CliRunner().invoke(main, ["--lang", lang, "--home", str(node.home), "quarantine", "list"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_quarantine_reasons_in_the_clerks_language_and_old_rows_still_shown(fresh_node):
    peer = "440608100000"
    with fresh_node.store.transaction():
        fresh_node.store.quarantine.add(peer, fresh_node.now(), peer, 7, "document item:CL-001 kind/scope mismatch",
                                        b"a", bytes(64), reason_zh="文档 item:CL-001 的类型或范围不符")
        # a row kept by a Yimen before both texts were stored: only the English one
        fresh_node.store.quarantine.add(peer, fresh_node.now(), peer, 8, "bad signature on seal 440608100000#8",
                                        b"b", bytes(64))
    zh = _quarantine_list(fresh_node, "zh")
    assert "文档 item:CL-001 的类型或范围不符" in zh and "文档 … 的类型或范围不符" in zh
    assert "kind/scope mismatch" not in zh
    assert "bad signature on seal 440608100000#8" in zh  # all there is to show for it
    en = _quarantine_list(fresh_node, "en")
    assert "document item:CL-001 kind/scope mismatch" in en and not HAN.search(en.replace("item:CL-001", ""))
    info = json.loads(_status(fresh_node, "zh", "--json"))
    assert {q["reason"] for q in info["quarantine"]} == {"文档 … 的类型或范围不符", "bad signature on seal …"}
