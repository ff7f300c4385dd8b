#!/usr/bin/env python
"""How fast a revocation reaches a chain: rounds and seconds until every node refuses the key.

The chain is real nodes (SQLite in a temporary folder) joined by the in-memory transport:
city 4406 → district 440608 → towns 440608100 and 440608101 → SIZE villages under each.
After every node holds the trust list, the district revokes the first village's key
(`yimen revoke`), and sync rounds run until every node's key ring holds the revocation.
A round is one session (push, then pull) of every child with its parent, in one of two
orders: `bottom-up` (villages first: the worst order, each level hears it one round after
the one above) and `top-down` (the district first: what long-polling pulls give, since a
pull wakes as soon as the parent's feed grows). Not a test: it prints a table and a FINAL
line (one JSON object). Usage:

    python scripts/bench_revocation.py [SIZE]        # SIZE villages per town, default 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from yimen.node import home, vault
from yimen.schema import region
from yimen.node.replication import engine
from yimen.node.services import enrollment, trust
from yimen.sync.session import Responder, RoundStats, Session
from yimen.sync.transports.memory import MemoryTransport

DISTRICT, TOWNS = "440608", ("440608100", "440608101")


def build(root: Path, size: int) -> tuple[dict[str, home.Node], dict[str, str]]:
    """The chain, enrolled: nodes by id and each child's parent."""
    plan = [("4406", None), (DISTRICT, "4406")] + [(t, DISTRICT) for t in TOWNS] + [
        (f"{t}{201 + i:03d}", t) for t in TOWNS for i in range(size)]
    nodes, parent = {}, {}
    for code, up in plan:
        node = home.init(root / code, code, f"节点{code}")
        nodes[node.node_id] = node
        if up is not None:
            top = nodes[region.normalize(up)]
            parent[node.node_id] = top.node_id
            enrollment.apply_answer(node, enrollment.admit(top, enrollment.request(node)))
    return nodes, parent


async def session(child: home.Node, parent: home.Node) -> None:
    s = Session(engine(child), MemoryTransport(Responder(engine(parent)), child.node_id))
    stats = RoundStats()
    await s.push(s.outbound.resume(await s.transport.hello()), stats)
    await s.pull(stats)


def one_round(nodes: dict[str, home.Node], parent: dict[str, str], order: str) -> None:
    children = sorted(parent, key=lambda c: len(region.ancestors(c)), reverse=order == "bottom-up")
    for child in children:
        asyncio.run(session(nodes[child], nodes[parent[child]]))


def refusing(nodes: dict[str, home.Node], revoked: str) -> int:
    return sum(n.store.keys.revocation(revoked) is not None for n in nodes.values())


def measure(size: int, order: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[vault.ENV_KEY_FILE] = str(Path(tmp) / "yimen.key")  # made at the first init, unlocks all
        nodes, parent = build(Path(tmp), size)
        try:
            for _ in range(3):  # the trust list everywhere
                one_round(nodes, parent, order)
            village = f"{TOWNS[0]}201"
            start = time.perf_counter()
            trust.revoke(nodes[region.normalize(DISTRICT)], village, "bench")
            rounds, per_round = 0, []
            while refusing(nodes, village) < len(nodes) and rounds < 10:
                one_round(nodes, parent, order)
                rounds += 1
                per_round.append(refusing(nodes, village))
            seconds = time.perf_counter() - start
            return {"order": order, "nodes": len(nodes), "rounds": rounds, "seconds": round(seconds, 3),
                    "refusing_after_each_round": per_round, "all_refuse": per_round[-1] == len(nodes)}
        finally:
            for n in nodes.values():
                n.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", nargs="?", type=int, default=4, help="villages per town")
    size = ap.parse_args().size
    results = [measure(size, order) for order in ("top-down", "bottom-up")]
    print(f"{'order':<10} {'nodes':>5} {'rounds':>6} {'seconds':>8}  refusing after each round")
    for r in results:
        print(f"{r['order']:<10} {r['nodes']:>5} {r['rounds']:>6} {r['seconds']:>8.3f}  {r['refusing_after_each_round']}")
    print("FINAL " + json.dumps({"villages_per_town": size, "results": results}))


if __name__ == "__main__":
    main()
