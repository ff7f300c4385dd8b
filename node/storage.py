"""The node's own tables, defined once as a migration set opened beside the sync tables
(see `yimen.sync.store.schema`): projections (derived from documents, never written by
hand; see `projections`), and local state that is neither replicated nor derived: clerks,
their sessions and invitation codes, sync lag samples."""

from __future__ import annotations

import os

import sqlite_utils

from yimen.node.projection_rules import RATING_COLUMNS
from yimen.node.projections import CASE_COLUMNS, EVENT_COLUMNS, ITEM_COLUMNS, WAIT_COLUMNS
from yimen.node.space_projections import SPACE_KINDS
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


def _add_missing_columns(db: sqlite_utils.Database, table: str, columns: tuple[str, ...]) -> None:
    """Add the columns a table lacks: 0001 creates the projections with the columns of the
    running code, so on a new file there is nothing to add, on an older one there is."""
    have = set(db[table].columns_dict)
    for col in columns:
        if col not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {col}")


@NODE_SCHEMA(name="0004_catalog_publishers")
def _catalog_publishers(db: sqlite_utils.Database) -> None:
    """One code may be published at several levels, each publication its own document
    (`item:<publisher>:<code>`): the catalog tables are keyed by publisher and code, and a
    case waiting for its item version names the publisher too. The rows a file already
    holds keep their publisher (the item's scope)."""
    run(db,
        "ALTER TABLE catalog_items RENAME TO catalog_items_0003",
        "ALTER TABLE catalog_versions RENAME TO catalog_versions_0003",
        f"CREATE TABLE catalog_items ({', '.join(ITEM_COLUMNS)}, PRIMARY KEY (scope, code))",
        "CREATE TABLE catalog_versions (scope TEXT, code TEXT, version INTEGER, definition TEXT,"
        " PRIMARY KEY (scope, code, version))",
        f"INSERT INTO catalog_items SELECT {', '.join(ITEM_COLUMNS)} FROM catalog_items_0003",
        "INSERT INTO catalog_versions SELECT i.scope, v.code, v.version, v.definition"
        " FROM catalog_versions_0003 v JOIN catalog_items_0003 i USING (code)",
        "DROP TABLE catalog_items_0003",
        "DROP TABLE catalog_versions_0003",
        "ALTER TABLE projection_waiting ADD COLUMN item_publisher TEXT")


@NODE_SCHEMA(name="0005_clock_waits_reviews")
def _clock_waits_reviews(db: sqlite_utils.Database) -> None:
    """The supervision clock's columns (working days paused for supplements, the day the
    clock stopped, a provisional deadline), open conflicts (a review resolves one), the
    reviewers each case waits for (the town's inbox), and an index for deferred materials
    past their due date. A new file has the columns from 0001 already. An older file's rows
    are counted again at its first open (`projections.recount`: it holds no calendar digest)."""
    _add_missing_columns(db, "cases", CASE_COLUMNS)
    _add_missing_columns(db, "case_events", EVENT_COLUMNS)
    run(db,
        f"CREATE TABLE IF NOT EXISTS case_waits ({', '.join(WAIT_COLUMNS)}, PRIMARY KEY (case_id, department))"
        " WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS case_waits_level ON case_waits(level, department)",
        "CREATE INDEX IF NOT EXISTS cases_conflicts_open ON cases(case_id) WHERE conflicts_open > 0",
        "CREATE INDEX IF NOT EXISTS cases_deferred_due ON cases(deferred_due) WHERE deferred_due IS NOT NULL")


@NODE_SCHEMA(name="0006_applicant_search")
def _applicant_search(db: sqlite_utils.Database) -> None:
    """Finding an applicant's cases: by exact name, and by the last digits of the ID number
    (an exact number is its last four digits plus one comparison). SQLite cannot index a
    suffix, so the index holds the last four characters; a longer tail filters the few rows
    those four find. Indexes only: nothing new to derive, `rebuild` is unchanged."""
    run(db,
        "CREATE INDEX IF NOT EXISTS cases_applicant_name ON cases(applicant_name, case_id)",
        "CREATE INDEX IF NOT EXISTS cases_applicant_tail ON cases(substr(applicant_id, -4), case_id)")


@NODE_SCHEMA(name="0007_clerk_state")
def _clerk_state(db: sqlite_utils.Database) -> None:
    """A clerk who leaves is deactivated, never deleted: the cases' histories keep their id,
    and lists and reports keep showing their name."""
    run(db,
        "ALTER TABLE clerks ADD COLUMN active INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE clerks ADD COLUMN deactivated_at TEXT")


@NODE_SCHEMA(name="0008_audit_log")
def _audit_log(db: sqlite_utils.Database) -> None:
    """The audit log (see `yimen.node.audit`): local state, neither replicated nor derived.
    Entries and the node's own countersigned checkpoints are append-only (triggers refuse
    UPDATE and DELETE), with no index beside the entry number: an entry is written at every
    action and a trail is read rarely, and an index on case or person cost the accept path
    as much as the entry itself (random inserts into two more B-trees; a trail scans the log
    instead, see `services.audit.trail`); `audit_children` holds, at a parent, the last checkpoint it
    countersigned for each child (and the last refusal); `audit_secret` the key of the hash that names a person."""
    run(db,
        "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, node TEXT NOT NULL, clerk TEXT,"
        " action TEXT NOT NULL, case_id TEXT, person BLOB, detail TEXT NOT NULL, hash BLOB NOT NULL)",
        "CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, kept_at TEXT NOT NULL)",
        "CREATE TABLE audit_children (child TEXT PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL,"
        " kept_at TEXT NOT NULL, refused TEXT)",
        "CREATE TABLE audit_secret (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL)")
    for table in ("audit_log", "audit_checkpoints"):
        for op in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}"
                       f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
    db.execute("INSERT INTO audit_secret (id, key) VALUES (1, ?)", [os.urandom(32)])


