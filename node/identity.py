"""A node's own key material, and the public half every other node learns of it.

Three keys, each for one job, so that losing one costs only that job:

- `signing`: Ed25519, signs seals and requests (the node's identity in the chain);
- `encryption`: an age X25519 identity (`pyrage`): bundles are encrypted to it;
- `tls`: Ed25519, the key of the node's self-signed TLS certificate; a child pins its
  parent's certificate by the SHA-256 of its DER bytes (`tls_fingerprint`), learnt at
  enrollment, so no public CA is involved.

They are kept together (JSON) in the node's encrypted database (`meta` row `node_keys`),
so the one key that unlocks the database protects them too, a backup carries them, and a
change of passphrase re-encrypts them with everything else; they are never logged.
`Keys.public()` is what enrollment sends and node records carry. A node from before kept
them in a plain file, `node.key`: `adopt` moves them into the database and deletes it.
While a key rotation
waits for the parent's certificate (`yimen key rotate`), the old signing key is kept as
`retiring`: it signs the rotation request, the new one signs every seal from then on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from pyrage import x25519

from yimen.node.errors import NodeError
from yimen.sync.store import Store

KEY_FILE = "node.key"  # where a node from before encryption kept them, in plain
META_KEY = "own_private_keys"  # (not the `node_keys` table: that holds other nodes' public keys)
TLS_YEARS = 20  # the pin, not the validity, is what a child checks; the node's certificate limits its life


class MissingKeys(NodeError):
    """The node's private keys are not in its database."""

    code = "missing_keys"


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _tls_certificate(key: Ed25519PrivateKey, node_id: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"yimen {node_id}")])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * TLS_YEARS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("yimen.invalid")]), critical=False)
            .sign(key, None))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Keys:
    """A node's private keys (kept in its encrypted database)."""

    signing: Ed25519PrivateKey
    encryption: x25519.Identity
    tls_key: Ed25519PrivateKey
    tls_cert_pem: str
    retiring: Ed25519PrivateKey | None = None

    @classmethod
    def generate(cls, node_id: str) -> Keys:
        tls = Ed25519PrivateKey.generate()
        return cls(Ed25519PrivateKey.generate(), x25519.Identity.generate(), tls, _tls_certificate(tls, node_id))

    def dumps(self) -> bytes:
        retiring = {"retiring": _pem(self.retiring)} if self.retiring else {}
        return json.dumps({"signing": _pem(self.signing), "encryption": str(self.encryption),
                           "tls_key": _pem(self.tls_key), "tls_cert": self.tls_cert_pem, **retiring}).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Keys:
        d = json.loads(raw)
        signing, tls, retiring = (serialization.load_pem_private_key(d[k].encode(), None) if k in d else None
                                  for k in ("signing", "tls_key", "retiring"))
        assert isinstance(signing, Ed25519PrivateKey) and isinstance(tls, Ed25519PrivateKey)
        assert retiring is None or isinstance(retiring, Ed25519PrivateKey)
        return cls(signing, x25519.Identity.from_str(d["encryption"]), tls, d["tls_cert"], retiring)

    @cached_property
    def public_key(self) -> bytes:
        return raw_public(self.signing)

    @property
    def encryption_key(self) -> str:
        """The age recipient (`age1...`) bundles for this node are encrypted to."""
        return str(self.encryption.to_public())

    @cached_property
    def tls_fingerprint(self) -> str:
        cert = x509.load_pem_x509_certificate(self.tls_cert_pem.encode())
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    def public(self) -> dict[str, Any]:
        """What other nodes learn of this node's keys (enrollment, node records)."""
        return {"public_key": self.public_key.hex(), "encryption_key": self.encryption_key,
                "tls_fingerprint": self.tls_fingerprint}

    def __repr__(self) -> str:  # never a secret in a log or a traceback
        return f"Keys(public_key={self.public_key.hex()})"


def create(store: Store, node_id: str) -> Keys:
    """New keys for node `node_id`, stored (in the caller's transaction)."""
    keys = Keys.generate(node_id)
    save(store, keys)
    return keys


def save(store: Store, keys: Keys) -> None:
    store.set_meta(META_KEY, keys.dumps().decode())


def load(store: Store) -> Keys:
    raw = store.meta(META_KEY)
    if raw is None:
        raise MissingKeys("节点的密钥不在数据库中（请从备份恢复）", "the node's keys are not in its database (restore a backup)")
    return Keys.loads(raw.encode())


def adopt(home: Path, store: Store) -> bool:
    """Move the keys of a node from before (`home/node.key`, plain) into its database, then
    delete the file. Returns whether there was one."""
    path = home / KEY_FILE
    if not path.exists():
        return False
    if store.meta(META_KEY) is None:
        with store.transaction():
            save(store, Keys.loads(path.read_bytes()))
    path.unlink()
    return True
