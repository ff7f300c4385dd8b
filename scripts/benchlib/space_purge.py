"""bench_space's purge part: in a four-level chain (city → district → town 1 → village A,
and district → town 2 → village C, in-process over the in-memory transport, each node on
disk, encrypted), `size` documents deposited at village A reach village C of the other town
under consents given at C (one consent per citizen, ten documents per citizen), then
every consent is withdrawn at C. Reported: the rounds the delivery took, the rounds until
every node that is not the home nor an ancestor (village C, town 2) has purged them
(target: 1), the purge's time at C (the withdrawals) and in town 2 (C's round that carries
the withdrawals up, town 2 applying and purging them), and that the home's ancestors keep
every document.

A round is what `uplink.sync_once` runs: sweep, hello, push, pull, then the on-demand
fetch (`space_delivery.fetch`) from the parent's answer (`space_delivery.answer`, packed
and unpacked as on the wire).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from benchlib import procs
from yimen.node import home
from yimen.node.replication import catch_up_all, engine
from yimen.node.services import enrollment, space, space_delivery
from yimen.personal_space.documents import Consent, SpaceDocument
from yimen.schema.idnumber import check_digit
from yimen.sync.session import Responder, Session
from yimen.sync.transports import wire
from yimen.sync.transports.memory import MemoryTransport

NODES = [("city", "4406", "佛山市"), ("district", "440608", "高明区"), ("town", "440608100", "荷城街道"),
         ("village_a", "440608100201", "示范A村"), ("town2", "440608101", "沧江街道"),
         ("village_c", "440608101201", "示范C村")]
PARENT = {"district": "city", "town": "district", "village_a": "town", "town2": "district", "village_c": "town2"}
ORDER = ("village_a", "village_c", "town", "town2", "district")
DOCS_PER_CITIZEN = 10
Progress = Callable[[str], None]


class _Link:
    """The parent's `/v1/space/documents`, in process (its answer through the wire's encoding)."""

    def __init__(self, parent: home.Node, child: home.Node):
        self.parent, self.child, self.peer = parent, child, parent.node_id

    async def call(self, path: str, message: dict[str, Any]) -> dict[str, Any]:
        catch_up_all(self.parent)
        sent = wire.unpack(wire.pack({"protocol": wire.PROTOCOL, **message}))
        return wire.unpack(wire.pack(space_delivery.answer(self.parent, self.child.node_id, sent)))


def _round(nodes: dict[str, home.Node], name: str) -> None:
    from yimen.node.services import space_purge
    node, parent = nodes[name], nodes[PARENT[name]]
    space_purge.sweep(node)
    asyncio.run(Session(engine(node), MemoryTransport(Responder(engine(parent)), node.node_id)).round())
    asyncio.run(space_delivery.fetch(node, _Link(parent, node)))


def _setup(root: Path) -> dict[str, home.Node]:
    procs.ensure_key_file(root)
    nodes = {name: home.init(root / name, rc, title) for name, rc, title in NODES}
    for child, parent in PARENT.items():
        enrollment.apply_answer(nodes[child], enrollment.admit(nodes[parent], enrollment.request(nodes[child])))
    for _ in range(2):
        for name in ORDER:
            _round(nodes, name)
    return nodes


def _citizen(i: int) -> str:
    body = f"44060819900101{i % 1000:03d}"
    return body + check_digit(body)


def _deposit(node: home.Node, citizen: str, i: int) -> str:
    return space.write_document(node, SpaceDocument(
        doc_type="income_proof", title=f"收入证明 {i}", citizen_id=citizen, citizen_name="陈美玲",
        issuer=node.node_id, issuer_name=node.config.name, issued_on=node.clock().date().isoformat(),
        source="scan", deposited_at=node.now(), clerk_id="c01"))


def _consent(node: home.Node, citizen: str) -> str:
    now = node.clock()
    return space.write_consent(node, Consent(
        node=node.node_id, citizen_id=citizen, citizen_name="陈美玲", types=("income_proof",),
        purpose="办理临时救助", granted_at=now.isoformat(timespec="seconds"),
        expires_at=(now + timedelta(days=30)).isoformat(timespec="seconds"), clerk_id="c01", clerk_name="李敏"))


def _held(node: home.Node) -> int:
    return node.store.count("space_doc")


def run(size: int = 1000, progress: Progress = procs.log) -> tuple[list[tuple[str, Any, str]], dict[str, Any]]:
    size = max(DOCS_PER_CITIZEN, size - size % DOCS_PER_CITIZEN)
    with tempfile.TemporaryDirectory(prefix="bench-space-purge-") as tmp:
        nodes = _setup(Path(tmp))
        try:
            return _measure(nodes, size, progress)
        finally:
            for n in nodes.values():
                n.close()


def _measure(nodes: dict[str, home.Node], size: int, progress: Progress) -> tuple[list, dict[str, Any]]:
    a, c = nodes["village_a"], nodes["village_c"]
    citizens = [_citizen(i) for i in range(size // DOCS_PER_CITIZEN)]
    for i in range(size):
        _deposit(a, citizens[i % len(citizens)], i)
    for name in ORDER:
        _round(nodes, name)
    given = [_consent(c, citizen) for citizen in citizens]
    progress(f"space_purge: {size} documents at village A, {len(given)} consents at village C")
    delivery = 0
    while _held(c) < size and delivery < 10:
        delivery += 1
        for name in ("village_c", "town2"):
            _round(nodes, name)
    delivered = _held(c)
    t0 = time.perf_counter()
    for consent_id in given:
        space.withdraw_consent(c, consent_id, "c01", "已办结")
    at_window = time.perf_counter() - t0
    purge_rounds, in_town = 0, 0.0
    while (_held(c) or _held(nodes["town2"])) and purge_rounds < 10:
        purge_rounds += 1
        t0 = time.perf_counter()
        _round(nodes, "village_c")  # carries the withdrawals up: town 2 applies and purges them
        in_town += time.perf_counter() - t0
        if _held(nodes["town2"]):
            _round(nodes, "town2")
    kept = min(_held(nodes[n]) for n in ("village_a", "town", "district", "city"))
    rows = [("space documents delivered to village C (another town)", delivered, f"{size}"),
            ("rounds to deliver under consent (two levels down)", delivery, "<= 3"),
            ("rounds until every non-ancestor purged", purge_rounds, "1"),
            (f"purge at village C ({len(given)} withdrawals), ms", round(at_window * 1000, 1), ""),
            ("purge at town 2 (C's round carrying them up), ms", round(in_town * 1000, 1), ""),
            ("documents the home's ancestors keep", kept, f"{size}")]
    figures = {"purge_docs": size, "purge_delivered": delivered, "purge_delivery_rounds": delivery,
               "purge_rounds": purge_rounds,
               "purge_window_ms": round(at_window * 1000, 1), "purge_town_round_ms": round(in_town * 1000, 1),
               "purge_left": _held(c) + _held(nodes["town2"]), "purge_ancestors_keep": kept}
    return rows, figures


if __name__ == "__main__":
    import sys
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)[0]:
        print(*row, sep="\t")
