"""The node's own tables, defined once as a migration set opened beside the sync tables
(see `yimen.sync.store.schema`): projections (derived from documents, never written by
hand; see `projections`), and local state that is neither replicated nor derived: clerks
and invitation codes."""

from __future__ import annotations

import sqlite_utils

from yimen.node.projections import CASE_COLUMNS, EVENT_COLUMNS, ITEM_COLUMNS
from yimen.sync.store import Schema
from yimen.sync.store.schema import run

NODE_SCHEMA = Schema("yimen.node")


@NODE_SCHEMA(name="0001_projections")
def _projections(db: sqlite_utils.Database) -> None:
    run(db,
        f"CREATE TABLE IF NOT EXISTS catalog_items ({', '.join(ITEM_COLUMNS)}, PRIMARY KEY (code))",
        "CREATE TABLE IF NOT EXISTS catalog_versions (code TEXT, version INTEGER, definition TEXT,"
        " PRIMARY KEY (code, version))",
        f"CREATE TABLE IF NOT EXISTS cases ({', '.join(CASE_COLUMNS)}, PRIMARY KEY (case_id)) WITHOUT ROWID",
        # each filter's index ends in case_id, so "newest first, LIMIT n" reads n keys
        "CREATE INDEX IF NOT EXISTS cases_status ON cases(status, case_id)",
        "CREATE INDEX IF NOT EXISTS cases_deadline ON cases(deadline, case_id)",
        "CREATE INDEX IF NOT EXISTS cases_item ON cases(item_code, case_id)",
        "CREATE INDEX IF NOT EXISTS cases_clerk ON cases(accepted_by, case_id)",
        "CREATE INDEX IF NOT EXISTS cases_date ON cases(accepted_date, case_id)",
        f"CREATE TABLE IF NOT EXISTS case_events ({', '.join(EVENT_COLUMNS)}, PRIMARY KEY (case_id, idx))"
        " WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS projection_waiting (doc_id TEXT PRIMARY KEY, item_code TEXT,"
        " item_version INTEGER)",
        "CREATE INDEX IF NOT EXISTS case_events_refusals ON case_events(at)"
        " WHERE action IN ('not_accepted', 'returned', 'supplement') AND conflict = 0")


@NODE_SCHEMA(name="0002_local_state")
def _local_state(db: sqlite_utils.Database) -> None:
    run(db,
        "CREATE TABLE IF NOT EXISTS clerks (clerk_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " roles TEXT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS invitations (code_hash TEXT PRIMARY KEY, region TEXT NOT NULL,"
        " expires_at TEXT NOT NULL, created_at TEXT NOT NULL, used_by TEXT)")


@NODE_SCHEMA(name="0003_projection_refused")
def _projection_refused(db: sqlite_utils.Database) -> None:
    """Documents kept but listed nowhere (they cannot be projected), with the reason: a
    projection like the others (rebuilt from the documents), read by the admin."""
    run(db, "CREATE TABLE IF NOT EXISTS projection_refused (doc_id TEXT PRIMARY KEY, kind TEXT, scope TEXT,"
            " reason TEXT)")


@NODE_SCHEMA(name="0004_cases_applicant")
def _cases_applicant(db: sqlite_utils.Database) -> None:
    """Accepting a case looks for the applicant's open cases of the same item (a double
    entry): one index lookup, not a scan of the item's cases."""
    run(db, "CREATE INDEX IF NOT EXISTS cases_applicant ON cases(applicant_id, item_code)")
