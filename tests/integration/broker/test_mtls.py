"""Optional and required client certificates (mTLS) on TLS listeners, with real paho clients.

Client certificates here are made with ``cryptography`` directly (the hub's own device
CA issuance is tested with the access layer); what is under test is the listener: the
handshake refuses a missing or foreign certificate where one is required, and the
certificate's facts reach the authenticator and the connect event.
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetward.events import ClientConnected

from ...support.broker import LiveBroker, live_broker

pytestmark = pytest.mark.timeout(60)

_MTLS = [
    {"name": "mtls", "kind": "tls", "client_certificates": "required"},
    {"name": "mtls-opt", "kind": "tls", "client_certificates": "optional"},
]


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path / "broker", extra_listeners=_MTLS) as b:
        yield b


def _issue_client_cert(
    ca_cert_pem: bytes, ca_key_pem: bytes, out: Path, name: str
) -> tuple[Path, Path, int]:
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = out / f"{name}.pem", out / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, serial


def _foreign_ca(out: Path) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the hub")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def _hub_ca(lb: LiveBroker) -> tuple[bytes, bytes]:
    return lb.ca_file.read_bytes(), lb.ca_file.with_name("hub-ca.key").read_bytes()


def _connect(lb: LiveBroker, listener: str, cert: tuple[Path, Path] | None, client_id: str) -> int:
    """CONNECT anonymously-by-password (alice) over ``listener``; the CONNACK code or -1."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    ctx = ssl.create_default_context(cafile=str(lb.ca_file))
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    c.tls_set_context(ctx)
    c.username_pw_set("alice", "alice-pw")
    try:
        c.connect("localhost", lb.ports[listener], keepalive=30)
    except (ssl.SSLError, OSError):
        return -1
    codes: list[int] = []
    c.on_connect = lambda *a: codes.append(a[3].value)
    deadline = time.monotonic() + 5
    while not codes and time.monotonic() < deadline:
        try:
            rc = c.loop(timeout=0.1)
        except (ssl.SSLError, OSError):
            return -1
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
            return -1
    c.disconnect()
    return codes[0] if codes else -1


def test_required_listener_accepts_a_hub_issued_certificate_and_reports_it(
    lb: LiveBroker, tmp_path: Path
) -> None:
    cert, key, serial = _issue_client_cert(*_hub_ca(lb), tmp_path, "device-1")
    assert _connect(lb, "mtls", (cert, key), "mtls-ok") == 0
    connected = [
        e for e in lb.events if isinstance(e, ClientConnected) and e.client_id == "mtls-ok"
    ]
    assert connected
    assert connected[0].listener == "mtls"
    assert connected[0].cert_serial is not None
    assert int(connected[0].cert_serial, 16) == serial


def test_required_listener_refuses_a_client_without_a_certificate(lb: LiveBroker) -> None:
    assert _connect(lb, "mtls", None, "mtls-none") == -1
    assert not any(isinstance(e, ClientConnected) for e in lb.events)


def test_required_listener_refuses_a_certificate_from_another_ca(
    lb: LiveBroker, tmp_path: Path
) -> None:
    cert, key, _ = _issue_client_cert(*_foreign_ca(tmp_path), tmp_path, "intruder")
    assert _connect(lb, "mtls", (cert, key), "mtls-foreign") == -1
    assert not any(isinstance(e, ClientConnected) for e in lb.events)


def test_optional_listener_takes_both_and_still_refuses_a_foreign_certificate(
    lb: LiveBroker, tmp_path: Path
) -> None:
    cert, key, _ = _issue_client_cert(*_hub_ca(lb), tmp_path, "device-2")
    assert _connect(lb, "mtls-opt", (cert, key), "opt-cert") == 0
    assert _connect(lb, "mtls-opt", None, "opt-none") == 0
    foreign, fkey, _ = _issue_client_cert(*_foreign_ca(tmp_path), tmp_path, "intruder")
    assert _connect(lb, "mtls-opt", (foreign, fkey), "opt-foreign") == -1
    by_id = {e.client_id: e for e in lb.events if isinstance(e, ClientConnected)}
    assert by_id["opt-cert"].cert_serial is not None
    assert by_id["opt-none"].cert_serial is None


def test_client_certificates_on_a_plain_listener_is_a_config_error(tmp_path: Path) -> None:
    from fleetward.errors import ConfigError

    with (
        pytest.raises(ConfigError, match="client_certificates"),
        live_broker(
            tmp_path / "b2",
            extra_listeners=[{"name": "bad", "kind": "tcp", "client_certificates": "required"}],
        ),
    ):
        pass
