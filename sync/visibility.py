"""Who may see and who may write a document: the one place these rules live.

Scopes are region codes and containment is a prefix test (like Morango's scope strings).

- `visible(scope, flow, node)`: every document is visible at the node whose region is its
  scope and at all that node's ancestors ("everything flows up", `UP`). A *down* document
  (catalog items, `DOWN`) is also visible at every node inside its scope. A *city-wide*
  document (node records with their certificates, revocations: the trust list, `CITY`) is
  visible at every node of its scope's city, so a village verifies anything signed anywhere
  in the city with no link. A *space* document (a citizen's My Space, `SPACE`) travels in
  the stream like an up document (its home and every ancestor); it also goes down, outside
  the stream, to a node holding the citizen's live consent (`yimen.personal_space`), so a
  space seal holds exactly one document and can be handed on by itself.
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
  | rating                             | `<case id>:rating`       | the case's owner        |
  | node, revocation,                  | `<kind>:<region>`        | the region named        |
  | credential_revocation              |                          |                         |
  | catalog_item                       | `item:<region>:<code>`   | the region (publisher)  |

  A node record is written by the parent that admitted the node (the root writes its own);
  the owner-or-ancestor rule lets the node itself write it too, which gains it nothing: the
  keys it carries are certificates, each checked against its issuer (`yimen.sync.certs`),
  and a key once learnt is never forgotten. A revocation is written only by a strict
  ancestor of the node it names: a stolen key must not undo its own revocation. A catalog item's id names its
  publisher and its code: one code may be published at several levels (a village that
  imported a catalog while standing alone, then joined a chain whose city publishes the
  same items), each publication its own document, and which one a node uses is the
  catalog's rule (`yimen.node.services.catalog`: the highest publisher above the node), so
  no level can take another's code. A rating (一事一评) is named after its case, so it
  belongs to the node that accepted the case: that node writes the citizen's rating, its
  ancestors append follow-ups (`yimen.node.projection_rules`). An id that names no owner
  of its kind is refused.

  An ancestor may write its descendants' documents at this level (a town appends its
  decisions to a village's case); which parts of a document each writer may write is the
  projections' check (a case's content is its owner's, each history event its signer's).

A seal holds changes of one scope *and one flow* (up, down or city-wide): the architecture
says "one scope", but a scope holds up-only cases, down catalog items and the city-wide
trust list, and a seal that mixed them would have to be split for a child. With the flow
in the seal, every node that may see one change in a seal may see all of them, and relays
forward seals unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from yimen.schema import region
from yimen.schema.errors import SchemaError

UP, DOWN, CITY, SPACE = 0, 1, 2, 3  # a document's flow (a seal's, a feed row's)
DOWN_KINDS = frozenset({"catalog_item"})
CITY_KINDS = frozenset({"node", "revocation", "credential_revocation"})
SPACE_KINDS = frozenset({"space_doc"})
STRICT_ANCESTOR_KINDS = frozenset({"revocation"})  # never written by the node they name


def _sql_in(kinds: frozenset[str]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in sorted(kinds))})"


# SQL for a row's flow (one spelling: an index is built on it)
FLOW_SQL = (f"(CASE WHEN {_sql_in(CITY_KINDS)} THEN {CITY} WHEN {_sql_in(DOWN_KINDS)} THEN {DOWN}"
            f" WHEN {_sql_in(SPACE_KINDS)} THEN {SPACE} ELSE {UP} END)")

OWNER_PREFIXED = frozenset({"case", "space_doc", "consent", "audit", "rating"})  # `<region>-<rest>`
OWNER_NAMED = frozenset({"node", "revocation", "credential_revocation"})  # `<kind>:<region>`
CATALOG_PREFIX = "item:"  # `item:<region>:<code>`
RATING_SUFFIX = ":rating"  # `<case id>:rating`

Refusal = tuple[str, str]  # (zh, en)


def flow(kind: str) -> int:
    """How documents of `kind` flow: UP, DOWN, CITY or SPACE."""
    return CITY if kind in CITY_KINDS else DOWN if kind in DOWN_KINDS else SPACE if kind in SPACE_KINDS else UP


def visible(scope: str, flow: int, node: str) -> bool:
    """May the node whose region is `node` see, in the seal stream, a document of `scope`
    that flows `flow`? (A space document also goes down under consent, outside the stream.)"""
    if region.is_within(scope, node):
        return True
    if flow == CITY:
        return region.is_within(node, city_of(scope))
    return flow == DOWN and region.is_within(node, scope)


def may_hold(scope: str, node: str, consented: Iterable[str]) -> bool:
    """May node `node` hold a space document of `scope`, given the nodes `consented` whose
    live consents cover it (the citizen's, for its type)? Its home and every ancestor may;
    so may a node X holding such a consent and X's ancestors (they relay it down to X). The
    one rule for serving a space document or its files on demand, and for purging them.

    `yimen.personal_space.consent_rule` gathers `consented` from the consents a node holds
    (`covered`: what a requester may be handed; `may_keep`: what a node outside the stream
    keeps). A node may be handed a document on demand only if it does not get it in the
    stream (`visible` is false: not the home, not an ancestor); such a node holds it
    outside its feed (`yimen.sync.on_demand`) and purges it once this rule no longer holds."""
    return region.is_within(scope, node) or any(region.is_within(x, node) for x in consented)


@lru_cache(maxsize=4096)
def city_of(code: str) -> str:
    """The city a region lies in (a province is its own: nothing above a city is a node's
    but the province's, which sees its whole region)."""
    full = region.normalize(code)
    return full if region.level_rank(region.level(full)) <= region.level_rank("city") else full[:4].ljust(12, "0")


def owner(doc_id: str, kind: str) -> str | None:
    """The region code of the node that owns document `doc_id` of `kind`, as its id
    spells it; None when the id names no owner."""
    if kind in OWNER_PREFIXED:
        code, dash, rest = doc_id.partition("-")
        if not dash or not rest or kind == "rating" and not _names_a_case(rest):
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
    if kind in STRICT_ANCESTOR_KINDS and region.normalize(author) == region.normalize(own):
        return (f"节点 {author} 不能写入针对自己的吊销记录", f"node {author} may not write its own revocation")
    return None


def may_write(author: str, doc_id: str, kind: str, scope: str) -> bool:
    """May node `author` write document `doc_id` of `kind` in `scope`?"""
    return write_refusal(author, doc_id, kind, scope) is None


def _names_a_case(rest: str) -> bool:
    """Is `rest` (a rating id after its region) `<year>-<seq>:rating`, naming a case?"""
    return rest.endswith(RATING_SUFFIX) and len(rest) > len(RATING_SUFFIX)


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
