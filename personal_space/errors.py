"""Errors of My Space."""

from __future__ import annotations

from yimen.schema.errors import YimenError


class SpaceError(YimenError):
    """A My Space request cannot be done; nothing was changed."""

    code = "space_error"


class MalformedSpaceDocument(SpaceError, ValueError):
    """A space document's or a consent's body is not of its kind's shape."""

    code = "malformed_space_document"
