"""What the benchmarks share (scripts/bench_sync.py and scripts/bench_local.py).

    workload     the workload: applicants (names, id numbers, phones, scans' SHA-256),
                 applications, the sample catalog and clerks, and the cases of the sync
                 benchmark (through `cases.accept`/`act`, or the fast maker built on public
                 pieces: Store, Doc, projections.refresh), with their shape check
    procs        node processes: `yimen serve` servers, `yimen ...` runs with their peak RSS
                 (VmHWM) and CPU seconds, read-only polling of a node's database, profiles
    proxy        the counting TCP proxy (and the thread its event loop runs on)
    report       table printing, target marking, the FINAL line
    chain        bench_sync's four-node chain (setup, servers, proxies) and bundle import
    sync_report  bench_sync's FINAL object and table

The benchmarks run as `python scripts/bench_x.py`, so scripts/ is on sys.path and this
package imports as `benchlib`.
"""
