"""CRDT documents, their changes and the node's feed in SQLite (later: seals, engine,
transports). Loro is used only inside this package."""
