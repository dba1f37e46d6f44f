"""The hub's own certificate authority and TLS server certificate.

On first start the hub creates an ECDSA P-256 CA and a server certificate signed by it,
so TLS is on from the first run with nothing for the operator to do. Clients pin the
CA file printed at start-up. The private keys are written with mode 0600 in a 0700
directory; an existing, operator-supplied certificate is used as is.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetward.errors import ConfigError

__all__ = ["HubCa", "TlsMaterial", "ensure_tls_material", "load_hub_ca"]

_CA_DAYS = 3650
_SERVER_DAYS = 397  # the CA/Browser Forum ceiling; clients that check lifetimes accept it


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Paths of the PEM files a TLS listener needs."""

    ca_file: Path | None
    cert_file: Path
    key_file: Path
    generated: bool


def ensure_tls_material(
    directory: Path,
    server_names: tuple[str, ...],
    *,
    now: dt.datetime,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> TlsMaterial:
    """Return the operator's certificate, or create (once) a hub CA and server certificate.

    The server certificate is re-issued when it is within 30 days of expiry or lacks one
    of ``server_names``; the CA is kept so clients that pinned it keep working.
    """
    if cert_file is not None and key_file is not None:
        return TlsMaterial(ca_file=None, cert_file=cert_file, key_file=key_file, generated=False)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    ca_cert_path, ca_key_path = directory / "hub-ca.pem", directory / "hub-ca.key"
    srv_cert_path, srv_key_path = directory / "server.pem", directory / "server.key"

    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path}: not an EC private key")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue_ca(ca_key, now)
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    if not _server_cert_fresh(srv_cert_path, server_names, now):
        srv_key = ec.generate_private_key(ec.SECP256R1())
        srv_cert = _issue_server(ca_cert, ca_key, srv_key, server_names, now)
        _write_key(srv_key_path, srv_key)
        chain = srv_cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
            serialization.Encoding.PEM
        )
        srv_cert_path.write_bytes(chain)
    return TlsMaterial(
        ca_file=ca_cert_path, cert_file=srv_cert_path, key_file=srv_key_path, generated=True
    )


@dataclass(frozen=True, slots=True)
class HubCa:
    """The hub CA certificate and its private key, ready to sign device certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def load_hub_ca(directory: Path) -> HubCa:
    """Load ``hub-ca.pem`` and ``hub-ca.key`` from the TLS directory.

    The files are the ones :func:`ensure_tls_material` creates; an operator may replace
    them with an ECDSA or Ed25519 CA of their own. The key must match the certificate,
    or every certificate signed with it would fail validation.

    Raises :class:`ConfigError`: ``pki.hub_ca_missing`` or ``pki.hub_ca_invalid``.
    """
    cert_path, key_path = directory / "hub-ca.pem", directory / "hub-ca.key"
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"no hub CA in {directory}", code="pki.hub_ca_missing") from e
    except OSError as e:
        raise ConfigError(f"cannot read the hub CA: {e}", code="pki.hub_ca_invalid") from e
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError("the hub CA files are unreadable", code="pki.hub_ca_invalid") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError("the hub CA key must be ECDSA or Ed25519", code="pki.hub_ca_invalid")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise ConfigError(
            "the hub CA key does not match its certificate", code="pki.hub_ca_invalid"
        )
    return HubCa(cert=cert, key=key)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _issue_ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fleetward"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Fleetward hub CA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_server(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    server_names: tuple[str, ...],
    now: dt.datetime,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = []
    for name in (*server_names, "localhost", "127.0.0.1", "::1"):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            entry = x509.DNSName(name)
        if entry not in sans:
            sans.append(entry)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _server_cert_fresh(path: Path, server_names: tuple[str, ...], now: dt.datetime) -> bool:
    if not path.exists() or not path.with_suffix(".key").exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    if cert.not_valid_after_utc - now < dt.timedelta(days=30):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }
    return all(name in present for name in server_names)
