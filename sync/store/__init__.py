"""The node's SQLite file behind one boundary: `Store` (connection, transactions,
documents) and its repositories for the other sync tables (see `db` and `repos`); the
tables themselves are defined once, as migrations, in `schema`."""

from yimen.sync.errors import StoreError
from yimen.sync.store import driver
from yimen.sync.store.db import BUSY_S, NodeBusy, Store, database_failure, wrap
from yimen.sync.store.schema import SYNC_SCHEMA, NewerSchema, Schema

SCHEMA_VERSION = SYNC_SCHEMA.version

__all__ = ["Store", "StoreError", "database_failure", "NodeBusy", "NewerSchema", "Schema", "SYNC_SCHEMA", "SCHEMA_VERSION",
           "BUSY_S", "wrap", "driver"]
