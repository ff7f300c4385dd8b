#!/usr/bin/env python
"""My Space benchmark: the issue's figures, one part each.

- e-certificates (`benchlib/space_credential.py`): the QR payload's characters and the QR
  version at error level Q, and an offline verify (signature, trust-list lookup,
  revocations) p50/p99;
- files (`benchlib/space_files.py`): a file of FILE_MB through an HTTP link cut every 2 s,
  the chunks sent again per cut and the bytes on the wire per byte of the file;
- reuse at the window (`benchlib/space_reuse.py`): the applicant's space looked up at
  acceptance with N documents in the space table, and what a deposit adds to `complete`;
- purge (`benchlib/space_purge.py`): the sync rounds until every node that held documents
  only through a consent has purged them after its withdrawal, in a four-level chain.

Not a test: it prints a table and a FINAL line (one JSON object). Usage:

    python scripts/bench_space.py [N] [--file-mb MB] [--verifies V] [--purge-docs D]
    # defaults: N=100000 documents, MB=20, V=20000, D=1000 (about a minute in all)

Each part makes its nodes in a temporary folder of its own (deleted at the end). Progress
goes to stderr: plain lines, and a bar for the file transfer on a terminal.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchlib import procs, report
from yimen.node import vault
from yimen.node.cli.progress import shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=100_000, help="documents in the space table (reuse)")
    ap.add_argument("--file-mb", type=int, default=20)
    ap.add_argument("--verifies", type=int, default=20_000)
    ap.add_argument("--purge-docs", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="yimen-bench-space-") as tmp:
        os.environ.setdefault(vault.ENV_KEY_FILE, str(vault.new_key_file(Path(tmp) / "yimen.key").path))
        from benchlib import space_credential, space_files, space_purge, space_reuse
        rows, figures = [], {}
        with shown("en") as bar:
            for run in (lambda: space_credential.run(args.verifies, procs.log),
                        lambda: space_files.run(args.file_mb, bar),
                        lambda: space_reuse.run(args.n, procs.log),
                        lambda: space_purge.run(args.purge_docs, procs.log)):
                got_rows, got = run()
                rows += [(a, str(b), c) for a, b, c in got_rows]
                figures.update(got)
    report.print_table("My Space", rows)
    report.print_final(report.rounded(figures))


if __name__ == "__main__":
    main()
