"""The audit log (全程留痕) as the rest of the node uses it: `record` an action inside its
transaction, `viewed` a read of citizens' records (the CLI calls it for what it shows),
`trail` of a case or a person, `search` and `show` by a `Filter`, `verify` the log against
its checkpoints.

Every entry names the node, the clerk (None where no clerk acts: an import, a sync), the
action, the case and the person (a keyed hash of the ID number, see `yimen.node.audit.log`)
and a small JSON detail. See `yimen.node.audit.exchange` for the checkpoints the parent
countersigns.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from yimen.node.audit import log, note
from yimen.node.audit.exchange import origin, parent_key_name, parent_of
from yimen.node.errors import NodeError
from yimen.node.home import Node
from yimen.node.services import Progress, no_progress
from yimen.schema.idnumber import validate_id_number

MAX_SHOWN = 200  # case ids named in one read entry (the count is always there)


def _secret(node: Node) -> hmac.HMAC:
    """The keyed hash's state for the node's secret (read once per open node)."""
    cached = vars(node).get("_audit_secret")
    if cached is None:
        cached = log.person_key(log.secret(node.store))
        object.__setattr__(node, "_audit_secret", cached)
    return cached


def person(node: Node, id_number: str) -> bytes:
    """How the log names the holder of `id_number` (checked and normalised like `accept`)."""
    return log.person_hash(_secret(node), validate_id_number(id_number, today=node.clock().date()))


def record(node: Node, action: str, clerk: str | None, case: str | None = None, person: str | None = None,
           **detail: Any) -> int:
    """Add one entry for `action` (in the caller's transaction, or one of its own), by
    `clerk`, else by the clerk signed in for this command (`Node.signed_in`).
    `person` is the ID number as stored (normalised): only its keyed hash is written."""
    who = log.person_hash(_secret(node), person) if person else None
    clerk = clerk if clerk is not None else node.signed_in
    if node.store.conn.in_transaction:  # the action's own: the entry is part of it (and cheaper so)
        return log.append(node.store, node.node_id, node.now(), action, clerk, case, who, detail)
    with node.store.transaction():
        return log.append(node.store, node.node_id, node.now(), action, clerk, case, who, detail)


def viewed(node: Node, action: str, clerk: str | None, case_ids: Iterable[str], **detail: Any) -> int:
    """One entry for a command that showed or exported citizens' records: the cases shown
    (the first MAX_SHOWN of them, and how many there were)."""
    shown = list(dict.fromkeys(case_ids))
    return record(node, action, clerk, shown[0] if len(shown) == 1 else None, None,
                  cases=shown[:MAX_SHOWN], count=len(shown), **detail)


def viewed_case(node: Node, clerk: str | None, case: dict[str, Any]) -> int:
    """`case show`: the case and its applicant."""
    return record(node, "case_show", clerk, case["case_id"], case.get("applicant_id") or None)


class BadAuditFilter(NodeError):
    """An audit search names a date that is no date."""

    code = "invalid_input"


@dataclass(frozen=True)
class Filter:
    """What an audit search keeps (every field given must match): a case (its own entries,
    and the lists that showed it among others), a person by ID number, a clerk, an action,
    and a date range (`since`, `until`: YYYY-MM-DD, both days included)."""

    case: str = ""
    id_number: str = ""
    clerk: str = ""
    action: str = ""
    since: str = ""
    until: str = ""

    def given(self) -> dict[str, str]:
        """The fields given (for the audit entry of the read; the ID number only as a flag)."""
        out = {k: v for k, v in vars(self).items() if v and k != "id_number"}
        return {**out, "of_person": True} if self.id_number else out


CASE_WHERE = ("(case_id = :case OR (case_id IS NULL AND instr(detail, :case) > 0"
              " AND EXISTS (SELECT 1 FROM json_each(detail, '$.cases') WHERE value = :case)))")


def _where(node: Node, f: Filter) -> tuple[str, dict[str, Any]]:
    parts, args = [], {}
    if f.case:
        parts.append(CASE_WHERE)
        args["case"] = f.case
    if f.id_number:
        parts.append("person = :person")
        args["person"] = person(node, f.id_number)
    for name, column, op in (("clerk", "clerk", "="), ("action", "action", "="),
                             ("since", "substr(at, 1, 10)", ">="), ("until", "substr(at, 1, 10)", "<=")):
        value = getattr(f, name)
        if value:
            if name in ("since", "until"):
                _check_day(value)
            parts.append(f"{column} {op} :{name}")
            args[name] = value
    return " AND ".join(parts) or "1", args


def _check_day(value: str) -> None:
    try:
        date.fromisoformat(value)
        if len(value) != 10:
            raise ValueError(value)
    except ValueError:
        raise BadAuditFilter(f"日期“{value}”无效：请写作 YYYY-MM-DD", f"{value!r} is no date: write YYYY-MM-DD") from None


def search(node: Node, f: Filter, limit: int | None = None, offset: int = 0,
           newest_first: bool = False) -> list[dict[str, Any]]:
    """The entries `f` keeps, oldest first (or newest), `limit` of them after `offset`. The
    log has no index beside the entry number (see `storage`): this reads it whole, a
    fraction of a second per 100,000 entries."""
    where, args = _where(node, f)
    order = "DESC" if newest_first else ""
    cur = node.store.conn.execute(f"SELECT seq, at, node, clerk, action, case_id, detail FROM audit_log"
                                  f" WHERE {where} ORDER BY seq {order} LIMIT :limit OFFSET :offset",
                                  {**args, "limit": -1 if limit is None else limit, "offset": offset})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur]


def count(node: Node, f: Filter) -> int:
    where, args = _where(node, f)
    return node.store.conn.execute(f"SELECT count(*) FROM audit_log WHERE {where}", args).fetchone()[0]


def show(node: Node, reader: str | None, f: Filter, limit: int | None = None, offset: int = 0,
         newest_first: bool = False) -> tuple[list[dict[str, Any]], int]:
    """`audit show` and the audit page: the entries `f` keeps and how many there are in
    all; reading the trail is itself recorded (`audit_show`, by `reader`)."""
    rows = search(node, f, limit, offset, newest_first)
    last_page = limit is None or len(rows) < limit
    total = offset + len(rows) if last_page and (rows or not offset) else count(node, f)  # a second scan only if need be
    record(node, "audit_show", reader, f.case or None, None, entries=len(rows), filters=f.given())
    return rows, total


def trail(node: Node, case: str | None = None, id_number: str | None = None) -> list[dict[str, Any]]:
    """The entries about a case (its own, and the lists that showed it among others) or
    a person, oldest first."""
    return search(node, Filter(case=case or "") if case else Filter(id_number=id_number or ""))


@dataclass(frozen=True)
class Verdict:
    entries: int
    checkpoints: int
    countersigned: int
    broken: log.Broken | None = None
    checkpoint_broken: tuple[int, str] | None = None  # (size, why)


def verify(node: Node, progress: Progress = no_progress) -> Verdict:
    """Check every entry's hash and link, then each kept checkpoint: the node's own
    signature, the parent's countersignature, and the tree root at its size."""
    store = node.store
    total = store.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    checked = 0
    for checked, broken in log.scan(store):
        if broken is not None:
            return Verdict(checked, 0, 0, broken)
        if checked % 1000 == 0:
            progress("audit", checked, total)
    progress("audit", checked, total)
    tree = log.AuditTree(store.conn)  # fresh: nothing cached from before the check
    rows = store.conn.execute("SELECT size, note FROM audit_checkpoints ORDER BY size").fetchall()
    parent = parent_of(node)
    for size, text in rows:
        why = _checkpoint_fault(node, tree, checked, size, text, parent)
        if why:
            return Verdict(checked, len(rows), 0, None, (size, why))
    return Verdict(checked, len(rows), len(rows))


def _checkpoint_fault(node: Node, tree: log.AuditTree, entries: int, size: int, text: str,
                      parent: tuple[str, bytes] | None) -> str:
    try:
        cp = note.parse(text)
    except note.BadNote:
        return "malformed"
    if cp.size != size or cp.origin != origin(node.node_id):
        return "malformed"
    if not cp.signed_by(cp.origin, node.keys.public_key):
        return "signature"
    if parent is None or not cp.signed_by(parent_key_name(parent[0]), parent[1]):
        return "countersignature"
    if size > entries or tree.get_root(size) != cp.root:
        return "root"
    return ""
