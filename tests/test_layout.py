"""The shape of the code, checked: modules under 400 lines, functions under 50, and no SQL
on a sync table outside the store (`yimen.sync.store` is the storage boundary)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schema", "sync", "node", "personal_space")
SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
SYNC_TABLES = ("docs", "changes", "feed", "pending", "unapplied", "quarantine", "quarantine_counts", "peers",
               "peer_owners", "on_demand", "node_certs", "key_cuts", "node_transit", "chunks", "meta", "_sqlite_migrations")
SQL_ON_SYNC_TABLE = re.compile(r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+(" + "|".join(SYNC_TABLES) + r")\b")


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_the_packages_hold_sources():
    assert len(SOURCES) > 40 and {p.parts[len(ROOT.parts)] for p in SOURCES} >= {"schema", "sync", "node"}


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_module_under_400_lines(path):
    assert len(path.read_text("utf-8").splitlines()) <= 400


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_functions_under_50_lines(path):
    tree = ast.parse(path.read_text("utf-8"))
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 50]
    assert long == []


@pytest.mark.parametrize("path", [p for p in SOURCES if "store" not in p.relative_to(ROOT).parts[:2]], ids=rel)
def test_no_sql_on_sync_tables_outside_the_store(path):
    assert SQL_ON_SYNC_TABLE.findall(path.read_text("utf-8")) == []
