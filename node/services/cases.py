"""Cases (办件): accept at the window, act on them, list and show them.

Every write loads the case document, checks the transition against the status derived from
its history, appends one event, and stores the change and the projection rows in one
transaction. Receipt numbers are `<region code>-<year>-<per-node sequence>`: unique with no
coordination because a region code has exactly one node, as long as the node's counter
never goes back. A node restored from an older copy would give again the numbers it gave
after the copy was made (the chain holds those cases, for other applicants), so it
continues after the highest numbers its ancestors hold (they say so at every hello and in
every bundle header, see `yimen.sync.positions`), and a node restored by `yimen restore`
accepts no case until it has heard them (`NumbersUnconfirmed`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from yimen.node.services import audit, catalog, clerks, space_reuse
from yimen.node.errors import MaterialsIncomplete, NodeError, UnknownCase
from yimen.node.home import CHINA_TZ, Node
from yimen.node.projections import CASE_COLUMNS, Unprojectable, case_state, deferred_materials, refresh
from yimen.node.projections import case_events as lifecycle_events, material_states
from yimen.sync.docs import Doc, unseen_before
from yimen.schema import case as lifecycle
from yimen.schema.catalog import CatalogItem
from yimen.schema.dates import parse_date
from yimen.schema.errors import SchemaError
from yimen.schema.idnumber import validate_id_number
from yimen.schema.phone import normalize_phone
from yimen.sync import positions
from yimen.node.files import unusable

class NumbersUnconfirmed(NodeError):
    """Restored from a backup, the node has not yet learnt which receipt numbers are taken."""

    code = "numbers_unconfirmed"


class DuplicateCase(NodeError):
    """The applicant already has an open case of the same item; accepting another needs a confirmation."""

    code = "duplicate_case"

    def __init__(self, open_cases: list[str]):
        ids = "、".join(open_cases)
        super().__init__(f"该申请人已有同一事项的在办件：{ids}；确需重复受理请加 --duplicate-ok",
                         f"the applicant already has an open case of this item: {', '.join(open_cases)}; "
                         f"add --duplicate-ok to accept another")
        self.open_cases = open_cases


OPEN_STATUSES = ("accepted", "supplement", "in_review", "approved", "result_issued")
CARDS = ("red", "yellow", "green", "paused")  # an open case's 督办 card (`card`)


@dataclass(frozen=True)
class Application:
    """What the applicant brings to the window."""

    item_code: str
    applicant_id: str
    applicant_name: str
    provided: Mapping[str, str | None]  # material name -> sha256 of its scan, or None
    deferred: Mapping[str, str | None]  # material name -> due date (ISO), None = the deadline
    phone: str = ""
    commitment_signed: bool = True  # the applicant signed the commitment for `deferred` (the CLI's --defer says so)


def file_sha256(path: Path, material: str = "") -> str:
    """The SHA-256 of a material's scan; `FileUnusable` naming the material if unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                h.update(block)
    except OSError as e:
        raise unusable(e, f"材料“{material}”的扫描件" if material else "扫描件",
                       f"the scan of '{material}'" if material else "the scan") from e
    return h.hexdigest()


def _due(name: str, text: str | None, today: date, deadline: str) -> str:
    """A deferred material's promised date: from today up to the case's deadline (the result
    cannot be issued while it is outstanding, so a later promise would make the case late
    by design); none given is the deadline."""
    if not text:
        return deadline
    due = parse_date(text, f"材料“{name}”的承诺补交日期", f"the promised date of '{name}'")
    if not today <= due <= date.fromisoformat(deadline):
        raise SchemaError(f"材料“{name}”的承诺补交日期 {due} 须在今天（{today}）至办结时限（{deadline}）之间",
                          f"the promised date {due} of '{name}' must lie between today ({today}) "
                          f"and the deadline ({deadline})")
    return due.isoformat()


