"""bench_sync's four nodes: city 4406 → district 440608 → town 440608100 → village.

`setup` makes them in a folder with `home.init`, enrolled offline (`enrollment.admit` /
`apply_answer`); the sample catalog is published at the city and three clerks with every
department are added at the village. `start_servers` runs city, district and town as real
server processes with a counting proxy in front of each (unless --direct) and points every
child's `parent_url` at its parent. `warm_up` brings the catalog down to the village
(in-process `sync_once`, not timed). `import_bundle_child` is the bundle import, run in a
process of its own so that its peak RSS is a node's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchlib import procs, workload
from benchlib.proxy import Proxy, ProxyThread
from yimen.node import config as config_mod
from yimen.node import home, identity
from yimen.node.replication import catch_up_all, engine
from yimen.node.services import bundles, enrollment
from yimen.node.services.uplink import sync_once
from yimen.sync.engine import Batch, OutOfOrder
from yimen.sync.transports import bundle as framing

NODES = [("city", "4406", "佛山市政务服务中心"), ("district", "440608", "高明区政务服务中心"),
         ("town", "440608100", "荷城街道党群服务中心"), ("village", "440608100201", "示范村党群服务中心")]
PARENT = {"district": "city", "town": "district", "village": "town"}
HOPS = [("village", "town"), ("town", "district"), ("district", "city")]
TOWN, VILLAGE = "440608100", "440608100201"
COUNT_CASES = "SELECT count(*) FROM docs WHERE kind = 'case'"


@dataclass
class Bench:
    """What every scenario works with: the nodes' folders, the village's clock, the
    servers and proxies, and what the scenarios note for the report."""

    args: argparse.Namespace
    root: Path
    clock: home.SettableClock = field(default_factory=lambda: home.SettableClock(workload.START))
    servers: dict[str, procs.Server] = field(default_factory=dict)
    proxy_thread: ProxyThread | None = None
    proxies: dict[str, Proxy] = field(default_factory=dict)
    cat_text: str = ""
    ids: list[str] = field(default_factory=list)  # the generated cases
    sync_rss: dict[str, int] = field(default_factory=dict)  # `sync`/`bundle` runs' peak RSS (kB)
    profiles: dict[str, str] = field(default_factory=dict)  # title -> profile text
    watch: procs.Watch = field(default_factory=procs.Watch)

    @property
    def n(self) -> int:
        return self.args.cases

    @property
    def logdir(self) -> Path:
        return self.root / "logs"

    @property
    def homes(self) -> dict[str, Path]:
        return {name: self.root / name for name, _, _ in NODES}

    def db(self, name: str) -> Path:
        return self.homes[name] / home.DB_FILE

    def opened(self, name: str) -> home.Node:
        return home.open_node(self.homes[name], clock=self.clock if name == "village" else home.china_now)

    def marks(self) -> dict[str, tuple[int, int]]:
        """Each proxy's bytes (up, down) so far."""
        return {name: p.mark() for name, p in self.proxies.items()}

    def wire_since(self, before: dict[str, tuple[int, int]], name: str) -> tuple[int, int] | None:
        """Bytes (up, down) through `name`'s proxy since `before`; None without proxies."""
        p = self.proxies.get(name)
        return (p.up - before[name][0], p.down - before[name][1]) if p else None

    def server_cpu(self) -> dict[str, float]:
        return {name: s.cpu_s() for name, s in self.servers.items()}

    def close(self) -> None:
        """Stop what still runs: subprocesses, servers, proxies, the watch."""
        procs.stop_running()
        for s in self.servers.values():
            s.stop()
        if self.proxy_thread:
            self.proxy_thread.stop()
        self.watch.stop()


def setup(b: Bench) -> None:
    b.logdir.mkdir()
    procs.ensure_key_file(b.root)
    homes = b.homes
    nodes = {name: home.init(homes[name], rc, title, clock=b.clock if name == "village" else home.china_now)
             for name, rc, title in NODES}
    # the village's simulated weeks lie before its parents' certificates were issued: it
    # enrolls at the wall clock's time (a certificate is checked against the node's clock)
    simulated, b.clock.now = b.clock.now, home.china_now()
    for child in ("district", "town", "village"):
        parent = nodes[PARENT[child]]
        enrollment.apply_answer(nodes[child], enrollment.admit(parent, enrollment.request(nodes[child])))
    b.clock.now = simulated
    b.cat_text = workload.sample_catalog_text()
    workload.publish_catalog(nodes["city"], b.cat_text)
    workload.add_clerks(nodes["village"])
    for node in nodes.values():
        node.close()


