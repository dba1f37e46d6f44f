"""Maker CA registration and bootstrap certificates: provenance, never identity.

Maker bootstrap certificates are checked by path validation (RFC 5280 §6) against the
tenant's registered maker CAs only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from fleetward.crypto.devices import certificate_fingerprint, new_device_key_and_csr, serial_to_hex
from fleetward.crypto.makers import MAX_CHAIN_CERTS, load_maker_ca, verify_bootstrap_certificate
from fleetward.errors import AuthenticationError, InvalidInputError

from ._certs import DEVICE, NOW, Issued, issue, make_cert, weak_rsa_key

# -- maker CAs --------------------------------------------------------------------------------


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
