"""Replication, knowing nothing of the node: CRDT documents (Loro, used only inside this
package), the SQLite store behind one boundary (`store`), signed seals, the visibility
rule, the engine, the one sync session (`session`) and its transports (`transports`:
HTTP client, in-memory, bundle files and the wire format), reconcile digests (`digests`)."""
