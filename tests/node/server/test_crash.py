"""Crash safety with real processes: a town node runs as `yimen serve` in its own process
and is SIGKILLed at random moments while a village pushes 1,500 cases to it over HTTP in
small batches; it is restarted each time, and at the end the town holds every case exactly
once, nothing pending or quarantined, projections equal to a rebuild, and a sound database.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from support.chain import push
from support import MINI_CATALOG, id_number
from yimen.node.services import cases, catalog, clerks, enrollment
from yimen.sync import session
from yimen.node import home, projections
from yimen.node.replication import catch_up_all, engine
from yimen.node.services.uplink import LinkDown, sync_once
from yimen.schema import region
from yimen.schema.catalog import parse_catalog_json

TOWN_RC, VILLAGE_RC = "440608100", "440608100201"
N_CASES = 1500
CASES_PER_SEAL = 50  # the village seals as it goes (as sync rounds would): many seals, many commits
KILLS = 5
YIMEN = Path(sys.executable).with_name("yimen")


def start_town(town_home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`yimen serve` on a free port; returns the process and its URL once it listens."""
    with open(log, "ab") as err:
        proc = subprocess.Popen([str(YIMEN), "--home", str(town_home), "serve", "--port", "0", "--no-sync"],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None or not select.select([proc.stdout], [], [], left)[0]:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the town did not start: {line!r}\n{log.read_text(errors='replace')[-2000:]}")
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            continue
        line += chunk
    text = line.decode().strip()
    assert text.startswith("listening on http://127.0.0.1:"), text
    return proc, text.removeprefix("listening on ")


def sync_round(village: home.Node) -> bool:
    """One sync round in a fresh event loop; False if the link broke (the town died)."""
    try:
        asyncio.run(sync_once(village))
        return True
    except LinkDown:
        return False


def check_after_crash(town_home: Path, village: home.Node) -> tuple[int, int]:
    """Open the killed town's database: what it holds is consistent, whatever the moment of
    the kill (the feed and stream position committed together; documents, change index and
    projections of the seals applied so far committed together).
    Returns how many of the village's seals it holds, and how many of those were not yet
    applied."""
    conn = home.connect(town_home)
    try:
        q = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
        held = q("SELECT count(*) FROM feed WHERE author = ?", village.node_id)[0]
        docs = q("SELECT count(*) FROM docs WHERE kind = 'case'")[0]
        assert docs == q("SELECT count(*) FROM changes WHERE kind = 'case'")[0] == \
            q("SELECT count(*) FROM cases")[0] == q("SELECT count(*) FROM case_events")[0] // 2
        own = village.store.conn.execute(
            "SELECT local_seq, seq FROM feed WHERE author = ? ORDER BY local_seq", (village.node_id,)).fetchall()
        # the seals held are the village's first ones; those applied made exactly their documents
        assert [r[0] for r in conn.execute("SELECT seq FROM feed WHERE author = ? ORDER BY seq",
                                           (village.node_id,))] == [r[1] for r in own[:held]]
        applied = [r[0] for r in conn.execute(
            "SELECT seq FROM feed WHERE author = ? AND local_seq NOT IN (SELECT local_seq FROM unapplied)",
            (village.node_id,))]
        changes = village.store.conn.execute(
            f"SELECT count(*) FROM changes WHERE kind = 'case' AND seal_seq IN ({','.join('?' * len(applied))})",
            applied).fetchone()[0]
        assert docs == changes
        recv = q("SELECT recv_upto FROM peers WHERE node_id = ?", village.node_id)
        assert (recv[0] if recv else 0) <= (own[held][0] - 1 if held < len(own) else engine(village).feed_head())
        assert held == 0 or recv[0] >= own[held - 1][0]
        assert q("SELECT count(*) FROM pending")[0] == q("SELECT count(*) FROM quarantine")[0] == 0
        assert q("PRAGMA integrity_check") == ("ok",)
        return held, held - len(applied)
    finally:
        conn.close()


def pushed_upto(village: home.Node) -> int:
    return engine(village).positions(region.normalize(TOWN_RC))[1]


def test_town_killed_during_transfer_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    started = time.monotonic()
    town_home, log = tmp_path / "town", tmp_path / "town.log"
    town = home.init(town_home, TOWN_RC, "荷城街道")
    village = home.init(tmp_path / "village", VILLAGE_RC, "示范A村")
    procs: list[subprocess.Popen] = []
    try:
        enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
        catalog.import_items(town, parse_catalog_json(MINI_CATALOG, "2026-01-01"))
        push(town, village)  # the catalog (scope town, flows down) and the node records, once
        town.close()
        assert village.store.count("catalog_item") == 3
        clerks.add(village, "c01", "李敏", ["民政", "社保", "村委会"])
        eng = engine(village)
        for i in range(N_CASES):
            cases.accept(village, "c01", cases.Application("T-IMM", id_number(i), "陈美玲", {"居民身份证": None}, {}))
            if (i + 1) % CASES_PER_SEAL == 0:
                eng.seal_pending()
        eng.seal_pending()
        own_seals = village.store.conn.execute(
            "SELECT count(*) FROM feed WHERE author = ?", (village.node_id,)).fetchone()[0]
        assert own_seals >= N_CASES // CASES_PER_SEAL
        monkeypatch.setattr(session, "BATCH_BYTES", 64 << 10)

        rng = random.Random(20261116)
        interrupted = []
        for _ in range(KILLS):
            proc, url = start_town(town_home, log)
            procs.append(proc)
            village.config = replace(village.config, parent_url=url)
            before = pushed_upto(village)
            timer = threading.Timer(rng.uniform(0.0, 0.5), proc.kill)  # SIGKILL
            timer.start()
            finished = sync_round(village)
            timer.join()
            assert proc.wait(10) == -signal.SIGKILL
            interrupted.append((not finished, before, pushed_upto(village), check_after_crash(town_home, village)))

        proc, url = start_town(town_home, log)
        procs.append(proc)
        village.config = replace(village.config, parent_url=url)
        assert sync_round(village), log.read_text(errors="replace")[-2000:]
        assert pushed_upto(village) == eng.feed_head()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text(errors="replace")[-2000:]
        # the test is only worth something if kills landed in the middle of the transfer
        # ... or while it applied what it had stored
        assert any(broke or unapplied for broke, _, _, (_, unapplied) in interrupted), interrupted

        town = home.open_node(town_home)
        catch_up_all(town)  # what the stopped server had stored but not yet applied
        q = town.store.conn.execute
        v = village.store.conn.execute
        # every case exactly once, with the village's exact versions
        assert q("SELECT count(*) FROM docs WHERE kind = 'case'").fetchone()[0] == N_CASES
        assert dict(q("SELECT doc_id, vv FROM docs WHERE kind = 'case'").fetchall()) == \
            dict(v("SELECT doc_id, vv FROM docs WHERE kind = 'case'").fetchall())
        for doc_id in rng.sample(sorted(r[0] for r in v("SELECT doc_id FROM docs WHERE kind = 'case'")), 25):
            assert town.store.get(doc_id).value() == village.store.get(doc_id).value()
        # every change once (the primary key forbids duplicates; the count shows none is missing)
        change_rows = "SELECT doc_id, peer, counter_start, counter_end FROM changes WHERE kind = 'case'"
        assert sorted(q(change_rows).fetchall()) == sorted(v(change_rows).fetchall())
        assert q("SELECT count(*) FROM changes WHERE kind = 'case'").fetchone()[0] == \
            v("SELECT count(*) FROM changes WHERE kind = 'case'").fetchone()[0] >= N_CASES
        # every seal of the village once, and the stream position matches
        assert q("SELECT count(*), count(DISTINCT seq) FROM feed WHERE author = ?",
                 (village.node_id,)).fetchone() == (own_seals, own_seals)
        assert engine(town).positions(village.node_id)[0] == eng.feed_head()
        assert q("SELECT count(*) FROM pending").fetchone()[0] == 0
        assert q("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        # projections: all cases there, and exactly what a rebuild makes
        assert q("SELECT count(*) FROM cases WHERE status = 'completed'").fetchone()[0] == N_CASES
        assert q("SELECT count(*) FROM projection_waiting").fetchone()[0] == 0
        live = projections.dump(town.store)
        projections.rebuild(town.store, town.calendar)
        assert projections.dump(town.store) == live
        assert q("PRAGMA integrity_check").fetchall() == [("ok",)]
        town.close()
        print(f"\nkills (broke a round, village acked before, after, (seals the town held, not yet applied)): {interrupted}; "
              f"{own_seals} seals; {time.monotonic() - started:.1f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        village.close()
        try:
            town.close()
        except Exception:
            pass
