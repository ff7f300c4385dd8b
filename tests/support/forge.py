"""Documents a faulty or hostile build of Yimen might sign: signed with a real node's key,
passing every check of a seal, but with content no honest node writes."""

from __future__ import annotations

from typing import Any

from support import id_number
from yimen.node import home
from yimen.schema import case as lifecycle

# (field, value) pairs SQLite cannot bind or no column holds
UNBINDABLE = [("applicant_name", ["陈", "美玲"]), ("applicant_id", {"n": 1}), ("item_version", 2**70),
              ("item_code", "x" * 300), ("applicant_name", "名" * 30_000)]


def bad_case(node: home.Node, field: str, value: Any) -> str:
    """Store a case under `node`'s next receipt number whose `field` holds `value`, as
    `node`'s own change (not projected here); returns its id."""
    store, year = node.store, node.clock().year
    with store.transaction():
        case_id = f"{node.region_code}-{year}-{store.next_sequence(f'case:{year}'):06d}"
        doc = store.new_doc(case_id, "case", node.region_code)
        doc.update("case", {"case_id": case_id, "item_code": "T-IMM", "item_version": 1, "applicant_id": id_number(9),
                            "applicant_name": "陈", "node": node.node_id, field: value})
        doc.append("history", lifecycle.Event("accept", "c01", "社保", node.node_id, node.now()).to_dict())
        store.save(doc, node.node_id)
    return case_id
