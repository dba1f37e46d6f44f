"""The only package that touches cryptographic primitives (``cryptography``, ``argon2``).

Everything else asks this package for safe recipes: hash and verify a secret, mint an
opaque token, issue TLS material and device certificates, check a maker's bootstrap
certificate, seal data at rest and wrap its keys. Keeping the primitives in one place
keeps review of the dangerous code small (the pyca "recipes above, hazmat below" split).
"""

from fleetward.crypto.aead import (
    AeadError,
    key_fingerprint,
    new_key,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)
from fleetward.crypto.devices import (
    CaPrivateKey,
    DeviceIdentity,
    IssuedCert,
    certificate_fingerprint,
    certificate_pem,
    certificate_serial_hex,
    device_identity_from_certificate,
    issue_device_certificate,
    new_device_key_and_csr,
    serial_to_hex,
)
from fleetward.crypto.hpke import HpkeError, HpkePrivateKey
from fleetward.crypto.makers import (
    BootstrapProof,
    MakerCaInfo,
    load_maker_ca,
    verify_bootstrap_certificate,
)
from fleetward.crypto.pki import HubCa, TlsMaterial, ensure_tls_material, load_hub_ca
from fleetward.crypto.secrets import SecretHasher, new_secret, new_token_id
from fleetward.crypto.signing import KeyRing, SigningKey, VerifyKey
from fleetward.crypto.tls import client_context, server_context
from fleetward.crypto.webhook_sig import SIGNATURE_HEADER, sign_webhook, verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "AeadError",
    "BootstrapProof",
    "CaPrivateKey",
    "DeviceIdentity",
    "HpkeError",
    "HpkePrivateKey",
    "HubCa",
    "IssuedCert",
    "KeyRing",
    "MakerCaInfo",
    "SecretHasher",
    "SigningKey",
    "TlsMaterial",
    "VerifyKey",
    "certificate_fingerprint",
    "certificate_pem",
    "certificate_serial_hex",
    "client_context",
    "device_identity_from_certificate",
    "ensure_tls_material",
    "issue_device_certificate",
    "key_fingerprint",
    "load_hub_ca",
    "load_maker_ca",
    "new_device_key_and_csr",
    "new_key",
    "new_secret",
    "new_token_id",
    "open_sealed",
    "seal",
    "serial_to_hex",
    "server_context",
    "sign_webhook",
    "unwrap_key",
    "verify_bootstrap_certificate",
    "verify_webhook",
    "wrap_key",
]