def _materials(item: CatalogItem, app: Application, today: date, deadline: str,
               reused: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = {m.name for m in item.materials}
    unknown = sorted((set(app.provided) | set(app.deferred)) - names)
    if unknown:
        raise SchemaError(f"事项 {item.code} 没有材料：{'、'.join(unknown)}",
                          f"item {item.code} has no material(s): {', '.join(unknown)}")
    out: dict[str, dict[str, Any]] = {}
    missing, undeferrable = [], []
    for m in item.materials:
        if m.name in reused:  # satisfied from My Space (see `space_reuse.offers`)
            out[m.name] = dict(reused[m.name])
        elif m.name in app.provided:
            out[m.name] = {"status": "provided", "sha256": app.provided[m.name], "doc_type": m.doc_type}
        elif m.name in app.deferred:
            if m.requirement != "deferrable" or item.immediate:
                undeferrable.append(m.name)
            else:
                out[m.name] = {"status": "deferred", "due": _due(m.name, app.deferred[m.name], today, deadline),
                               "doc_type": m.doc_type}
        elif m.requirement == "optional":
            out[m.name] = {"status": "missing", "doc_type": m.doc_type}
        else:
            missing.append(m.name)
    if undeferrable:
        raise MaterialsIncomplete(f"以下材料不适用容缺受理：{'、'.join(undeferrable)}",
                                  f"these materials may not be deferred: {', '.join(undeferrable)}")
    if missing:
        raise MaterialsIncomplete(f"缺少必需材料：{'、'.join(missing)}（可容缺的材料须签署承诺后容缺受理）",
                                  f"mandatory material missing: {', '.join(missing)}")
    deferred = [n for n, m in out.items() if m["status"] == "deferred"]
    if deferred and not app.commitment_signed:
        raise MaterialsIncomplete(f"容缺受理须申请人签署承诺书：{'、'.join(deferred)}",
                                  f"deferring a material needs the applicant's signed commitment: {', '.join(deferred)}")
    return out


def _event(node: Node, clerk: dict[str, Any], action: str, role: str, **kw: Any) -> lifecycle.Event:
    return lifecycle.Event(action, clerk["clerk_id"], role, node.node_id, node.now(), **kw)


def open_duplicates(node: Node, item_code: str, applicant_id: str) -> list[str]:
    """The applicant's open cases of the item (through the index on the ID number's last four
    characters that search uses, `cases_applicant_tail`: no index of its own to write)."""
    return [r[0] for r in node.store.conn.execute(
        "SELECT case_id FROM cases WHERE substr(applicant_id, -4) = ? AND applicant_id = ? AND item_code = ?"
        " AND status IN ('" + "','".join(OPEN_STATUSES) + "') ORDER BY case_id",
        (applicant_id[-4:], applicant_id, item_code))]


def accept(node: Node, clerk_id: str, app: Application, duplicate_ok: bool = False, reuse: bool = True,
           keep: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Accept a case (受理). An immediate item (即办件) is completed in the same action.
    An applicant's second open case of one item is most often a clerk's double entry:
    `DuplicateCase` unless `duplicate_ok`; the row names the open ones (`open_duplicates`).
    Materials the applicant's space holds are `reused` unless not `reuse`; scans in `keep` are kept there."""
    clerk = clerks.get(node, clerk_id)
    item = catalog.acceptable_item(node, clerk, app.item_code)
    applicant_id = validate_id_number(app.applicant_id, today=node.clock().date())
    if not app.applicant_name.strip():
        raise SchemaError("申请人姓名不能为空", "the applicant's name must not be empty")
    app = replace(app, phone=normalize_phone(app.phone))
    today = node.clock().date()
    deadline = node.calendar.add_working_days(today, item.time_limit_days).isoformat()
    reused = space_reuse.offers(node, applicant_id, item, {n for n, h in app.provided.items() if h}) if reuse else {}
    materials = _materials(item, app, today, deadline, reused)
    duplicates = open_duplicates(node, item.code, applicant_id)
    if duplicates and not duplicate_ok:
        raise DuplicateCase(duplicates)
    events = [_event(node, clerk, "accept", item.department)]
    if item.immediate:
        events.append(_event(node, clerk, "complete", item.department))
    with node.store.transaction():
        row = record(node, item, applicant_id, app, materials, events)
        row.update(space_reuse.after_accept(node, row["case_id"], item, applicant_id, row["applicant_name"],
                                            clerk["clerk_id"], reused, keep or {}))
    return {**row, "open_duplicates": duplicates}


def not_accept(node: Node, clerk_id: str, item_code: str, applicant_id: str, applicant_name: str,
               reason: str) -> dict[str, Any]:
    """Record a refusal at the window (不予受理) for an application never accepted."""
    clerk = clerks.get(node, clerk_id)
    item = catalog.current(node, item_code)
    clerks.require_role(clerk, item.department)
    app = Application(item_code, applicant_id, applicant_name, {}, {})
    applicant_id = validate_id_number(applicant_id, today=node.clock().date())
    if not applicant_name.strip():
        raise SchemaError("申请人姓名不能为空", "the applicant's name must not be empty")
    return record(node, item, applicant_id, app, {},
                  [_event(node, clerk, "not_accepted", item.department, reason=lifecycle.reason_of(reason))])


def record(node: Node, item: CatalogItem, applicant_id: str, app: Application,
           materials: dict[str, Any], events: list[lifecycle.Event]) -> dict[str, Any]:
    """Store a new case made of `events` (each checked against the state before it) under
    the next receipt number, with its projection rows, in one transaction. `accept` and
    `not_accept` build the events from a clerk's action; a simulation (the benchmarks)
    may build a case's whole history at once."""
    state = lifecycle.CaseState()
    for ev in events:
        lifecycle.check(state, ev, item)
        state = lifecycle.apply(state, ev, item, deferred_materials({"materials": materials}))
    store = node.store
    with store.transaction():
        if store.meta(positions.UNCONFIRMED):
            raise NumbersUnconfirmed(
                "本节点已从备份恢复，尚未从上级得知哪些受理编号已被使用：请先同步一次"
                "（yimen sync --once）或导入上级发来的数据包，再受理",
                "this node was restored from a backup and has not yet learnt from its parent which receipt "
                "numbers are taken: sync once (yimen sync --once) or import a bundle from the parent first")
        year = node.clock().year
        case_id = f"{node.region_code}-{year}-{store.next_sequence(f'case:{year}'):06d}"
        doc = store.new_doc(case_id, "case", node.region_code)
        doc.update("case", {
            "case_id": case_id, "item_publisher": item.publisher, "item_code": item.code, "item_version": item.version,
            "applicant_id": applicant_id, "applicant_name": app.applicant_name.strip(),
            "applicant_phone": app.phone, "node": node.node_id,
        })
        doc.update("materials", materials)
        for ev in events:
            doc.append("history", ev.to_dict())
        store.save(doc, node.node_id)
        row = _listed(refresh(store, doc, node.calendar, lambda *_: item, new=True))
        audit.record(node, events[0].action, events[0].actor, case_id, applicant_id, item=item.code,
                     **({"then": [ev.action for ev in events[1:]]} if len(events) > 1 else {}))
        if any(ev.action == "complete" for ev in events):
            space_reuse.deposit(node, item, case_id, applicant_id, row["applicant_name"], events[-1].actor)
    return {**row, "card": card(node, row)}


def act(node: Node, case_id: str, action: str, clerk_id: str, reason: str = "",
        department: str | None = None, material: str | None = None) -> dict[str, Any]:
    """Take one action on a case (see `yimen.schema.case` for the transitions)."""
    clerk = clerks.get(node, clerk_id)
    doc, value, item, state = load(node, case_id)
    if action in ("approve", "reject"):
        department = department or _reviewing_role(clerk, item, state, node)
        role, step = department, state.step
    else:
        role, step = item.department, None
    clerks.require_role(clerk, role)
    ev = _event(node, clerk, action, role, reason=lifecycle.reason_of(reason), step=step,
                department=department if step is not None else None, material=material)
    lifecycle.check(state, ev, item)
    with node.store.transaction():
        doc.append("history", ev.to_dict())
        node.store.save(doc, node.node_id)
        _listed(refresh(node.store, doc, node.calendar, lambda *_: item))
        audit.record(node, action, clerk["clerk_id"], case_id, value["case"].get("applicant_id"), role=role)
        if action == "complete":  # the result into the applicant's space (once, if the item names its type)
            space_reuse.deposit(node, item, case_id, value["case"]["applicant_id"], value["case"]["applicant_name"], clerk_id)
    return get_row(node, case_id)


def load(node: Node, case_id: str) -> tuple[Doc, dict[str, Any], CatalogItem, lifecycle.CaseState]:
    """A case's document, body, item version and state (what an action is checked against)."""
    doc = node.store.get(case_id)
    if doc is None or doc.kind != "case":
        raise UnknownCase(f"没有受理编号为 {case_id} 的办件", f"no case has the receipt number {case_id}")
    value = doc.value()
    item = catalog.of_case(node, value["case"])
    try:
        return doc, value, item, case_state(node.store, doc, value, item)
    except Unprojectable as e:
        raise UnknownCase(f"办件 {case_id} 无法列出（见隔离列表），不能办理",
                          f"case {case_id} is not listed ({e}); no action can be taken") from e


def _listed(row: dict[str, Any] | None) -> dict[str, Any]:
    """A case this node cannot list (a field too long, say) is never written here: the
    projections refuse what they cannot bind, and the transaction is undone."""
    if row is None:
        raise SchemaError("办件内容无法登记（字段过长或格式不符），请检查后重试",
                          "the case cannot be recorded (a field is too long or malformed); check and retry")
    return row


def _reviewing_role(clerk: dict[str, Any], item: CatalogItem, state: lifecycle.CaseState, node: Node) -> str:
    """The department a clerk decides for when they did not say: their role among the
    current step's reviewers at this node's level that has not decided yet."""
    if state.status == "in_review" and state.step < len(item.steps):
        for r in item.steps[state.step]:
            if r.department in clerk["roles"] and r.level == node.level and \
                    (state.step, r.department) not in state.approvals:
                return r.department
        return item.steps[state.step][0].department
    return item.department


# -- reading ------------------------------------------------------------------------------
def card(node: Node, row: dict[str, Any], today: date | None = None) -> str:
    """A case row's card colour; the same rule as `card_sql`, for one row in hand."""
    if row["status"] not in OPEN_STATUSES or row["deadline"] is None:
        return ""
    if row["paused_since"] is not None:
        return "paused"
    today = today or node.clock().date()
    return node.calendar.card(date.fromisoformat(row["deadline"]), today, node.config.yellow_days)


def card_sql(node: Node, today: date | None = None) -> tuple[str, dict[str, str]]:
    """SQL for a case's card colour, with its parameters (see WorkCalendar.yellow_until).
    Cards are relative to `today` (the node's clock), so they are computed when read, never
    projected; a case whose clock stands still (waiting for a supplement) is "paused"."""
    today = today or node.clock().date()
    params = {"today": today.isoformat(),
              "yellow_until": node.calendar.yellow_until(today, node.config.yellow_days).isoformat()}
    sql = ("CASE WHEN status NOT IN ('" + "','".join(OPEN_STATUSES) + "') OR deadline IS NULL THEN ''"
           " WHEN paused_since IS NOT NULL THEN 'paused'"
           " WHEN deadline < :today THEN 'red' WHEN deadline <= :yellow_until THEN 'yellow'"
           " ELSE 'green' END")
    return sql, params


def annotated(node: Node, rows: list[dict[str, Any]], today: date | None = None) -> list[dict[str, Any]]:
    """Case rows with what they wait for (`waiting_for`: level and department of each
    reviewer of the current step yet to decide) and `deferred_overdue` (an open case holds
    a deferred material past its due date)."""
    day = (today or node.clock().date()).isoformat()
    waits: dict[str, list[dict[str, str]]] = {r["case_id"]: [] for r in rows}
    if any(r["status"] == "in_review" for r in rows):
        marks = ",".join("?" * len(waits))
        for case_id, level, department in node.store.conn.execute(
                f"SELECT case_id, level, department FROM case_waits WHERE case_id IN ({marks})"
                " ORDER BY case_id, department", list(waits)):
            waits[case_id].append({"level": level, "department": department})
    for r in rows:
        r["waiting_for"] = waits[r["case_id"]]
        r["deferred_overdue"] = bool(r["status"] in OPEN_STATUSES and r["deferred_due"] and r["deferred_due"] < day)
    return rows


def get_row(node: Node, case_id: str, today: date | None = None) -> dict[str, Any]:
    card_expr, params = card_sql(node, today)
    cur = node.store.conn.execute(f"SELECT *, {card_expr} AS card FROM cases WHERE case_id = :id",
                                  {**params, "id": case_id})
    row = cur.fetchone()
    if row is None:
        raise UnknownCase(f"没有受理编号为 {case_id} 的办件", f"no case has the receipt number {case_id}")
    return annotated(node, [dict(zip([d[0] for d in cur.description], row))], today)[0]


def show(node: Node, case_id: str) -> dict[str, Any]:
    """A case with its full history (in time order, see `in_time_order`), its materials as
    its history leaves them (`material_states`) and what can be done next. Each event has
    its number `no` (its place in the merged history, which `review` names) and `merged`:
    its writer had not seen every event before it in the merged history (it was written
    offline, concurrently with those events, `concurrent_with` their numbers)."""
    row = get_row(node, case_id)
    doc, value, item, state = load(node, case_id)
    events = node.store.conn.execute(
        "SELECT * FROM case_events WHERE case_id = ? ORDER BY idx", (case_id,))
    cols = [d[0] for d in events.description]
    history = [dict(zip(cols, r)) for r in events]
    unseen = unseen_before(doc, "history")
    for e in history:
        e["no"] = e["idx"] + 1
        e["concurrent_with"] = [j + 1 for j in unseen[e["idx"]]] if e["idx"] < len(unseen) else []
        e["merged"] = bool(e["concurrent_with"])
    today = node.clock().date().isoformat()
    return {
        **row, "materials": material_states(value, lifecycle_events(value), state, today),
        "paused_days": paused_days(node, row), "history": in_time_order(history),
        "next_actions": lifecycle.allowed_actions(state, item, node.node_id),
        "steps": [[{"level": r.level, "department": r.department} for r in s] for s in item.steps],
    }


def paused_days(node: Node, row: dict[str, Any], today: date | None = None) -> int:
    """Working days a case's clock stood still for supplements, the one it waits for now
    counted up to `today` (the projected column holds only supplements already supplied)."""
    if row["paused_since"] is None or row["status"] != "supplement":
        return row["paused_days"]
    today = today or node.clock().date()
    return row["paused_days"] + max(0, node.calendar.working_days_between(date.fromisoformat(row["paused_since"]), today))


def materials(node: Node, case_id: str, today: date | None = None) -> dict[str, dict[str, Any]]:
    """A case's materials as its history leaves them (see `material_states`)."""
    _, value, _, state = load(node, case_id)
    return material_states(value, lifecycle_events(value), state, (today or node.clock().date()).isoformat())


def in_time_order(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events by the instant they were written (times with offsets compared as instants; a
    time without an offset is China time), ties and unreadable times broken by their place
    in the merged history, which every replica shares: the same order everywhere. (Replay
    follows the merged order, not clocks: an offline machine's clock may be wrong.)"""
    def key(e: dict[str, Any]) -> tuple[int, float, int]:
        try:
            t = datetime.fromisoformat(e["at"])
        except (TypeError, ValueError):
            return 1, 0.0, e["idx"]
        return 0, (t if t.tzinfo else t.replace(tzinfo=CHINA_TZ)).timestamp(), e["idx"]
    return sorted(history, key=key)


__all__ = ["Application", "DuplicateCase", "NumbersUnconfirmed", "accept", "open_duplicates", "not_accept", "record", "act",
           "show", "get_row", "materials", "in_time_order", "CASE_COLUMNS", "file_sha256"]
