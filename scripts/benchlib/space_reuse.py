"""bench_space's reuse part: the space looked up at acceptance with `size` documents in the
village's `space_docs`, and what depositing a result adds to `complete`.

A village node in a temporary folder. Its space table is filled with `size` rows: all but
REAL of them are inserted straight into the projection tables (`space_docs`, and
`space_files` for the scans), with the same columns the projection writes and subjects
derived with the node's city key, 20,000 citizens with five documents each: writing each as
a real document would take minutes and the lookup reads only the projection. REAL documents
are written through `space.write_document` (a scan with a file for half of them) for the
citizens the lookups are timed for, so a lookup also reads a real document where it needs
the e-certificate's hash. The lookup is `space_reuse.offers` for an item with six typed
materials (the sample catalog's 最低生活保障审核确认), for citizens who hold documents and
some who hold none. Then `complete` is timed, interleaved, on cases of two items that
differ only in `result_type` (one deposits, one does not); with helper A's credentials
module installed, the deposit includes issuing the e-certificate (`credential` says so).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from benchlib.report import pct
from yimen.node import home
from yimen.node.services import cases, catalog, clerks, space_files, space_reuse
from yimen.personal_space import citizen
from yimen.personal_space.rows import SPACE_DOC_COLUMNS, SPACE_FILE_COLUMNS
from yimen.schema.catalog import parse_catalog_json
from yimen.schema.doc_types import DOC_TYPES
from yimen.schema.idnumber import check_digit, mask

DEFAULT_SIZE = 100_000
VILLAGE = "440608100201"
REAL = 200  # documents written as real documents
CITIZENS = 20_000
LOOKUPS = 1_000
COMPLETES = 40  # cases completed of each item
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=home.CHINA_TZ)
LOOKUP_ITEM = "MZ-001"
ITEMS = """{"items": [
 {"code": "B-DEPOSIT", "name": "村（居）民居住情况证明出具", "department": "村委会", "legal_basis": "《村民委员会组织法》",
  "accept_level": "village", "time_limit_days": 3, "fee": 0, "result_type": "residence_proof",
  "steps": [[{"level": "village", "department": "村委会"}]],
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]},
 {"code": "B-PLAIN", "name": "村（居）民居住情况核实", "department": "村委会", "legal_basis": "《村民委员会组织法》",
  "accept_level": "village", "time_limit_days": 3, "fee": 0,
  "steps": [[{"level": "village", "department": "村委会"}]],
  "materials": [{"name": "居民身份证", "requirement": "mandatory", "doc_type": "id_card"}]}
]}"""


def _id_number(seq: int) -> str:
    body = f"440608{1950 + seq % 50}{1 + seq % 12:02d}{1 + seq % 28:02d}{seq % 1000:03d}"
    return body + check_digit(body)


def _citizens() -> list[str]:
    """CITIZENS distinct ID numbers."""
    seen: dict[str, None] = {}
    seq = 0
    while len(seen) < CITIZENS:
        seen.setdefault(_id_number(seq))
        seq += 1
    return list(seen)


def _fill(node: home.Node, people: list[str], n: int, rng: random.Random) -> None:
    """`n` projection rows of space documents (five a citizen), a file row for each scan."""
    key = citizen.key(node.store)
    types = sorted(DOC_TYPES)
    docs, files = [], []
    for i in range(n):
        number = people[i // 5 % len(people)]
        doc_id, source = f"{VILLAGE}-D2025-{i + 1:06d}", rng.choice(("result", "scan"))
        docs.append((doc_id, citizen.subject(key, number), rng.choice(types), "证明", "某某", mask(number), VILLAGE,
                     VILLAGE, "2025-06-01", "", source, "", "2025-06-01T09:00:00+08:00", int(source == "result")))
        if source == "scan":
            h = hashlib.sha256(doc_id.encode()).hexdigest()
            files.append((doc_id, h, "scan.pdf", "application/pdf", 1000, 1 << 20, json.dumps([h])))
    with node.store.transaction():
        node.store.conn.executemany(f"INSERT INTO space_docs ({', '.join(SPACE_DOC_COLUMNS)}) VALUES "
                                    f"({', '.join('?' * len(SPACE_DOC_COLUMNS))})", docs)
        node.store.conn.executemany(f"INSERT INTO space_files ({', '.join(SPACE_FILE_COLUMNS)}) VALUES "
                                    f"({', '.join('?' * len(SPACE_FILE_COLUMNS))})", files)


def _real(node: home.Node, people: list[str], folder: Path) -> list[str]:
    """REAL documents through the one writer, for the citizens timed; returns them."""
    from yimen.personal_space.documents import SpaceDocument
    scan = folder / "收入证明.pdf"
    scan.write_bytes(os.urandom(200_000))
    ref = space_files.store_file(node, scan)
    item = catalog.current(node, LOOKUP_ITEM)
    types = [m.doc_type for m in item.materials if m.doc_type]
    timed = people[:REAL // 2]
    with node.store.transaction():
        for i in range(REAL):
            number, source = timed[i % len(timed)], ("scan", "result")[i % 2]
            space_reuse.space.write_document(node, SpaceDocument(
                doc_type=types[i % len(types)], title="证明", citizen_id=number, citizen_name="某某", issuer=VILLAGE,
                issuer_name="示范村", issued_on="2026-11-01", source=source, deposited_at=node.now(), clerk_id="c01",
                case_id=f"{VILLAGE}-2026-{900000 + i:06d}" if source == "result" else "",
                files=(ref,) if source == "scan" else ()))
    return timed


def _lookups(node: home.Node, timed: list[str], strangers: list[str]) -> tuple[list[float], int]:
    item = catalog.current(node, LOOKUP_ITEM)
    times, found = [], 0
    for i in range(LOOKUPS):
        number = timed[i % len(timed)] if i % 4 else strangers[i % len(strangers)]
        start = time.perf_counter()
        found += bool(space_reuse.offers(node, number, item, set()))
        times.append((time.perf_counter() - start) * 1000)
    return times, found


def _issued(node: home.Node, code: str, seq: int) -> str:
    app = cases.Application(code, _id_number(500_000 + seq), "某某", {"居民身份证": "ab" * 32}, {})
    cid = cases.accept(node, "c01", app, reuse=False)["case_id"]
    for action in ("submit", "approve", "issue_result"):
        cases.act(node, cid, action, "c01")
    return cid


def _completes(node: home.Node) -> dict[str, list[float]]:
    ready = {code: [_issued(node, code, 2 * i + (code == "B-PLAIN")) for i in range(COMPLETES)]
             for code in ("B-DEPOSIT", "B-PLAIN")}
    times: dict[str, list[float]] = {"B-DEPOSIT": [], "B-PLAIN": []}
    for i in range(COMPLETES):
        for code in ("B-DEPOSIT", "B-PLAIN") if i % 2 else ("B-PLAIN", "B-DEPOSIT"):
            start = time.perf_counter()
            cases.act(node, ready[code][i], "complete", "c01")
            times[code].append((time.perf_counter() - start) * 1000)
    assert all(space_reuse.deposited(node, c) for c in ready["B-DEPOSIT"])
    assert not any(space_reuse.deposited(node, c) for c in ready["B-PLAIN"])
    return times


def run(size: int = DEFAULT_SIZE, progress: Callable[[str], None] = lambda _: None) -> tuple[list, dict]:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("YIMEN_KEY_FILE", str(Path(tmp) / "yimen.key"))
        node = home.init(Path(tmp) / "village", VILLAGE, "示范村", clock=home.SettableClock(NOW))
        try:
            from benchlib.workload import sample_catalog_text
            catalog.import_items(node, parse_catalog_json(sample_catalog_text(), "2026-01-01"))
            catalog.import_items(node, parse_catalog_json(ITEMS, "2026-01-01"))
            clerks.add(node, "c01", "李敏", ["民政", "村委会"])
            people = _citizens()
            progress(f"filling space_docs with {size - REAL} projection rows and {REAL} documents")
            start = time.perf_counter()
            _fill(node, people[REAL // 2:], size - REAL, rng)
            timed = _real(node, people, Path(tmp))
            fill_s = time.perf_counter() - start
            rows = node.store.conn.execute("SELECT count(*) FROM space_docs").fetchone()[0]
            progress(f"{LOOKUPS} reuse lookups")
            lookups, found = _lookups(node, timed, [_id_number(900_000 + i) for i in range(50)])
            progress(f"complete: {COMPLETES} cases with a deposit, {COMPLETES} without")
            completes = _completes(node)
            credential = space_reuse.credential_maker(node) is not None
        finally:
            node.close()
    return _report(rows, fill_s, lookups, found, completes, credential)


def _report(rows: int, fill_s: float, lookups: list[float], found: int, completes: dict[str, list[float]],
            credential: bool) -> tuple[list, dict[str, Any]]:
    with_d, without = statistics.median(completes["B-DEPOSIT"]), statistics.median(completes["B-PLAIN"])
    figures = {"space_rows": rows, "fill_s": round(fill_s, 2), "reuse_lookup_p50_ms": round(pct(lookups, 50), 3),
               "reuse_lookup_p99_ms": round(pct(lookups, 99), 3), "reuse_lookups_found": found,
               "complete_with_deposit_p50_ms": round(with_d, 2), "complete_without_deposit_p50_ms": round(without, 2),
               "deposit_adds_ms": round(with_d - without, 2), "deposit_credential": credential}
    table = [
        (f"reuse lookup at acceptance p50 ({rows:,} space rows)", f"{figures['reuse_lookup_p50_ms']} ms", ""),
        (f"reuse lookup at acceptance p99 ({rows:,} space rows)", f"{figures['reuse_lookup_p99_ms']} ms", "<= 10 ms"),
        ("complete with a deposit p50" + (" (with e-certificate)" if credential else " (no e-certificate module)"),
         f"{figures['complete_with_deposit_p50_ms']} ms", ""),
        ("complete without a deposit p50", f"{figures['complete_without_deposit_p50_ms']} ms", ""),
        ("deposit adds to complete", f"{figures['deposit_adds_ms']} ms", "<= 10 ms"),
    ]
    return table, figures


if __name__ == "__main__":  # python scripts/benchlib/space_reuse.py [size]
    import sys
    rows, figures = run(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SIZE, lambda s: print(s, file=sys.stderr))
    for label, value, target in rows:
        print(f"{label:<60} {value:>12} {target}")
    print(json.dumps(figures))