@NODE_SCHEMA(name="0009_clerk_sign_in")
def _clerk_sign_in(db: sqlite_utils.Database) -> None:
    """Clerks sign in (see `services.sessions`): an Argon2id hash of each clerk's password
    (none for a clerk from before: an admin gives them one with `clerk passwd`), failed
    sign-ins counted here so that every process of the node shares the lockout, and
    sessions kept as the SHA-256 of their token (the token itself stays with the clerk)."""
    run(db,
        "ALTER TABLE clerks ADD COLUMN password_hash TEXT",
        "ALTER TABLE clerks ADD COLUMN failed_signins INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE clerks ADD COLUMN locked_until TEXT",
        "CREATE TABLE IF NOT EXISTS clerk_sessions (token_sha256 TEXT PRIMARY KEY, clerk_id TEXT NOT NULL,"
        " created_at TEXT NOT NULL, last_used_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS clerk_sessions_clerk ON clerk_sessions(clerk_id)")


@NODE_SCHEMA(name="0010_my_space")
def _my_space(db: sqlite_utils.Database) -> None:
    """My Space's projections (see `space_projections`): a citizen's documents and the
    files they carry, and consents, each found by the citizen's keyed hash (`subject`),
    never by the ID number. Documents of these kinds held before are projected now."""
    run(db,
        "CREATE TABLE IF NOT EXISTS space_docs (doc_id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
        " doc_type TEXT NOT NULL, title TEXT, citizen_name TEXT, citizen_masked TEXT, home TEXT NOT NULL,"
        " issuer TEXT, issued_on TEXT, valid_until TEXT, source TEXT, case_id TEXT, deposited_at TEXT,"
        " has_credential INTEGER)",
        "CREATE INDEX IF NOT EXISTS space_docs_subject ON space_docs(subject, doc_type)",
        "CREATE INDEX IF NOT EXISTS space_docs_case ON space_docs(case_id) WHERE case_id != ''",
        "CREATE TABLE IF NOT EXISTS space_files (doc_id TEXT NOT NULL, file_hash TEXT NOT NULL, name TEXT,"
        " mime TEXT, size INTEGER, chunk_size INTEGER, chunks TEXT, PRIMARY KEY (doc_id, file_hash)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS space_files_hash ON space_files(file_hash)",
        "CREATE TABLE IF NOT EXISTS space_consents (consent_id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
        " node TEXT NOT NULL, types TEXT NOT NULL, purpose TEXT, granted_at TEXT, expires_at TEXT NOT NULL,"
        " clerk_id TEXT, withdrawn_at TEXT)",
        "CREATE INDEX IF NOT EXISTS space_consents_subject ON space_consents(subject)",
        "CREATE INDEX IF NOT EXISTS space_consents_node ON space_consents(node)")
    assert SPACE_KINDS == ("space_doc", "consent")  # no document of these kinds was written before


@NODE_SCHEMA(name="0011_ratings")
def _ratings(db: sqlite_utils.Database) -> None:
    """Ratings (一事一评, see `rating_projections`): one row per rated case, with indexes for
    the follow-ups still open and for satisfaction by item and by clerk. No rating document
    was written before (the kind is new), so there is nothing to project yet."""
    run(db,
        f"CREATE TABLE IF NOT EXISTS ratings ({', '.join(RATING_COLUMNS)}, PRIMARY KEY (case_id)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS ratings_open ON ratings(rated_at) WHERE follow_up_status = 'open'",
        "CREATE INDEX IF NOT EXISTS ratings_item ON ratings(item_code, score)",
        "CREATE INDEX IF NOT EXISTS ratings_clerk ON ratings(clerk_node, clerk, score)")


@NODE_SCHEMA(name="0012_signin_links")
def _signin_links(db: sqlite_utils.Database) -> None:
    """One-time sign-in links (see `sessions.make_link`), kept as the SHA-256 of their token."""
    run(db,
        "CREATE TABLE IF NOT EXISTS signin_links (token_sha256 TEXT PRIMARY KEY, clerk_id TEXT NOT NULL,"
        " expires_at TEXT NOT NULL, made_by TEXT)")


@NODE_SCHEMA(name="0013_lag_samples")
def _lag_samples(db: sqlite_utils.Database) -> None:
    """Sync lag over time, for the admin's dashboard (see `services.activity`): local state,
    one row per peer per sync round at most once a minute, pruned to the last days on every
    write. `at` is Unix seconds (a sample is compared and charted, never shown as text)."""
    run(db,
        "CREATE TABLE IF NOT EXISTS lag_samples (at INTEGER NOT NULL, peer TEXT NOT NULL,"
        " lag_s INTEGER NOT NULL, waiting INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS lag_samples_peer_at ON lag_samples(peer, at)")
