"""bench_space's e-certificate part: how big a certificate is, and how fast a node verifies one.

A town (the chain's root here) and a village enrolled under it, real nodes in a temporary
folder. The village issues 100 certificates (a long document type and name, a validity
date: a large case) and revokes 1,000 others, synced to the town through the in-memory
transport; then the town verifies `size` of the texts offline, in turn, each including
every trust-list lookup (the issuer's key, its revocation, the certificate's revocation,
the data's age). Figures: YM1 text characters, COSE_Sign1 bytes, the QR version at level
Q, verify p50/p99, and reading a QR code back from a PNG.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from benchlib.report import pct
from yimen.node import home, vault
from yimen.node.replication import engine
from yimen.node.services import credentials, enrollment
from yimen.personal_space import credential, credential_qr
from yimen.schema.idnumber import check_digit
from yimen.sync.session import Responder, RoundStats, Session
from yimen.sync.transports.memory import MemoryTransport

DEFAULT_SIZE = 20_000  # about 10 s on the 2-core machine
TOWN, VILLAGE = "440608100", "440608100201"
ISSUED, REVOKED = 100, 1000


def _id_number(seq: int) -> str:
    body = f"44060819{60 + seq % 40:02d}0101{seq % 1000:03d}"
    return body + check_digit(body)


def _space(seq: int) -> dict[str, Any]:
    return {"doc_type": "subsistence_certificate", "title": "最低生活保障证", "citizen_id": _id_number(seq),
            "citizen_name": "欧阳小明明", "issuer": VILLAGE, "issuer_name": "示范村", "issued_on": "2026-11-16",
            "valid_until": "2031-11-15", "case_id": f"{VILLAGE}-2026-{seq:06d}"}


def _deposit(village: home.Node, n: int) -> list[str]:
    texts = []
    with village.store.transaction():
        for seq in range(1, n + 1):
            doc_id = f"{VILLAGE}-D2026-{seq:06d}"
            cred = credentials.issue(village, doc_id, _space(seq))
            doc = village.store.new_doc(doc_id, "space_doc", village.node_id)
            doc.update("space", {**_space(seq), "source": "result", "deposited_at": village.now(), "clerk_id": "c01",
                                  "credential": cred})
            village.store.save(doc, village.node_id)
            texts.append(credential.to_text(cred))
    return texts


def _sync(village: home.Node, town: home.Node) -> None:
    """One session of the village with the town over the in-memory transport: push, then pull."""
    engine(village).seal_pending()
    session = Session(engine(village), MemoryTransport(Responder(engine(town)), village.node_id))

    async def both() -> None:
        stats = RoundStats()
        await session.push(session.outbound.resume(await session.transport.hello()), stats)
        await session.pull(stats)
    asyncio.run(both())


def _nodes(root: Path) -> tuple[home.Node, home.Node]:
    town = home.init(root / "town", TOWN, "荷城街道")
    village = home.init(root / "village", VILLAGE, "示范村")
    enrollment.apply_answer(village, enrollment.admit(town, enrollment.request(village)))
    return town, village


def run(size: int = DEFAULT_SIZE, progress: Callable[[str], None] = lambda _: None) -> tuple[list, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault(vault.ENV_KEY_FILE, str(Path(tmp) / "yimen.key"))
        town, village = _nodes(Path(tmp))
        try:
            progress(f"issuing {ISSUED} certificates, revoking {REVOKED}")
            texts = _deposit(village, ISSUED)
            for seq in range(ISSUED + 1, ISSUED + REVOKED + 1):
                credentials.revoke(village, f"{VILLAGE}-D2026-{seq:06d}", "bench")
            _sync(village, town)
            assert credentials.verify(town, texts[0]).valid
            assert credentials.NodeTrust(town).credential_revoked(VILLAGE, f"{VILLAGE}-D2026-{ISSUED + REVOKED:06d}")
            progress(f"verifying {size} certificates at the town")
            times = _verify_times(town, texts, size)
            png = Path(tmp) / "cert.png"
            png.write_bytes(credential_qr.qr_png(texts[0]))
            start = time.perf_counter()
            assert credential_qr.read_image(png) == texts[0]
            read_ms = (time.perf_counter() - start) * 1000
        finally:
            town.close()
            village.close()
    return _report(texts[0], times, read_ms)


def _verify_times(town: home.Node, texts: list[str], size: int) -> list[float]:
    times = []
    for i in range(size):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        verdict = credentials.verify(town, text)
        times.append((time.perf_counter() - start) * 1000)
        if not verdict.valid:
            raise AssertionError(verdict.reason[1])
    return times


def _report(text: str, times: list[float], read_ms: float) -> tuple[list, dict]:
    cose = credential.from_text(text)
    version = credential_qr.qr(text).version
    p50, p99 = pct(times, 50), pct(times, 99)
    rows = [("certificate: YM1 text (characters)", len(text), "<= 300"),
            ("certificate: COSE_Sign1 (bytes)", len(cose), ""),
            ("certificate: QR version at level Q", version, "<= 12"),
            ("certificate: verify p50 (ms)", round(p50, 3), ""),
            ("certificate: verify p99 (ms)", round(p99, 3), "<= 1"),
            ("certificate: read QR from PNG (ms)", round(read_ms, 1), "")]
    figures = {"cert_chars": len(text), "cert_cose_bytes": len(cose), "cert_qr_version": version,
               "cert_verify_p50_ms": round(p50, 4), "cert_verify_p99_ms": round(p99, 4), "cert_verifies": len(times),
               "cert_qr_read_ms": round(read_ms, 2)}
    return rows, figures


if __name__ == "__main__":
    import sys

    rows, figures = run(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SIZE, print)
    for label, value, target in rows:
        print(f"{label:40} {value!s:>10}  {target}")
    print(figures)
