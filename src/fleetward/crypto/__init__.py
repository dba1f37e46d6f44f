"""The only package that touches cryptographic primitives (``cryptography``, ``argon2``).

Everything else asks this package for safe recipes: hash and verify a secret, mint an
opaque token, issue TLS material. Keeping the primitives in one place keeps review
of the dangerous code small (the pyca "recipes above, hazmat below" split).
"""

from fleetward.crypto.pki import TlsMaterial, ensure_tls_material
from fleetward.crypto.secrets import SecretHasher, new_secret, new_token_id
from fleetward.crypto.signing import KeyRing, SigningKey, VerifyKey
from fleetward.crypto.tls import client_context, server_context

__all__ = [
    "KeyRing",
    "SecretHasher",
    "SigningKey",
    "TlsMaterial",
    "VerifyKey",
    "client_context",
    "ensure_tls_material",
    "new_secret",
    "new_token_id",
    "server_context",
]
