"""The node's services: what the CLI and the server call (cases, catalog, clerks,
reports, enrollment, status, bundles, the uplink to ancestors, reconcile). Services never
print: long work reports through a `Progress` callback, and only the CLI shows it."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int], None]  # (stage, done so far, total)


def no_progress(stage: str, done: int, total: int) -> None:
    """The default: report nothing."""
