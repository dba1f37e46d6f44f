"""Device certificates: the hub CA issues them from CSRs, mTLS reads the identity back.

The hub CA signs only what the hub decides; the CSR contributes only its public key, and
only after its self-signature proves the requester holds the private key (RFC 2986 §3).
The device's identity is the SAN URI ``urn:fleetward:device:<tenant_id>:<device_id>``,
which mTLS maps back to the device with :func:`device_identity_from_certificate`.

Maker CAs and bootstrap certificates (provenance, never identity inside the hub) live in
:mod:`fleetward.crypto.makers`; the two trust paths must never be confused.

Every input is size-bounded before it is parsed. Refusals are
:class:`~fleetward.errors.InvalidInputError` for things a caller submits
and :class:`~fleetward.errors.AuthenticationError` for things a device presents to prove
itself; each carries a precise, stable ``code``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetward.clock import utc
from fleetward.crypto._x509 import (
    MAX_CERT_BYTES,
    ErrorFactory,
    fingerprint,
    invalid,
    load_cert,
    serial_to_hex,
    spki,
    unauthenticated,
)
from fleetward.errors import AuthenticationError, ConfigError, InvalidInputError

__all__ = [
    "DEVICE_CERT_DAYS",
    "DEVICE_URN_PREFIX",
    "MAX_CERT_BYTES",
    "MAX_CSR_BYTES",
    "MAX_DEVICE_CERT_DAYS",
    "CaPrivateKey",
    "DeviceIdentity",
    "IssuedCert",
    "certificate_fingerprint",
    "certificate_serial_hex",
    "device_identity_from_certificate",
    "issue_device_certificate",
    "new_device_key_and_csr",
    "serial_to_hex",
]

DEVICE_CERT_DAYS = 365
MAX_DEVICE_CERT_DAYS = 3650
MAX_CSR_BYTES = 16 * 1024
DEVICE_URN_PREFIX = "urn:fleetward:device:"

CaPrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Registry ids are UUIDs; anything id-like is accepted, but never ':' (the URN separator)
# and never more than 64 characters (ub-common-name, RFC 5280 appendix A.1).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BACKDATE = dt.timedelta(minutes=5)  # tolerate devices whose clocks run a little behind
_DEVICE_CURVES = (ec.SECP256R1, ec.SECP384R1)

_DIGITAL_SIGNATURE_ONLY = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A device certificate the hub CA just signed."""

    pem: bytes
    serial_hex: str
    fingerprint_sha256: str
    not_after: dt.datetime


class DeviceIdentity(NamedTuple):
    """The device a hub-issued certificate names, as ``(tenant_id, device_id)``."""

    tenant_id: str
    device_id: str


# -- small public helpers ---------------------------------------------------------------


def certificate_fingerprint(cert: bytes) -> str:
    """SHA-256 hex of the certificate's DER encoding (PEM or DER accepted).

    Raises :class:`InvalidInputError` (``cert.too_large``, ``cert.malformed``).
    """
    return fingerprint(load_cert(cert, invalid))


def certificate_pem(cert: bytes | x509.Certificate) -> str:
    """A certificate (PEM, DER or loaded) as PEM text.

    Raises :class:`InvalidInputError` (``cert.too_large``, ``cert.malformed``).
    """
    if not isinstance(cert, x509.Certificate):
        cert = load_cert(cert, invalid)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_serial_hex(cert: bytes) -> str:
    """The serial number of a PEM or DER certificate, as :func:`serial_to_hex` writes it."""
    return serial_to_hex(load_cert(cert, invalid).serial_number)


