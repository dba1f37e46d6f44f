"""Device certificates from CSRs, the identity mTLS reads back, and maker provenance.

The hub CA signs only what the hub decides (RFC 5280 §4.2.1.x): a CSR contributes its
public key and nothing else. Maker bootstrap certificates are checked by path
validation (RFC 5280 §6) against the tenant's registered maker CAs only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.crypto.devices import (
    DEVICE_URN_PREFIX,
    MAX_CHAIN_CERTS,
    MAX_CSR_BYTES,
    DeviceIdentity,
    certificate_fingerprint,
    certificate_serial_hex,
    device_identity_from_certificate,
    issue_device_certificate,
    load_maker_ca,
    new_device_key_and_csr,
    serial_to_hex,
    verify_bootstrap_certificate,
)
from fleetward.crypto.pki import ensure_tls_material, load_hub_ca
from fleetward.errors import AuthenticationError, ConfigError, InvalidInputError

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TENANT = "0195f3a2-7c41-7d2e-9a10-5b6c7d8e9f01"
DEVICE = "0195f3a2-7c41-7d2e-9a10-5b6c7d8e9f02"

# -- builders -------------------------------------------------------------------------------


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


def _key_usage(*, ca: bool) -> x509.KeyUsage:
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
        builder = builder.add_extension(_key_usage(ca=ca), critical=True)
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


@pytest.fixture(scope="module")
def hub_ca() -> Issued:
    return make_cert("Fleetward hub CA", ca=True)


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
            _key_usage(ca=True),
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


# -- maker CAs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maker() -> Issued:
    return make_cert("Acme Devices Root CA", ca=True)


def test_maker_ca_registration(maker: Issued) -> None:
    info = load_maker_ca(maker.pem, now=NOW)
    assert info.fingerprint == certificate_fingerprint(maker.pem)
    assert info.subject == "CN=Acme Devices Root CA"
    assert info.not_after == maker.cert.not_valid_after_utc
    assert info.pem == maker.pem


def test_rsa_maker_ca_registers() -> None:
    root = make_cert("RSA maker", ca=True, key=rsa.generate_private_key(65537, 2048))
    assert load_maker_ca(root.pem, now=NOW).subject == "CN=RSA maker"


@pytest.mark.parametrize(
    ("build", "code"),
    [
        pytest.param(lambda: make_cert("a leaf"), "maker_ca.not_ca", id="leaf"),
        pytest.param(
            lambda: make_cert("no keyCertSign", ca=True, key_usage=False),
            "maker_ca.not_ca",
            id="no-key-usage",
        ),
        pytest.param(
            lambda: make_cert("old", ca=True, not_after=NOW - dt.timedelta(days=1)),
            "maker_ca.expired",
            id="expired",
        ),
        pytest.param(
            lambda: make_cert("future", ca=True, not_before=NOW + dt.timedelta(days=1)),
            "maker_ca.not_yet_valid",
            id="not-yet-valid",
        ),
        pytest.param(
            lambda: make_cert("ed", ca=True, key=ed25519.Ed25519PrivateKey.generate()),
            "maker_ca.key_type",
            id="ed25519",
        ),
        pytest.param(
            lambda: make_cert("weak", ca=True, key=weak_rsa_key()),
            "maker_ca.key_type",
            id="rsa1024",
        ),
    ],
)
def test_maker_ca_refusals(build: Callable[[], Issued], code: str) -> None:
    issued = build()
    with pytest.raises(InvalidInputError) as info:
        load_maker_ca(issued.pem, now=NOW)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"garbage", "maker_ca.malformed"),
        (b"A" * (16 * 1024 + 1), "maker_ca.too_large"),
    ],
)
def test_maker_ca_unreadable(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_maker_ca(data, now=NOW)
    assert info.value.code == code


def test_maker_ca_must_be_one_certificate(maker: Issued) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_maker_ca(maker.pem + maker.pem, now=NOW)
    assert info.value.code == "maker_ca.malformed"


# -- bootstrap certificates -------------------------------------------------------------------


def _refused(leaf: bytes, chain: list[bytes], makers: list[bytes], code: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        verify_bootstrap_certificate(leaf, chain, makers, now=NOW)
    assert info.value.code == code


def test_leaf_issued_by_a_registered_maker_proves_provenance(maker: Issued) -> None:
    leaf = make_cert("sn0123C3A4B5D6E7F8", issuer=maker)  # no SAN, like real maker certs
    other_maker = make_cert("Other maker", ca=True)
    proof = verify_bootstrap_certificate(leaf.pem, [], [other_maker.pem, maker.pem], now=NOW)
    assert proof.maker_fingerprint == certificate_fingerprint(maker.pem)
    assert proof.subject == "CN=sn0123C3A4B5D6E7F8"
    assert proof.serial == serial_to_hex(leaf.cert.serial_number)
    spki = leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert proof.public_key_fingerprint == hashlib.sha256(spki).hexdigest()
    assert proof.fingerprint == certificate_fingerprint(leaf.pem)
    assert proof.not_after == leaf.cert.not_valid_after_utc


def test_leaf_without_eku_and_rsa_maker_are_accepted() -> None:
    root = make_cert("RSA maker", ca=True, key=rsa.generate_private_key(65537, 2048))
    leaf = make_cert("device", issuer=root, eku=None)
    assert verify_bootstrap_certificate(leaf.pem, [], [root.pem], now=NOW).subject == "CN=device"


def test_chain_through_an_intermediate_is_accepted(maker: Issued) -> None:
    intermediate = make_cert("Acme Signer CA 0042", issuer=maker, ca=True)
    leaf = make_cert("device", issuer=intermediate)
    proof = verify_bootstrap_certificate(leaf.pem, [intermediate.pem], [maker.pem], now=NOW)
    assert proof.maker_fingerprint == certificate_fingerprint(maker.pem)
    _refused(leaf.pem, [], [maker.pem], "cert.untrusted")  # the intermediate is needed


def test_leaf_from_an_unregistered_ca_is_refused(maker: Issued) -> None:
    stranger = make_cert("Stranger CA", ca=True)
    leaf = make_cert("device", issuer=stranger)
    _refused(leaf.pem, [], [maker.pem], "cert.untrusted")
    _refused(leaf.pem, [stranger.pem], [maker.pem], "cert.untrusted")  # offering it is no help


def test_no_registered_makers_trust_nothing(maker: Issued) -> None:
    leaf = make_cert("device", issuer=maker)
    _refused(leaf.pem, [], [], "cert.untrusted")
    _refused(leaf.pem, [], [b"garbage"], "cert.untrusted")


def test_expired_and_future_leaves_are_refused(maker: Issued) -> None:
    old = make_cert("old", issuer=maker, not_after=NOW - dt.timedelta(seconds=1))
    _refused(old.pem, [], [maker.pem], "cert.expired")
    future = make_cert("future", issuer=maker, not_before=NOW + dt.timedelta(hours=1))
    _refused(future.pem, [], [maker.pem], "cert.not_yet_valid")


def test_expired_intermediate_breaks_the_chain(maker: Issued) -> None:
    intermediate = make_cert(
        "stale signer", issuer=maker, ca=True, not_after=NOW - dt.timedelta(days=1)
    )
    leaf = make_cert("device", issuer=intermediate)
    _refused(leaf.pem, [intermediate.pem], [maker.pem], "cert.untrusted")


def test_leaf_signed_by_a_non_ca_is_refused(maker: Issued) -> None:
    device = make_cert("a device", issuer=maker)
    grandchild = make_cert("minted by a device", issuer=device)
    _refused(grandchild.pem, [device.pem], [maker.pem], "cert.untrusted")


def test_self_signed_leaf_is_refused(maker: Issued) -> None:
    selfie = make_cert("self-signed device")
    _refused(selfie.pem, [], [maker.pem], "cert.untrusted")
    # Even if it slipped into the registered list, a non-CA is never an anchor.
    _refused(selfie.pem, [], [maker.pem, selfie.pem], "cert.untrusted")


def test_maker_ca_presented_as_a_leaf_is_refused(maker: Issued) -> None:
    _refused(maker.pem, [], [maker.pem], "cert.untrusted")


def test_leaf_for_servers_only_is_refused(maker: Issued) -> None:
    leaf = make_cert("server", issuer=maker, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    _refused(leaf.pem, [], [maker.pem], "cert.untrusted")


def test_weak_leaf_key_is_refused(maker: Issued) -> None:
    leaf = make_cert("weak", issuer=maker, key=weak_rsa_key())
    _refused(leaf.pem, [], [maker.pem], "cert.key_type")


def test_bootstrap_inputs_are_bounded(maker: Issued) -> None:
    leaf = make_cert("device", issuer=maker)
    _refused(leaf.pem, [maker.pem] * (MAX_CHAIN_CERTS + 1), [maker.pem], "cert.too_large")
    _refused(b"A" * (16 * 1024 + 1), [], [maker.pem], "cert.too_large")
    _refused(b"garbage", [], [maker.pem], "cert.malformed")
    _refused(leaf.pem, [b"garbage"], [maker.pem], "cert.malformed")


def test_hub_issued_certificate_is_no_bootstrap_proof(hub_ca: Issued, maker: Issued) -> None:
    _, csr = new_device_key_and_csr(DEVICE)
    pem = issue(hub_ca, csr).public_bytes(serialization.Encoding.PEM)
    _refused(pem, [], [maker.pem], "cert.untrusted")
