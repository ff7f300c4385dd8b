"""The node's audit log (全程留痕): entries chained by hash and kept in an RFC 6962 Merkle
tree (`log`), checkpoints of it as C2SP signed notes (`note`), and the checkpoint exchange
with the parent that anchors it outside the node (`exchange`). Services call it through
`yimen.node.services.audit`."""