def new_device_key_and_csr(device_id: str) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key (PKCS#8 PEM, unencrypted) and a CSR for it (PEM).

    The device SDK calls this; the subject it asks for is advisory, the hub ignores it.
    """
    _check_id(device_id, "device_id", invalid)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


# -- issuing device certificates --------------------------------------------------------


def issue_device_certificate(
    csr_pem: bytes,
    *,
    device_id: str,
    tenant_id: str,
    ca_cert: x509.Certificate,
    ca_key: CaPrivateKey,
    now: dt.datetime,
    days: int = DEVICE_CERT_DAYS,
) -> IssuedCert:
    """Sign a device certificate for the key in ``csr_pem``; nothing else in the CSR counts.

    The certificate is an end entity (BasicConstraints cA=false, critical, RFC 5280
    §4.2.1.9) for TLS client authentication only (EKU id-kp-clientAuth, §4.2.1.12;
    KeyUsage digitalSignature, critical, §4.2.1.3), named CN=<device_id>, O=<tenant_id>
    with the SAN URI ``urn:fleetward:device:<tenant_id>:<device_id>`` (§4.2.1.6), a random
    159-bit positive serial (§4.1.2.2) and key identifiers (§4.2.1.1, §4.2.1.2). Validity
    starts five minutes back and never outlives the CA (§6.1.3 would reject it).

    Raises :class:`InvalidInputError`: ``csr.too_large``, ``csr.malformed``,
    ``csr.key_type`` (only ECDSA P-256/P-384 and Ed25519 device keys),
    ``csr.invalid_signature``, ``cert.invalid_identity``, ``cert.validity``; and
    :class:`ConfigError` (``pki.ca_invalid``, ``pki.ca_mismatch``, ``pki.ca_expired``)
    when the CA itself cannot issue.
    """
    now = utc(now)
    _check_id(device_id, "device_id", invalid)
    _check_id(tenant_id, "tenant_id", invalid)
    if not 1 <= days <= MAX_DEVICE_CERT_DAYS:
        raise InvalidInputError(
            f"validity must be 1..{MAX_DEVICE_CERT_DAYS} days", code="cert.validity"
        )
    _check_issuer(ca_cert, ca_key, now)
    if len(csr_pem) > MAX_CSR_BYTES:
        raise InvalidInputError(f"CSR exceeds {MAX_CSR_BYTES} bytes", code="csr.too_large")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidInputError("not a PEM PKCS#10 CSR", code="csr.malformed") from e
    if not _is_device_key(public_key):
        raise InvalidInputError(
            "device keys must be ECDSA P-256, ECDSA P-384 or Ed25519", code="csr.key_type"
        )
    try:
        signed = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InvalidInputError("CSR signature unreadable", code="csr.malformed") from e
    if not signed:
        raise InvalidInputError(
            "CSR signature does not verify with its own key", code="csr.invalid_signature"
        )

    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant_id),
                    x509.NameAttribute(NameOID.COMMON_NAME, device_id),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_DIGITAL_SIGNATURE_ONLY, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}{tenant_id}:{device_id}")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(ca_cert, ca_key), critical=False)
        .sign(ca_key, _signature_hash(ca_key))
    )
    return IssuedCert(
        pem=cert.public_bytes(serialization.Encoding.PEM),
        serial_hex=serial_to_hex(cert.serial_number),
        fingerprint_sha256=fingerprint(cert),
        not_after=cert.not_valid_after_utc,
    )


def device_identity_from_certificate(
    cert: bytes, *, issued_by: x509.Certificate | None = None
) -> DeviceIdentity:
    """The ``(tenant_id, device_id)`` a hub-issued certificate (PEM or DER) names.

    The SAN must hold exactly one URI and it must be a well-formed Fleetward device URN;
    the subject is ignored (RFC 5280 §4.2.1.6: the SAN is where identities are bound).
    This does not validate the chain: pass only a certificate the TLS layer verified
    against the hub CA *alone*, or give ``issued_by`` to check the hub CA's signature
    here too. (A trust store that also held maker CAs would let a maker mint any URN.)

    Raises :class:`AuthenticationError`: ``cert.too_large``, ``cert.malformed``,
    ``cert.no_identity``, ``cert.untrusted``.
    """
    parsed = load_cert(cert, unauthenticated)
    if issued_by is not None:
        try:
            parsed.verify_directly_issued_by(issued_by)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as e:
            raise AuthenticationError(
                "certificate not issued by the hub CA", code="cert.untrusted"
            ) from e
    try:
        san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as e:
        raise AuthenticationError("certificate names no device", code="cert.no_identity") from e
    except ValueError as e:  # a duplicate or undecodable extension
        raise AuthenticationError("certificate extensions malformed", code="cert.malformed") from e
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1 or not uris[0].startswith(DEVICE_URN_PREFIX):
        raise AuthenticationError("certificate names no device", code="cert.no_identity")
    parts = uris[0].removeprefix(DEVICE_URN_PREFIX).split(":")
    if len(parts) != 2 or not all(_ID.fullmatch(part) for part in parts):
        raise AuthenticationError("certificate names no device", code="cert.no_identity")
    return DeviceIdentity(tenant_id=parts[0], device_id=parts[1])


# -- private helpers --------------------------------------------------------------------


def _check_id(value: str, what: str, error: ErrorFactory) -> None:
    if not _ID.fullmatch(value):
        raise error(f"{what} must match {_ID.pattern}", "cert.invalid_identity")


def _is_device_key(key: CertificatePublicKeyTypes) -> bool:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, _DEVICE_CURVES)
    return isinstance(key, ed25519.Ed25519PublicKey)


def _check_issuer(ca_cert: x509.Certificate, ca_key: CaPrivateKey, now: dt.datetime) -> None:
    try:
        is_ca = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ConfigError("the issuing certificate is not a CA", code="pki.ca_invalid")
    if spki(ca_cert.public_key()) != spki(ca_key.public_key()):
        raise ConfigError("the CA key does not match the CA certificate", code="pki.ca_mismatch")
    if not ca_cert.not_valid_before_utc <= now < ca_cert.not_valid_after_utc:
        raise ConfigError("the CA certificate is outside its validity", code="pki.ca_expired")


def _authority_key_id(
    ca_cert: x509.Certificate, ca_key: CaPrivateKey
) -> x509.AuthorityKeyIdentifier:
    """Reuse the CA's own SKI so chain builders match them byte for byte (§4.2.1.1)."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _signature_hash(key: CaPrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """The hash matched to the CA key's strength; Ed25519 hashes internally (RFC 8410)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if key.curve.key_size > 384:
        return hashes.SHA512()
    return hashes.SHA384() if key.curve.key_size > 256 else hashes.SHA256()
