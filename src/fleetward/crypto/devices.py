"""Device certificates: the hub CA issues them, makers vouch for devices they built.

Two trust paths meet here and must never be confused:

* **Device certificates** are issued by the hub CA from a CSR. The hub decides every
  field; the CSR contributes only its public key, and only after its self-signature
  proves the requester holds the private key (RFC 2986 §3). The device's identity is the
  SAN URI ``urn:fleetward:device:<tenant_id>:<device_id>``, which mTLS maps back to the
  device with :func:`device_identity_from_certificate`.
* **Maker CAs** are registered per tenant. A device's bootstrap certificate that chains
  to one of them proves *provenance* (who built it), never identity inside the hub. Path
  validation is cryptography's RFC 5280 verifier (:mod:`cryptography.x509.verification`),
  not a hand-written chain walk.

Every input is size-bounded before it is parsed. Refusals are
:class:`~fleetward.errors.InvalidInputError` for things a caller submits for registration
and :class:`~fleetward.errors.AuthenticationError` for things a device presents to prove
itself; each carries a precise, stable ``code``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from fleetward.clock import utc
from fleetward.errors import (
    AuthenticationError,
    ConfigError,
    FleetwardError,
    InvalidInputError,
)

__all__ = [
    "DEVICE_CERT_DAYS",
    "DEVICE_URN_PREFIX",
    "MAX_CERT_BYTES",
    "MAX_CHAIN_CERTS",
    "MAX_CSR_BYTES",
    "MAX_DEVICE_CERT_DAYS",
    "BootstrapProof",
    "CaPrivateKey",
    "DeviceIdentity",
    "IssuedCert",
    "MakerCaInfo",
    "certificate_fingerprint",
    "certificate_serial_hex",
    "device_identity_from_certificate",
    "issue_device_certificate",
    "load_maker_ca",
    "new_device_key_and_csr",
    "serial_to_hex",
    "verify_bootstrap_certificate",
]

DEVICE_CERT_DAYS = 365
MAX_DEVICE_CERT_DAYS = 3650
MAX_CSR_BYTES = 16 * 1024
MAX_CERT_BYTES = 16 * 1024
MAX_CHAIN_CERTS = 4
DEVICE_URN_PREFIX = "urn:fleetward:device:"

CaPrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Registry ids are UUIDs; anything id-like is accepted, but never ':' (the URN separator)
# and never more than 64 characters (ub-common-name, RFC 5280 appendix A.1).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BACKDATE = dt.timedelta(minutes=5)  # tolerate devices whose clocks run a little behind
_DEVICE_CURVES = (ec.SECP256R1, ec.SECP384R1)
_MAKER_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS = 2048

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

# Maker bootstrap certificates name the device in the subject and seldom carry a SAN,
# which the Web PKI client policy requires; everything else keeps its defaults.
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)

_ErrorFactory: TypeAlias = Callable[[str, str], FleetwardError]


def _invalid(detail: str, code: str) -> FleetwardError:
    return InvalidInputError(detail, code=code)


def _unauthenticated(detail: str, code: str) -> FleetwardError:
    return AuthenticationError(detail, code=code)


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


# -- small public helpers ---------------------------------------------------------------


def serial_to_hex(serial: int) -> str:
    """Lowercase hex of a certificate serial, zero-padded to whole octets."""
    text = format(serial, "x")
    return text.zfill(len(text) + len(text) % 2)


def certificate_fingerprint(cert: bytes) -> str:
    """SHA-256 hex of the certificate's DER encoding (PEM or DER accepted).

    Raises :class:`InvalidInputError` (``cert.too_large``, ``cert.malformed``).
    """
    return _fingerprint(_load_cert(cert, _invalid))


def certificate_serial_hex(cert: bytes) -> str:
    """The serial number of a PEM or DER certificate, as :func:`serial_to_hex` writes it."""
    return serial_to_hex(_load_cert(cert, _invalid).serial_number)


def new_device_key_and_csr(device_id: str) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key (PKCS#8 PEM, unencrypted) and a CSR for it (PEM).

    The device SDK calls this; the subject it asks for is advisory, the hub ignores it.
    """
    _check_id(device_id, "device_id", _invalid)
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
    _check_id(device_id, "device_id", _invalid)
    _check_id(tenant_id, "tenant_id", _invalid)
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
        fingerprint_sha256=_fingerprint(cert),
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
    parsed = _load_cert(cert, _unauthenticated)
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


# -- maker CAs and bootstrap certificates -----------------------------------------------


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
        fingerprint=_fingerprint(cert),
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
    leaf = _load_cert(leaf_pem, _unauthenticated)
    intermediates = [_load_cert(pem, _unauthenticated) for pem in chain_pems]
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
        maker_fingerprint=_fingerprint(chain[-1]),
        subject=leaf.subject.rfc4514_string(),
        serial=serial_to_hex(leaf.serial_number),
        public_key_fingerprint=_spki_fingerprint(leaf_key),
        fingerprint=_fingerprint(leaf),
        not_after=leaf.not_valid_after_utc,
    )


def _usable_anchors(trusted_makers: Iterable[bytes]) -> list[x509.Certificate]:
    anchors: list[x509.Certificate] = []
    for pem in trusted_makers:
        try:
            cert = _load_cert(pem, _invalid)
        except FleetwardError:
            continue
        if _maker_ca_problem(cert) is None:
            anchors.append(cert)
    return anchors


# -- private helpers --------------------------------------------------------------------


def _load_cert(data: bytes, error: _ErrorFactory) -> x509.Certificate:
    """Exactly one certificate, PEM or DER, bounded before parsing."""
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


def _check_id(value: str, what: str, error: _ErrorFactory) -> None:
    if not _ID.fullmatch(value):
        raise error(f"{what} must match {_ID.pattern}", "cert.invalid_identity")


def _is_device_key(key: CertificatePublicKeyTypes) -> bool:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, _DEVICE_CURVES)
    return isinstance(key, ed25519.Ed25519PublicKey)


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


def _check_issuer(ca_cert: x509.Certificate, ca_key: CaPrivateKey, now: dt.datetime) -> None:
    try:
        is_ca = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ConfigError("the issuing certificate is not a CA", code="pki.ca_invalid")
    if _spki(ca_cert.public_key()) != _spki(ca_key.public_key()):
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


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _spki_fingerprint(key: CertificatePublicKeyTypes) -> str:
    return hashlib.sha256(_spki(key)).hexdigest()


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
