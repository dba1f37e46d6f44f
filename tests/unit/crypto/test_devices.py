"""Device certificates from CSRs and the identity mTLS reads back.

The hub CA signs only what the hub decides (RFC 5280 §4.2.1.x): a CSR contributes its
public key and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.crypto.devices import (
    DEVICE_URN_PREFIX,
    MAX_CSR_BYTES,
    DeviceIdentity,
    certificate_fingerprint,
    certificate_serial_hex,
    device_identity_from_certificate,
    issue_device_certificate,
    new_device_key_and_csr,
    serial_to_hex,
)
from fleetward.crypto.pki import ensure_tls_material, load_hub_ca
from fleetward.errors import AuthenticationError, ConfigError, InvalidInputError

from ._certs import (
    DEVICE,
    NOW,
    TENANT,
    Issued,
    issue,
    key_usage_for,
    make_cert,
    make_csr,
    weak_rsa_key,
)

# -- issuing from a CSR ---------------------------------------------------------------------


def test_issued_certificate_has_only_what_the_hub_decides(hub_ca: Issued) -> None:
    key_pem, csr_pem = new_device_key_and_csr(DEVICE)
    ca_key = hub_ca.key
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    issued = issue_device_certificate(
        csr_pem, device_id=DEVICE, tenant_id=TENANT, ca_cert=hub_ca.cert, ca_key=ca_key, now=NOW
    )
    cert = x509.load_pem_x509_certificate(issued.pem)

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEVICE
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == TENANT
    assert cert.issuer == hub_ca.cert.subject
    cert.verify_directly_issued_by(hub_ca.cert)
    device_key = serialization.load_pem_private_key(key_pem, password=None)
    assert cert.public_key() == device_key.public_key()

    ext = cert.extensions
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}{TENANT}:{DEVICE}")]
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is False
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.key_cert_sign
    assert not ku.value.key_encipherment
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = hub_ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest

    assert cert.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=365)
    assert issued.not_after == cert.not_valid_after_utc
    assert 0 < cert.serial_number < 2**159
    assert (
        issued.serial_hex == serial_to_hex(cert.serial_number) == certificate_serial_hex(issued.pem)
    )
    assert issued.fingerprint_sha256 == certificate_fingerprint(issued.pem)


def test_serials_are_random(hub_ca: Issued) -> None:
    _, csr = new_device_key_and_csr(DEVICE)
    serials = {issue(hub_ca, csr).serial_number for _ in range(8)}
    assert len(serials) == 8


def test_what_the_csr_asks_for_is_ignored(hub_ca: Issued) -> None:
    csr = make_csr(
        ec.generate_private_key(ec.SECP256R1()),
        cn="root",
        extensions=[
            x509.BasicConstraints(ca=True, path_length=None),
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("hub.example"),
                    x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}other-tenant:other"),
                ]
            ),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            key_usage_for(ca=True),
        ],
    )
    cert = issue(hub_ca, csr)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEVICE
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}{TENANT}:{DEVICE}")]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert device_identity_from_certificate(cert.public_bytes(serialization.Encoding.DER)) == (
        TENANT,
        DEVICE,
    )


KeyFactory = Callable[[], CertificateIssuerPrivateKeyTypes]


@pytest.mark.parametrize(
    "new_key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="p256"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="p384"),
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
    ],
)
def test_supported_device_keys(hub_ca: Issued, new_key: KeyFactory) -> None:
    key = new_key()
    cert = issue(hub_ca, make_csr(key))
    assert cert.public_key() == key.public_key()


@pytest.mark.parametrize(
    "new_key",
    [
        pytest.param(weak_rsa_key, id="rsa1024"),
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa2048"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), id="p521"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(ed448.Ed448PrivateKey.generate, id="ed448"),
    ],
)
def test_other_device_keys_are_refused(hub_ca: Issued, new_key: KeyFactory) -> None:
    csr = make_csr(new_key())
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, csr)
    assert info.value.code == "csr.key_type"


def test_csr_with_a_broken_signature_is_refused(hub_ca: Issued) -> None:
    _, csr_pem = new_device_key_and_csr("genuine")
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
    at = der.index(b"genuine")
    der[at : at + 7] = b"forged!"  # same length: the CSR still parses, the signature fails
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, forged)
    assert info.value.code == "csr.invalid_signature"


def test_oversized_csr_is_refused_before_parsing(hub_ca: Issued) -> None:
    _, csr_pem = new_device_key_and_csr(DEVICE)
    padded = csr_pem + b"\n" * (MAX_CSR_BYTES + 1 - len(csr_pem))
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, padded)
    assert info.value.code == "csr.too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a csr",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    ],
)
def test_malformed_csr_is_refused(hub_ca: Issued, data: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, data)
    assert info.value.code == "csr.malformed"


def test_der_csr_is_refused(hub_ca: Issued) -> None:
    _, csr_pem = new_device_key_and_csr(DEVICE)
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, der)
    assert info.value.code == "csr.malformed"


@pytest.mark.parametrize(
    ("device_id", "tenant_id"),
    [("", TENANT), ("a:b", TENANT), (DEVICE, "t:1"), ("x" * 65, TENANT), ("-lead", TENANT)],
)
def test_ids_that_cannot_be_named_are_refused(
    hub_ca: Issued, device_id: str, tenant_id: str
) -> None:
    _, csr = new_device_key_and_csr("d")
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, csr, device_id=device_id, tenant_id=tenant_id)
    assert info.value.code == "cert.invalid_identity"


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_validity_is_bounded(hub_ca: Issued, days: int) -> None:
    _, csr = new_device_key_and_csr(DEVICE)
    with pytest.raises(InvalidInputError) as info:
        issue(hub_ca, csr, days=days)
    assert info.value.code == "cert.validity"


def test_certificate_never_outlives_its_ca() -> None:
    short_ca = make_cert("short CA", ca=True, not_after=NOW + dt.timedelta(days=10))
    _, csr = new_device_key_and_csr(DEVICE)
    cert = issue(short_ca, csr, days=365)
    assert cert.not_valid_after_utc == short_ca.cert.not_valid_after_utc


def test_issuer_problems_are_configuration_errors(hub_ca: Issued) -> None:
    _, csr = new_device_key_and_csr(DEVICE)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigError) as info:
        issue(Issued(hub_ca.cert, other), csr)
    assert info.value.code == "pki.ca_mismatch"
    leaf = make_cert("not a CA", issuer=hub_ca)
    with pytest.raises(ConfigError) as info:
        issue(leaf, csr)
    assert info.value.code == "pki.ca_invalid"
    with pytest.raises(ConfigError) as info:
        issue(hub_ca, csr, now=NOW + dt.timedelta(days=4000))
    assert info.value.code == "pki.ca_expired"


def test_ed25519_hub_ca_issues() -> None:
    ca = make_cert("Ed25519 hub CA", ca=True, key=ed25519.Ed25519PrivateKey.generate())
    _, csr = new_device_key_and_csr(DEVICE)
    cert = issue(ca, csr)
    cert.verify_directly_issued_by(ca.cert)
    assert device_identity_from_certificate(cert.public_bytes(serialization.Encoding.PEM)) == (
        TENANT,
        DEVICE,
    )


def test_hub_ca_from_the_tls_directory_issues(tmp_path: Path) -> None:
    ensure_tls_material(tmp_path / "tls", ("hub.test",), now=NOW)
    ca = load_hub_ca(tmp_path / "tls")
    _, csr = new_device_key_and_csr(DEVICE)
    issued = issue_device_certificate(
        csr, device_id=DEVICE, tenant_id=TENANT, ca_cert=ca.cert, ca_key=ca.key, now=NOW
    )
    cert = x509.load_pem_x509_certificate(issued.pem)
    assert device_identity_from_certificate(issued.pem, issued_by=ca.cert) == (TENANT, DEVICE)
    cert.verify_directly_issued_by(ca.cert)


def test_load_hub_ca_refusals(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_hub_ca(tmp_path / "missing")
    assert info.value.code == "pki.hub_ca_missing"
    ensure_tls_material(tmp_path / "tls", ("hub.test",), now=NOW)
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "tls" / "hub-ca.key").write_bytes(stranger)
    with pytest.raises(ConfigError) as info:
        load_hub_ca(tmp_path / "tls")
    assert info.value.code == "pki.hub_ca_invalid"
    (tmp_path / "tls" / "hub-ca.key").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as info:
        load_hub_ca(tmp_path / "tls")
    assert info.value.code == "pki.hub_ca_invalid"


def test_new_device_key_and_csr() -> None:
    key_pem, csr_pem = new_device_key_and_csr(DEVICE)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    with pytest.raises(InvalidInputError):
        new_device_key_and_csr("bad:id")


# -- identity back from a certificate -------------------------------------------------------

_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(tenant_id=_ids, device_id=_ids)
def test_identity_round_trip(hub_ca: Issued, tenant_id: str, device_id: str) -> None:
    _, csr = new_device_key_and_csr("d")
    cert = issue(hub_ca, csr, device_id=device_id, tenant_id=tenant_id)
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        found = device_identity_from_certificate(cert.public_bytes(encoding), issued_by=hub_ca.cert)
        assert found == DeviceIdentity(tenant_id, device_id)


def test_identity_needs_the_named_issuer(hub_ca: Issued) -> None:
    _, csr = new_device_key_and_csr(DEVICE)
    pem = issue(hub_ca, csr).public_bytes(serialization.Encoding.PEM)
    impostor = make_cert("another CA", ca=True)
    with pytest.raises(AuthenticationError) as info:
        device_identity_from_certificate(pem, issued_by=impostor.cert)
    assert info.value.code == "cert.untrusted"


@pytest.mark.parametrize(
    "san",
    [
        pytest.param((), id="no-san"),
        pytest.param((x509.DNSName("device.example"),), id="dns-only"),
        pytest.param((x509.UniformResourceIdentifier("urn:other:device:t:d"),), id="other-urn"),
        pytest.param(
            (x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}t:d:extra"),), id="three-parts"
        ),
        pytest.param((x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}t:"),), id="empty-id"),
        pytest.param(
            (
                x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}t:a"),
                x509.UniformResourceIdentifier(f"{DEVICE_URN_PREFIX}t:b"),
            ),
            id="two-urns",
        ),
    ],
)
def test_certificates_without_one_clean_urn_name_no_device(
    hub_ca: Issued, san: Sequence[x509.GeneralName]
) -> None:
    pem = make_cert("device", issuer=hub_ca, san=san).pem
    with pytest.raises(AuthenticationError) as info:
        device_identity_from_certificate(pem)
    assert info.value.code == "cert.no_identity"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"garbage", "cert.malformed"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cert.malformed"),
        (b"\x30" * (16 * 1024 + 1), "cert.too_large"),
    ],
)
def test_unreadable_certificates_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        device_identity_from_certificate(data)
    assert info.value.code == code


def test_fingerprint_and_serial_helpers(hub_ca: Issued) -> None:
    der = hub_ca.cert.public_bytes(serialization.Encoding.DER)
    assert certificate_fingerprint(der) == hashlib.sha256(der).hexdigest()
    assert certificate_fingerprint(hub_ca.pem) == hashlib.sha256(der).hexdigest()
    assert certificate_serial_hex(der) == serial_to_hex(hub_ca.cert.serial_number)
    assert serial_to_hex(1) == "01"
    assert serial_to_hex(0x123) == "0123"
    assert serial_to_hex(0xABCD) == "abcd"
    with pytest.raises(InvalidInputError) as info:
        certificate_fingerprint(hub_ca.pem + hub_ca.pem)
    assert info.value.code == "cert.malformed"
