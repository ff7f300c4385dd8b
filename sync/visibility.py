"""Who may see and who may write a document: the one place these rules live.

Scopes are region codes and containment is a prefix test (like Morango's scope strings).

- `visible(scope, down, node)`: every document is visible at the node whose region is its
  scope and at all that node's ancestors ("everything flows up"). A *down* document
  (catalog items, node records, revocations) is also visible at every node inside its scope.
  On-demand kinds (space_doc) are not built yet; they will go down only under consent.
- `may_write(author, scope)`: one rule for every kind: the author's region contains the
  document's scope. A village never writes another village's or its town's documents.

A seal holds changes of one scope *and one direction* (down or not): the architecture says
"one scope", but a scope holds both up-only cases and down catalog items, and a seal that
mixed them would have to be split for a child. With the direction in the seal, every node
that may see one change in a seal may see all of them, and relays forward seals unchanged.
"""

from __future__ import annotations

from yimen.schema import region

DOWN_KINDS = frozenset({"catalog_item", "node", "revocation"})
# SQL for "this row's document flows down" (one spelling: an index is built on it)
DOWN_SQL = f"(kind IN ({', '.join(repr(k) for k in sorted(DOWN_KINDS))}))"


def flows_down(kind: str) -> bool:
    return kind in DOWN_KINDS


def visible(scope: str, down: bool, node: str) -> bool:
    """May the node whose region is `node` see a document of `scope` (flowing `down`)?"""
    return region.is_within(scope, node) or (down and region.is_within(node, scope))


def may_write(author: str, scope: str) -> bool:
    """May node `author` write documents of `scope`?"""
    return region.is_within(scope, author)
