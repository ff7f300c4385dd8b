"""Who may see and who may write a document: the one place these rules live.

Scopes are region codes and containment is a prefix test (like Morango's scope strings).

- `visible(scope, down, node)`: every document is visible at the node whose region is its
  scope and at all that node's ancestors ("everything flows up"). A *down* document
  (catalog items, node records, revocations) is also visible at every node inside its scope.
  On-demand kinds (space_doc) are not built yet; they will go down only under consent.
- `may_write(author, doc_id, kind, scope)`: a document's id names its owner, and one rule
  holds for every kind: the document's scope is its owner's region, and the author is the
  owner or one of its ancestors. So a village never writes another village's or its town's
  documents, a town never another town's villages', and the first writer of an id owns
  nothing: a case numbered like another village's next receipt is refused wherever it goes.
  How the owner is read from the id, per kind (`owner`):

  | kind                               | id                       | owner                   |
  |------------------------------------|--------------------------|-------------------------|
  | case, space_doc, consent, audit    | `<region>-<rest>`        | the region (a case id is|
  |                                    |                          | `<region>-<year>-<seq>`)|
  | node, revocation                   | `<kind>:<region>`        | the region named        |
  | catalog_item                       | `item:<region>:<code>`   | the region (publisher)  |

  A node record is written by the parent that admitted the node (the root writes its own);
  the owner-or-ancestor rule lets the node itself write it too, which gains it nothing: keys
  are learnt from a record only for a node not known yet, and a seal of the node's own can
  only be checked by a receiver that knows its key already. A catalog item's id names its
  publisher and its code: one code may be published at several levels (a village that
  imported a catalog while standing alone, then joined a chain whose city publishes the
  same items), each publication its own document, and which one a node uses is the
  catalog's rule (`yimen.node.services.catalog`: the highest publisher above the node), so
  no level can take another's code. An id that names no owner of its kind is refused.

  An ancestor may write its descendants' documents at this level (a town appends its
  decisions to a village's case); which parts of a document each writer may write is the
  projections' check (a case's content is its owner's, each history event its signer's).

A seal holds changes of one scope *and one direction* (down or not): the architecture says
"one scope", but a scope holds both up-only cases and down catalog items, and a seal that
mixed them would have to be split for a child. With the direction in the seal, every node
that may see one change in a seal may see all of them, and relays forward seals unchanged.
"""

from __future__ import annotations

from functools import lru_cache

from yimen.schema import region
from yimen.schema.errors import SchemaError

DOWN_KINDS = frozenset({"catalog_item", "node", "revocation"})
# SQL for "this row's document flows down" (one spelling: an index is built on it)
DOWN_SQL = f"(kind IN ({', '.join(repr(k) for k in sorted(DOWN_KINDS))}))"

OWNER_PREFIXED = frozenset({"case", "space_doc", "consent", "audit"})  # `<region>-<rest>`
OWNER_NAMED = frozenset({"node", "revocation"})  # `<kind>:<region>`
CATALOG_PREFIX = "item:"  # `item:<region>:<code>`

Refusal = tuple[str, str]  # (zh, en)


def flows_down(kind: str) -> bool:
    return kind in DOWN_KINDS


def visible(scope: str, down: bool, node: str) -> bool:
    """May the node whose region is `node` see a document of `scope` (flowing `down`)?"""
    return region.is_within(scope, node) or (down and region.is_within(node, scope))


def owner(doc_id: str, kind: str) -> str | None:
    """The region code of the node that owns document `doc_id` of `kind`, as its id
    spells it; None when the id names no owner."""
    if kind in OWNER_PREFIXED:
        code, dash, rest = doc_id.partition("-")
        if not dash or not rest:
            return None
    elif kind in OWNER_NAMED:
        code = doc_id.removeprefix(f"{kind}:")
        if code == doc_id:
            return None
    elif kind == "catalog_item" and doc_id.startswith(CATALOG_PREFIX):
        code, colon, item = doc_id.removeprefix(CATALOG_PREFIX).partition(":")
        if not colon or not item:
            return None
    else:
        return None
    return code if _is_region(code) else None


def write_refusal(author: str, doc_id: str, kind: str, scope: str) -> Refusal | None:
    """Why node `author` may not write document `doc_id` of `kind` in `scope` (None: it may)."""
    own = owner(doc_id, kind)
    if own is None:
        return (f"文档编号 {doc_id} 未标明所属节点", f"document id {doc_id!r} names no owner for kind {kind}")
    if scope != own:
        return (f"文档 {doc_id} 属于 {own}，不属于范围 {scope}", f"document {doc_id} belongs to {own}, not to scope {scope}")
    if not (_is_region(author) and region.is_within(own, author)):
        return (f"节点 {author} 无权写入 {own} 的文档", f"node {author} may not write documents of {own}")
    return None


def may_write(author: str, doc_id: str, kind: str, scope: str) -> bool:
    """May node `author` write document `doc_id` of `kind` in `scope`?"""
    return write_refusal(author, doc_id, kind, scope) is None


@lru_cache(maxsize=4096)  # a node meets a few hundred codes, each in every id it checks
def _is_region(code: str) -> bool:
    """Is `code` a region code as ids and scopes spell it (ASCII digits, nothing around)?"""
    if not (code.isascii() and code.isdigit()):
        return False
    try:
        region.normalize(code)
    except SchemaError:
        return False
    return True
