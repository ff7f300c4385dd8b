"""Errors of the running node. Each is one clear sentence for the clerk (Chinese) with an
English twin; the CLI prints it and exits non-zero, HTTP maps `code` to a 4xx answer."""

from __future__ import annotations

import asyncio

from yimen.schema.errors import YimenError

# What ends a request, a task or the process and is no error of it: every boundary lets
# these through and turns any other exception, a bare `BaseException` included (the loro
# binding raises one), into one sentence and a log entry.
CONTROL_FLOW = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


class NodeError(YimenError):
    """The node cannot do what was asked; nothing was changed."""

    code = "node_error"


class NotInitialised(NodeError):
    """No node lives in the given home folder."""

    code = "not_initialised"


class AlreadyInitialised(NodeError):
    """A node already lives in the given home folder."""

    code = "already_initialised"


class InvalidConfig(NodeError):
    """The node's configuration file or environment holds a bad or unknown setting."""

    code = "invalid_config"


class UnknownItem(NodeError):
    """No catalog item has that code."""

    code = "unknown_item"


class ItemNotActive(NodeError):
    """The catalog item is cancelled and accepts no new cases."""

    code = "item_not_active"


class CatalogConflict(NodeError):
    """The catalog item belongs to another node's jurisdiction."""

    code = "catalog_conflict"


class UnknownClerk(NodeError):
    """No clerk has that id on this node."""

    code = "unknown_clerk"


class ClerkExists(NodeError):
    """A clerk with that id already exists."""

    code = "clerk_exists"


class RoleMissing(NodeError):
    """The clerk does not hold the role this action needs."""

    code = "role_missing"


class UnknownCase(NodeError):
    """No case has that receipt number."""

    code = "unknown_case"


class MaterialsIncomplete(NodeError):
    """A mandatory material is missing and may not be deferred."""

    code = "materials_incomplete"
