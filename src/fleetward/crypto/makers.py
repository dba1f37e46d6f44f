"""Maker CAs and the bootstrap certificates they vouch for.

A tenant registers the CAs of the makers that build its devices (:func:`load_maker_ca`).
A device's bootstrap certificate that chains to one of them proves *provenance* (who
built it), never identity inside the hub: that is the hub-issued device certificate of
:mod:`fleetward.crypto.devices`, and the TLS trust store for device certificates holds
the hub CA alone. Path validation is cryptography's RFC 5280 verifier
(:mod:`cryptography.x509.verification`), not a hand-written chain walk.

Every input is size-bounded before it is parsed. Refusals are
:class:`~fleetward.errors.InvalidInputError` for things a caller submits for registration
and :class:`~fleetward.errors.AuthenticationError` for things a device presents to prove
itself; each carries a precise, stable ``code``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from fleetward.clock import utc
from fleetward.crypto._x509 import (
    MAX_CERT_BYTES,
    fingerprint,
    invalid,
    load_cert,
    serial_to_hex,
    spki_fingerprint,
    unauthenticated,
)
from fleetward.errors import AuthenticationError, FleetwardError, InvalidInputError

__all__ = [
    "MAX_CERT_BYTES",
    "MAX_CHAIN_CERTS",
    "BootstrapProof",
    "MakerCaInfo",
    "load_maker_ca",
    "verify_bootstrap_certificate",
]

MAX_CHAIN_CERTS = 4

_MAKER_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS = 2048

# Maker bootstrap certificates name the device in the subject and seldom carry a SAN,
# which the Web PKI client policy requires; everything else keeps its defaults.
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


@dataclass(frozen=True, slots=True)
class MakerCaInfo:
    """A maker CA certificate accepted for registration (PEM kept as given)."""

    fingerprint: str
    subject: str
    not_after: dt.datetime
    pem: bytes


@dataclass(frozen=True, slots=True)
class BootstrapProof:
    """What a verified bootstrap certificate proves: which registered maker vouched for it.

    It proves provenance of the *certificate*, not possession of its private key: pair it
    with a proof of possession (the mTLS handshake, or a challenge signed by the key whose
    SPKI hash is ``public_key_fingerprint``).
    """

    maker_fingerprint: str
    subject: str
    serial: str
    public_key_fingerprint: str
    fingerprint: str
    not_after: dt.datetime


def load_maker_ca(pem: bytes, *, now: dt.datetime) -> MakerCaInfo:
    """Check a maker CA certificate before a tenant registers it as a trust anchor.

    It must be exactly one PEM certificate asserting cA (RFC 5280 §4.2.1.9) with
    KeyUsage keyCertSign (§4.2.1.3, which the verifier also requires), valid at ``now``,
    with an ECDSA (P-256/P-384/P-521) or RSA >= 2048-bit key. Ed25519 maker CAs are
    refused: cryptography's path validator applies the Web PKI signature-algorithm list,
    which has no Ed25519, so such a maker could never vouch for anything.

    Raises :class:`InvalidInputError`: ``maker_ca.too_large``, ``maker_ca.malformed``,
    ``maker_ca.not_ca``, ``maker_ca.key_type``, ``maker_ca.expired``,
    ``maker_ca.not_yet_valid``.
    """
    now = utc(now)
    if len(pem) > MAX_CERT_BYTES:
        raise InvalidInputError(f"exceeds {MAX_CERT_BYTES} bytes", code="maker_ca.too_large")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise InvalidInputError("not a PEM certificate", code="maker_ca.malformed") from e
    if len(certs) != 1:
        raise InvalidInputError("expected exactly one certificate", code="maker_ca.malformed")
    cert = certs[0]
    problem = _maker_ca_problem(cert)
    if problem is not None:
        raise InvalidInputError(problem[1], code=problem[0])
    if now > cert.not_valid_after_utc:
        raise InvalidInputError("maker CA has expired", code="maker_ca.expired")
    if now < cert.not_valid_before_utc:
        raise InvalidInputError("maker CA is not valid yet", code="maker_ca.not_yet_valid")
    return MakerCaInfo(
        fingerprint=fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        pem=pem,
    )


def verify_bootstrap_certificate(
    leaf_pem: bytes,
    chain_pems: Sequence[bytes],
    trusted_makers: Iterable[bytes],
    *,
    now: dt.datetime,
) -> BootstrapProof:
    """Prove that ``leaf_pem`` chains, through ``chain_pems``, to a registered maker CA.

    ``chain_pems`` are untrusted intermediates (at most :data:`MAX_CHAIN_CERTS`); only
    ``trusted_makers`` (the tenant's registered maker CA PEMs) are anchors, and one that
    is not a usable CA is skipped, never trusted. Path validation is cryptography's RFC
    5280 §6 client verifier with the Web PKI extension policies, except that the leaf's
    SAN is optional: maker bootstrap certificates usually name the device in the subject
    (a serial number) and carry no SAN, which the default client policy would refuse.
    Everything else stays strict: issuers must assert cA and keyCertSign, the leaf must
    not be a CA, must carry an AuthorityKeyIdentifier (§4.2.1.1), may not carry unknown
    critical extensions, and if it has an EKU it must allow clientAuth. A leaf that is
    itself an anchor proves nothing and is refused.

    Raises :class:`AuthenticationError`: ``cert.too_large``, ``cert.malformed``,
    ``cert.expired``, ``cert.not_yet_valid``, ``cert.key_type``, ``cert.untrusted``.
    """
    now = utc(now)
    if len(chain_pems) > MAX_CHAIN_CERTS:
        raise AuthenticationError("certificate chain too long", code="cert.too_large")
    leaf = load_cert(leaf_pem, unauthenticated)
    intermediates = [load_cert(pem, unauthenticated) for pem in chain_pems]
    if now > leaf.not_valid_after_utc:
        raise AuthenticationError("certificate has expired", code="cert.expired")
    if now < leaf.not_valid_before_utc:
        raise AuthenticationError("certificate is not valid yet", code="cert.not_yet_valid")
    try:
        leaf_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise AuthenticationError("unsupported certificate key", code="cert.key_type") from e
    if not _is_bootstrap_key(leaf_key):
        raise AuthenticationError("unsupported certificate key", code="cert.key_type")
    anchors = _usable_anchors(trusted_makers)
    if not anchors:
        raise AuthenticationError("no trusted maker for this certificate", code="cert.untrusted")
    verifier = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(now)
        .max_chain_depth(MAX_CHAIN_CERTS)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(leaf, intermediates).chain
    except (VerificationError, x509.UnsupportedGeneralNameType, ValueError) as e:
        raise AuthenticationError(
            "certificate does not chain to a trusted maker", code="cert.untrusted"
        ) from e
    if len(chain) < 2:
        raise AuthenticationError("a trust anchor is not a device", code="cert.untrusted")
    return BootstrapProof(
        maker_fingerprint=fingerprint(chain[-1]),
        subject=leaf.subject.rfc4514_string(),
        serial=serial_to_hex(leaf.serial_number),
        public_key_fingerprint=spki_fingerprint(leaf_key),
        fingerprint=fingerprint(leaf),
        not_after=leaf.not_valid_after_utc,
    )


# -- private helpers --------------------------------------------------------------------


def _usable_anchors(trusted_makers: Iterable[bytes]) -> list[x509.Certificate]:
    anchors: list[x509.Certificate] = []
    for pem in trusted_makers:
        try:
            cert = load_cert(pem, invalid)
        except FleetwardError:
            continue
        if _maker_ca_problem(cert) is None:
            anchors.append(cert)
    return anchors


def _is_bootstrap_key(key: CertificatePublicKeyTypes) -> bool:
    """Device keys, plus RSA >= 2048 and P-521: makers choose those, not us."""
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size >= _MIN_RSA_BITS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, _MAKER_CURVES)
    return isinstance(key, ed25519.Ed25519PublicKey)


def _maker_ca_problem(cert: x509.Certificate) -> tuple[str, str] | None:
    """``(code, detail)`` of the first reason ``cert`` cannot be a maker trust anchor."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        key = cert.public_key()
    except x509.ExtensionNotFound:
        return "maker_ca.not_ca", "needs BasicConstraints cA=true and KeyUsage keyCertSign"
    except (ValueError, UnsupportedAlgorithm):
        return "maker_ca.malformed", "extensions or key unreadable"
    if not constraints.ca or not usage.key_cert_sign:
        return "maker_ca.not_ca", "needs BasicConstraints cA=true and KeyUsage keyCertSign"
    if isinstance(key, rsa.RSAPublicKey):
        supported = key.key_size >= _MIN_RSA_BITS
    else:
        supported = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
            key.curve, _MAKER_CURVES
        )
    if not supported:
        return "maker_ca.key_type", "maker CA keys must be ECDSA P-256/384/521 or RSA >= 2048"
    return None
