"""Errors raised by the document store and (later) the sync engine."""

from __future__ import annotations

from yimen.schema.errors import YimenError


class SyncError(YimenError):
    """The document store or a sync exchange failed; nothing was changed."""

    code = "sync_error"


class StoreError(SyncError):
    """The node's database could not be read or written."""

    code = "store_error"
