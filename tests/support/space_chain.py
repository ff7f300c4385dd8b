"""A chain with a second town for My Space's consent tests: city → district → town
(villages A and B) and district → town2 → village C, "a village of another town". Rounds
run over the in-memory transport, with the on-demand step of a real round (the parent's
answer through the wire's encoding)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

from support import MINI_CATALOG
from support.chain import make_chain, push, run_coroutine
from yimen.node import home
from yimen.node.replication import catch_up_all
from yimen.node.services import catalog, clerks, enrollment, space_delivery, space_purge
from yimen.schema.catalog import parse_catalog_json
from yimen.schema import region
from yimen.sync.transports import wire

TOWN2 = [("town2", "440608101", "沧江街道"), ("village_c", "440608101201", "示范C村")]
PARENTS = {"district": "city", "town": "district", "village_a": "town", "village_b": "town",
           "town2": "district", "village_c": "town2"}
# the order of one pass of rounds: the lowest level first, each node with its parent
ROUND_ORDER = ("village_a", "village_b", "village_c", "town", "town2", "district")
HTTP_ORDER = ("village_a", "village_b", "village_c", "town", "town2", "district", "town", "town2", "village_c")


def make_space_chain(root: Path, clock=home.china_now) -> dict[str, home.Node]:
    """`make_chain` plus town2 (under the district) and its village C, enrolled."""
    nodes = make_chain(root, clock)
    for name, rc, title in TOWN2:
        nodes[name] = home.init(root / name, rc, title, clock=clock)
        parent = nodes[PARENTS[name]]
        enrollment.apply_answer(nodes[name], enrollment.admit(parent, enrollment.request(nodes[name])))
    clerks.add(nodes["village_c"], "c01", "李敏", ["民政", "社保", "村委会"])
    return nodes


class MemoryLink:
    """The parent's `/v1/space/documents` as a child reaches it (its answer packed and
    unpacked as on the wire), with the parent applying what it stored first (as the route)."""

    def __init__(self, parent: home.Node, child: home.Node):
        self.parent, self.child, self.peer = parent, child, parent.node_id

    async def call(self, path: str, message: dict) -> dict:
        assert path == space_delivery.ROUTE
        catch_up_all(self.parent)
        sent = wire.unpack(wire.pack({"protocol": wire.PROTOCOL, **message}))
        return wire.unpack(wire.pack(space_delivery.answer(self.parent, self.child.node_id, sent)))


def round_of(nodes: dict[str, home.Node], name: str) -> dict:
    """One sync round of `name` with its parent, as `uplink.sync_once` runs it: sweep,
    push, pull, then fetch what its consents cover; returns the fetch's stats."""
    node, parent = nodes[name], nodes[PARENTS[name]]
    assert region.parent_code(node.node_id) == parent.node_id
    space_purge.sweep(node)
    push(node, parent)
    push(parent, node)
    return run_coroutine(space_delivery.fetch(node, MemoryLink(parent, node)))


def rounds(nodes: dict[str, home.Node], passes: int = 1, order=ROUND_ORDER) -> None:
    """`passes` passes of every node's round (lowest level first)."""
    for _ in range(passes):
        for name in order:
            round_of(nodes, name)


def held(node: home.Node) -> set[str]:
    """Space documents held at `node` (their rows)."""
    return {r[0] for r in node.store.conn.execute("SELECT doc_id FROM docs WHERE kind = 'space_doc'")}


def purges(node: home.Node) -> list[tuple[str, str]]:
    """(doc, reason) of the node's `space_purge` audit entries."""
    return [(d["doc"], d["reason"]) for (raw,) in node.store.conn.execute(
        "SELECT detail FROM audit_log WHERE action = 'space_purge' ORDER BY seq") for d in [json.loads(raw)]]


@asynccontextmanager
async def served_space_chain(root: Path):
    """The seven nodes of the space chain, each an aiohttp server on 127.0.0.1, enrolled
    online, the mini catalog published by the city, clerk c01 at villages A and C, synced
    twice through (`converge`); everything closed on leaving."""
    from support.files_chain import serve_chain
    from support.chain import CHAIN
    nodes, servers = await serve_chain(root, CHAIN + TOWN2, PARENTS)
    try:
        catalog.import_items(nodes["city"], parse_catalog_json(MINI_CATALOG, "2026-01-01"))
        for name in ("village_a", "village_c"):
            clerks.add(nodes[name], "c01", "李敏", ["民政", "社保", "村委会"])
        await converge(nodes)
        yield nodes, servers
    finally:
        for s in servers.values():
            await s.close()
        for n in nodes.values():
            n.close()


async def converge(nodes: dict[str, home.Node], passes: int = 2) -> None:
    """`passes` passes of real sync rounds (lowest level first, hubs again after them), each
    hub applying what was pushed as its materializer would."""
    from support.chain import settle
    from yimen.node.services.uplink import sync_once
    for _ in range(passes):
        for name in HTTP_ORDER:
            await sync_once(nodes[name])
            await settle(*nodes.values())
