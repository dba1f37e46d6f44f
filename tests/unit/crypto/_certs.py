"""Certificate builders shared by the device and maker tests.

``make_cert`` shapes certificates the way makers issue them; ``issue`` runs the hub's own
issuance and parses the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetward.crypto.devices import issue_device_certificate

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TENANT = "0195f3a2-7c41-7d2e-9a10-5b6c7d8e9f01"
DEVICE = "0195f3a2-7c41-7d2e-9a10-5b6c7d8e9f02"


def weak_rsa_key() -> rsa.RSAPrivateKey:
    """A 1024-bit RSA key; the tests check that it is refused everywhere."""
    return rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weakness is under test


@dataclass(frozen=True)
class Issued:
    """A certificate and the key that goes with it."""

    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def key_usage_for(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_cert(
    cn: str,
    *,
    issuer: Issued | None = None,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    ca: bool = False,
    not_before: dt.datetime = NOW - dt.timedelta(days=30),
    not_after: dt.datetime = NOW + dt.timedelta(days=3650),
    key_usage: bool = True,
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    san: Sequence[x509.GeneralName] = (),
) -> Issued:
    """A certificate shaped like makers issue them (no SAN unless asked)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_key = issuer.key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    )
    if key_usage:
        builder = builder.add_extension(key_usage_for(ca=ca), critical=True)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if eku is not None and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer_key, algorithm), key)


def make_csr(
    key: CertificateIssuerPrivateKeyTypes,
    *,
    cn: str = "anything",
    extensions: Sequence[x509.ExtensionType] = (),
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    algorithm = (
        None
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else (hashes.SHA256())
    )
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def issue(
    ca: Issued,
    csr: bytes,
    *,
    device_id: str = DEVICE,
    tenant_id: str = TENANT,
    now: dt.datetime = NOW,
    days: int = 365,
) -> x509.Certificate:
    """Issue with ``ca`` and parse the result."""
    ca_key = ca.key
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    issued = issue_device_certificate(
        csr,
        device_id=device_id,
        tenant_id=tenant_id,
        ca_cert=ca.cert,
        ca_key=ca_key,
        now=now,
        days=days,
    )
    return x509.load_pem_x509_certificate(issued.pem)
