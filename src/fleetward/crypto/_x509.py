"""X.509 helpers shared by :mod:`~fleetward.crypto.devices` and :mod:`~fleetward.crypto.makers`.

Private to the package: bounded certificate loading, fingerprints, SPKI encoding and the
two error factories that let one loader raise the error its caller's trust path needs
(:class:`~fleetward.errors.InvalidInputError` for what a caller registers,
:class:`~fleetward.errors.AuthenticationError` for what a device presents).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from fleetward.errors import AuthenticationError, FleetwardError, InvalidInputError

__all__ = [
    "MAX_CERT_BYTES",
    "ErrorFactory",
    "fingerprint",
    "invalid",
    "load_cert",
    "serial_to_hex",
    "spki",
    "spki_fingerprint",
    "unauthenticated",
]

MAX_CERT_BYTES = 16 * 1024

ErrorFactory: TypeAlias = Callable[[str, str], FleetwardError]
"""Builds the error to raise from ``(detail, code)``."""


def invalid(detail: str, code: str) -> FleetwardError:
    """An :class:`InvalidInputError`: the caller submitted something unusable."""
    return InvalidInputError(detail, code=code)


def unauthenticated(detail: str, code: str) -> FleetwardError:
    """An :class:`AuthenticationError`: a device failed to prove itself."""
    return AuthenticationError(detail, code=code)


def serial_to_hex(serial: int) -> str:
    """Lowercase hex of a certificate serial, zero-padded to whole octets."""
    text = format(serial, "x")
    return text.zfill(len(text) + len(text) % 2)


def load_cert(data: bytes, error: ErrorFactory) -> x509.Certificate:
    """Exactly one certificate, PEM or DER, bounded before parsing.

    Raises ``error(…, "cert.too_large")`` or ``error(…, "cert.malformed")``.
    """
    if len(data) > MAX_CERT_BYTES:
        raise error(f"certificate exceeds {MAX_CERT_BYTES} bytes", "cert.too_large")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise error("not an X.509 certificate", "cert.malformed") from e
    if len(certs) != 1:
        raise error("expected exactly one certificate", "cert.malformed")
    return certs[0]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 hex of the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex()


def spki(key: CertificatePublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` (RFC 5280 §4.1.2.7)."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_fingerprint(key: CertificatePublicKeyTypes) -> str:
    """SHA-256 hex of :func:`spki`."""
    return hashlib.sha256(spki(key)).hexdigest()