def start_servers(b: Bench) -> None:
    for name in ("city", "district", "town"):
        b.servers[name] = procs.Server(name, b.homes[name], b.logdir)
    if not b.args.direct:
        b.proxy_thread = ProxyThread()
        b.proxies = {name: b.proxy_thread.add(s.port) for name, s in b.servers.items()}
    for child, parent in PARENT.items():
        scheme = b.servers[parent].url.split("://")[0]  # https (the proxy only pipes bytes: TLS goes through)
        url = f"{scheme}://127.0.0.1:{b.proxies[parent].port}" if b.proxies else b.servers[parent].url
        cfg = config_mod.load(b.homes[child], environ={})
        config_mod.save(b.homes[child], replace(cfg, parent_url=url))


def warm_up(b: Bench) -> int:
    """The catalog and node records go down once (in-process rounds, not timed); returns
    the catalog items then at the village."""
    for _ in range(2):
        for name in ("district", "town", "village"):
            with b.opened(name) as node:
                asyncio.run(sync_once(node))
    with b.opened("village") as village:
        return village.store.count("catalog_item")


def fresh_town(b: Bench, name: str, village_home: Path) -> Path:
    """A new town node with the town's keys, enrolled offline with the village at
    `village_home`, the catalog published locally: the recipient of the bundle."""
    fresh = home.init(b.root / name, TOWN, "荷城街道（新节点）")
    # the town reinstalled with its own keys and trust list: the village's bundle is encrypted to them
    with b.opened("town") as town, fresh.store.transaction():
        identity.save(fresh.store, town.keys)
        for table, columns in (("node_certs", "?, ?, ?, ?, ?, ?"), ("node_transit", "?, ?, ?")):
            fresh.store.conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({columns})",
                                         town.store.conn.execute(f"SELECT * FROM {table}").fetchall())
    vars(fresh).pop("_keys", None)
    workload.publish_catalog(fresh, b.cat_text)
    with home.open_node(village_home) as vnode:
        enrollment.admit(fresh, enrollment.request(vnode))
    fresh.close()
    return b.root / name


# -- the bundle import, in a process of its own ----------------------------------------------------
def import_bundle_child(node_home: str, path: str, profile: bool) -> int:
    """--import-bundle mode: import a bundle into the node at `node_home`, print JSON."""
    node = home.open_node(Path(node_home))
    rebased = False
    try:
        got = bundles.import_bundle(node, path)  # refused at once if the bundle starts late
    except OutOfOrder:
        # The village's feed starts with the seals of catalog and node records it got from
        # the real town during the warm-up (a town never gets those back), and the bundle
        # starts after them; a node that never exchanged with the village refuses a first
        # batch that does not start at 0. Import the same verified batches with the first
        # one starting where this node is, as import_bundle does otherwise.
        got, rebased = None, True
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if got is None:
        if prof:
            prof.enable()
        got = import_rebased(node, Path(path))
        if prof:
            prof.disable()
    out = {"import_s": time.perf_counter() - t0, "rebased": rebased, "quarantined": got["quarantined"],
           "cases": node.store.count("case")}
    if prof:
        out["profile"] = procs.profile_text(prof)
    node.close()
    print(json.dumps(out, ensure_ascii=False))
    return 0


def import_rebased(node: home.Node, path: Path) -> dict[str, int]:
    """`bundles.import_bundle` with the first batch moved back to this node's position."""
    eng = engine(node)
    header, batches = framing.read_bundle(path, lambda h: eng.public_key(h["from"]), node.keys.encryption)
    sender = header["from"]
    with node.store.transaction():
        held, taken = eng.positions(sender)[0], []

        def receive(batch: Batch) -> None:
            if not taken and batch.start > held:
                batch = Batch(batch.sender, held, batch.next, batch.seals, batch.more)
            taken.append(batch.next)
            eng.receive(sender, batch, defer=True)
        batches.each(receive)
    catch_up_all(node)
    return {"quarantined": node.store.quarantine.count()}


def opened_engines(b: Bench) -> dict[str, Any]:
    """The hops' children open with their engines made (as in a running node's background
    loop: nothing to load when the round starts)."""
    nodes = {child: b.opened(child) for child, _ in HOPS}
    for node in nodes.values():
        engine(node)
    return nodes
