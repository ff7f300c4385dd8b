"""bench_sync's results: the FINAL object (its keys in a fixed order) and the table.

`final_result` puts the scenarios' dicts together; `print_table` shows them, marking the
targets. Wire bytes are TCP payload through the counting proxies; seal bytes are what
`sync --json` reports (seal bodies + signatures, as stored in the feed).
"""

from __future__ import annotations

import os
import sys

from benchlib import procs
from benchlib.chain import HOPS, Bench
from benchlib.report import Targets, mb, print_table as print_rows, rounded


def final_result(b: Bench, gen: dict, chain: dict, incr: dict, bundle: dict, load_before: tuple) -> dict:
    """The FINAL object, from what each scenario returned."""
    return {**_throughput(b, chain), **_incremental(incr), **_cpu(b, chain), **_bundle(b, bundle),
            **_rss(b), **_chain_detail(b, chain), "generation": _generation(b, gen),
            "profiled": b.args.profile,
            "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "python": sys.version.split()[0], "cpus": os.cpu_count()}


def _throughput(b: Bench, chain: dict) -> dict:
    n, hops, proxied = b.n, chain["hops"], bool(b.proxies)
    wire_total = sum(h["wire_bytes"] or 0 for h in hops)
    seal_total = sum(h["seal_bytes"] for h in hops)
    return {
        "cases": n,
        "hops": len(HOPS),
        "end_to_end_cases_per_s": round(n / chain["end_to_end_s"], 1),
        "one_hop_cases_per_s": round(n / chain["one_hop_s"], 1),
        "measured_as": "acknowledged: the receiver verified, stored and acknowledged every case "
                       "(and may forward it); *_applied_* also waits until its documents and "
                       "projections hold them",
        "end_to_end_applied_cases_per_s": round(n / chain["end_to_end_held_s"], 1),
        "one_hop_applied_cases_per_s": round(n / hops[0]["held_s"], 1),
        "wire_bytes_per_case_per_hop": round(wire_total / n / len(HOPS), 1) if proxied else None,
        "wire_bytes_measured_as": "TCP payload through a counting proxy, both directions, HTTP headers "
                                  "included (compressed bodies)" if proxied else "not measured (--direct)",
        "seal_bytes_per_case_per_hop": round(seal_total / n / len(HOPS), 1),
    }


def _incremental(incr: dict) -> dict:
    inp, cli = incr["in_process"], incr["cli"]
    return {
        "incremental_s": round(inp["s"], 3),
        "incremental_acked_s": inp["acked_s"],
        "incremental_wire_bytes": inp["wire_bytes"],
        "incremental_cli_s": round(cli["s"], 3),
        "incremental_cli_wire_bytes": cli["wire_bytes"],
        "incremental_changed_cases": inp["changed"],
        "incremental_arrived": inp["arrived"] and cli["arrived"],
        "incremental_per_hop_s": {m: v["per_hop_s"] for m, v in incr.items()},
        "incremental_seal_bytes": inp["seal_bytes"],
        "incremental_cpu_s": {m: {"clients": v["child_cpu_s"], "servers": v["server_cpu_s"]}
                              for m, v in incr.items()},
    }


def _cpu(b: Bench, chain: dict) -> dict:
    applied = chain["applied_cpu"]
    return {"server_cpu_s_receive_and_apply": applied,
            "apply_cases_per_server_cpu_s": round(b.n / max(applied["town"], 1e-9), 1),
            "end_to_end_cpu_s": round(sum(applied.values()) + sum(h["child_cpu_s"] for h in chain["hops"]), 2)}


def _bundle(b: Bench, bundle: dict) -> dict:
    return {"bundle_bytes_per_case": round(bundle["bytes"] / b.n, 1), "bundle": rounded(bundle)}


def _rss(b: Bench) -> dict:
    rss = {f"serve {nm}": mb(s.hwm_kb["end"]) for nm, s in b.servers.items()}
    rss.update({f"sync {nm}" if nm in b.homes else nm: mb(v) for nm, v in b.sync_rss.items()})
    return {"max_peak_rss_mb": max(rss.values()), "peak_rss_mb": rss,
            "server_hwm_mb_by_phase": {nm: {ph: mb(v) for ph, v in s.hwm_kb.items()} for nm, s in b.servers.items()},
            "bench_process_rss_mb": mb(procs.own_peak_rss_kb())}


def _chain_detail(b: Bench, chain: dict) -> dict:
    return {
        "end_to_end_s": round(chain["end_to_end_s"], 3),
        "end_to_end_applied_s": round(chain["end_to_end_held_s"], 3),
        "one_hop_s": round(chain["one_hop_s"], 3),
        "hop_detail": [rounded(h) for h in chain["hops"]],
        "quiet_after": chain["quiet"],
        "village_seals": chain["feed"],
        "changes_per_case_on_wire": round(chain["wire_changes"] / b.n, 2),
        "village_seal_bytes_per_case": round(chain["feed_bytes"] / b.n, 1),
    }


def _generation(b: Bench, g: dict) -> dict:
    return {"s": round(g["gen_s"], 2), "cases_per_s": round(b.n / g["gen_s"], 1),
            "api_cases": g["api_cases"], "eligible_items": g["items"],
            "shape_ok": g["shape_ok"], "case_json_bytes": g["case_json_bytes"],
            "changes": g["changes"], "statuses": g["statuses"], "conflicts": g["conflicts"],
            "catalog_items_at_village": g["catalog_items_at_village"]}


# -- the table ------------------------------------------------------------------------------------
def print_table(r: dict, hops: list[dict], incr: dict, bundle: dict, t: Targets) -> None:
    rows = [("cases (4 actions each)", f"{r['cases']}  (generated in {r['generation']['s']} s, "
                                       f"{r['generation']['case_json_bytes']} B JSON/case)", "")]
    rows += _hop_rows(r, hops) + _throughput_rows(r, t) + _incremental_rows(r, incr, t)
    rows += _bundle_and_rss_rows(r, bundle, t)
    print_rows(f"Yimen sync benchmark — {r['cases']} cases, {r['hops']} hops, Python {r['python']}, "
               f"{r['cpus']} CPUs, load {r['loadavg_1m'][0]} → {r['loadavg_1m'][1]}", rows)
    print(f"wire bytes = {r['wire_bytes_measured_as']}; seal bytes = seal bodies + signatures "
          f"as `sync --json` reports them (bytes_out + bytes_in), i.e. as stored in the feed")
    print(f"village seals: {r['village_seals']} ({r['village_seal_bytes_per_case']} B/case, "
          f"{r['changes_per_case_on_wire']} changes/case as sealed); "
          f"statuses: {r['generation']['statuses']}; shape check {r['generation']['shape_ok']}; "
          f"nothing moves after: {r['quiet_after']}")


def _hop_rows(r: dict, hops: list[dict]) -> list[tuple[str, str, str]]:
    rows = []
    for h in hops:
        first = h["start_to_first_request_s"]
        rows.append((f"hop {h['hop']}", f"acknowledged {h['acked_s']:.2f} s (process start→first request "
                                        f"{first if first is None else round(first, 2)} s), applied {h['held_s']:.2f} s", ""))
        rows.append(("  bytes", f"wire {h['wire_bytes']} ({(h['wire_bytes'] or 0) / r['cases']:.0f}/case), "
                                f"seals {h['seal_bytes']} ({h['seal_bytes'] / r['cases']:.0f}/case)", ""))
        rows.append(("  CPU", f"child sync {h['child_cpu_s']:.2f} s, parent server during the round "
                              f"{h['parent_cpu_during_round_s']:.2f} s", ""))
    rows.append(("server CPU, receive + apply", ", ".join(f"{k} {v} s" for k, v in r["server_cpu_s_receive_and_apply"].items())
                 + f" ({r['apply_cases_per_server_cpu_s']} cases per town CPU-s)", ""))
    return rows


def _throughput_rows(r: dict, t: Targets) -> list[tuple[str, str, str]]:
    wire = r["wire_bytes_per_case_per_hop"]
    return [
        ("one hop (village→town), acknowledged", f"{r['one_hop_cases_per_s']} cases/s ({r['one_hop_s']} s)",
         t.mark("one_hop_cases_per_s", r["one_hop_cases_per_s"])),
        ("  applied at the town", f"{r['one_hop_applied_cases_per_s']} cases/s", ""),
        ("end to end (3 hops), acknowledged", f"{r['end_to_end_cases_per_s']} cases/s ({r['end_to_end_s']} s)",
         t.mark("end_to_end_cases_per_s", r["end_to_end_cases_per_s"])),
        ("  applied at the city", f"{r['end_to_end_applied_cases_per_s']} cases/s ({r['end_to_end_applied_s']} s)", ""),
        ("wire bytes / case / hop", f"{wire}" if wire is not None else "not measured",
         t.mark("wire_bytes_per_case_per_hop", wire) if wire is not None else "(--direct: no proxy)"),
        ("seal bytes / case / hop", f"{r['seal_bytes_per_case_per_hop']} (seal bodies + signatures, as sync stats report)", ""),
    ]


def _incremental_rows(r: dict, incr: dict, t: Targets) -> list[tuple[str, str, str]]:
    inp, cli = incr["in_process"], incr["cli"]
    return [
        ("incremental, in-process", f"{r['incremental_s']} s for {r['incremental_changed_cases']} cases "
                                    f"(applied at the city; acknowledged {r['incremental_acked_s']} s), "
                                    f"{r['incremental_wire_bytes']} wire B, hops {inp['per_hop_s']}",
         t.mark("incremental_s", r["incremental_s"])),
        ("  CPU", f"clients {inp['child_cpu_s']} s, servers {inp['server_cpu_s']} s", ""),
        ("incremental, sync --once", f"{r['incremental_cli_s']} s, {r['incremental_cli_wire_bytes']} wire B, "
                                     f"hops {cli['per_hop_s']}", "(with process starts)"),
        ("  CPU", f"clients {cli['child_cpu_s']} s, servers {cli['server_cpu_s']} s", ""),
    ]


def _bundle_and_rss_rows(r: dict, bundle: dict, t: Targets) -> list[tuple[str, str, str]]:
    rows = [("bundle (village→town)", f"{r['bundle_bytes_per_case']} B/case ({bundle['bytes']} B, "
                                      f"{bundle['seals']} seals), export {bundle['export_s']:.2f} s, "
                                      f"import {bundle['import_s']:.2f} s "
                                      f"({bundle['import_cpu_s']:.2f} CPU-s with process start, "
                                      f"{'under cProfile, ' if r.get('profiled') else ''}"
                                      f"in-process receive), ok {bundle['import_ok']}", "")]
    for name, v in r["peak_rss_mb"].items():
        rows.append((f"peak RSS {name}", f"{v} MB", t.mark("max_peak_rss_mb", v)))
    rows.append(("bench process (not a node)", f"{r['bench_process_rss_mb']} MB", ""))
    return rows
