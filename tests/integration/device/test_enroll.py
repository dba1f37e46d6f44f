"""Enrolment through the SDK against a real hub: code → certificate, reuse refused."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fleetward.device import DeviceClient, Endpoint, EnrollmentRefusedError, enroll, fetch_token
from fleetward.events import ClientConnected

from ...support.broker import LiveBroker
from ...unit.crypto._certs import make_cert
from ._hub import Ports, creds, device_hub, endpoint, next_message, ops_client, provision

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lb(tmp_path: Path) -> LiveBroker:
    with device_hub(tmp_path / "hub", Ports.fresh()) as b:
        yield b  # type: ignore[misc]


def _connected_as(lb: LiveBroker, device_id: str) -> list[ClientConnected]:
    return [
        e for e in list(lb.events) if isinstance(e, ClientConnected) and e.identity == device_id
    ]


def test_enrol_with_a_code_then_connect_with_the_certificate(
    lb: LiveBroker, tmp_path: Path
) -> None:
    """The code buys a certificate (files 0600 in a 0700 directory); mTLS then works."""
    device_id, code = provision(lb)
    store = creds(tmp_path, device_id)

    async def scenario() -> None:
        token = await enroll(endpoint(lb), device_id, store, code=code)
        assert token.token.startswith("eyJ")
        async with (
            ops_client(lb, f"devices/{device_id}/telemetry/#") as ops,
            DeviceClient(endpoint(lb), store) as device,
        ):
            async with asyncio.timeout(10):
                await device.wait_connected()
            device.publish_telemetry("temp", b"21.5")
            async with asyncio.timeout(10):
                got = await next_message(ops)
        assert (got.topic.value, got.payload) == (f"devices/{device_id}/telemetry/temp", b"21.5")

    asyncio.run(scenario())
    for name in ("device.key", "device.crt", "ca.pem", "token.json", "device.json"):
        assert stat.S_IMODE((store.root / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in store.key_file.read_bytes()
    # the connection was the certificate's (a serial), not a password's
    assert any(e.cert_serial for e in _connected_as(lb, device_id))


def test_a_used_code_is_refused(lb: LiveBroker, tmp_path: Path) -> None:
    """Once spent, the same code cannot enrol again; the first credentials stay intact."""
    device_id, code = provision(lb)
    first = creds(tmp_path, device_id)
    asyncio.run(enroll(endpoint(lb), device_id, first, code=code))
    cert = first.cert_file.read_bytes()
    second = creds(tmp_path / "again", device_id)
    with pytest.raises(EnrollmentRefusedError) as refused:
        asyncio.run(enroll(endpoint(lb), device_id, second, code=code))
    assert refused.value.code == "device.enroll_refused"
    assert not second.root.exists()
    assert first.cert_file.read_bytes() == cert


def test_a_wrong_code_is_refused(lb: LiveBroker, tmp_path: Path) -> None:
    """A guessed code is refused at CONNECT; the device stays pending (the real code works)."""
    device_id, code = provision(lb)
    store = creds(tmp_path, device_id)
    with pytest.raises(EnrollmentRefusedError):
        asyncio.run(enroll(endpoint(lb), device_id, store, code="not-the-code-123456"))
    asyncio.run(enroll(endpoint(lb), device_id, store, code=code))
    assert store.has_certificate()


def test_rotation_from_certificate_to_token(lb: LiveBroker, tmp_path: Path) -> None:
    """The certificate buys a fresh token; the device then connects with the token alone."""
    device_id, code = provision(lb)
    store = creds(tmp_path, device_id)

    async def scenario() -> tuple[str, str]:
        first = await enroll(endpoint(lb), device_id, store, code=code)
        fresh = await fetch_token(endpoint(lb), store, client_id=f"{device_id}.t")
        async with DeviceClient(endpoint(lb), store, auth="token") as device:
            async with asyncio.timeout(10):
                await device.wait_connected()
            assert device.token == fresh
        return first.token, fresh.token

    first, fresh = asyncio.run(scenario())
    assert first != fresh
    stored = store.token()
    assert stored is not None
    assert stored.token == fresh
    token_connects = [e for e in _connected_as(lb, device_id) if e.client_id == device_id]
    assert token_connects
    assert token_connects[-1].cert_serial is None  # no client certificate on that one


def test_enrol_with_a_maker_bootstrap_certificate_once(lb: LiveBroker, tmp_path: Path) -> None:
    """A maker's bootstrap certificate over mTLS enrols the device; it is never taken twice."""
    device_id, _code = provision(lb)
    access = lb.hub.access()
    state = access.hub.state.device(device_id)
    assert state is not None
    maker = make_cert("Acme Devices Root CA", ca=True)
    lb.call(
        lambda: access.rules.register_maker(state.row.tenant_id, "acme", maker.pem, "operator:test")
    )
    leaf = make_cert("SN-0001", issuer=maker)
    cert_file, key_file = tmp_path / "boot.crt", tmp_path / "boot.key"
    cert_file.write_bytes(leaf.pem)
    key_file.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    store = creds(tmp_path, device_id)
    asyncio.run(enroll(endpoint(lb), device_id, store, bootstrap=(cert_file, key_file)))
    assert store.has_certificate()
    assert store.cert_file.read_bytes() != leaf.pem  # the hub's own certificate, not the maker's
    with pytest.raises(EnrollmentRefusedError):
        asyncio.run(
            enroll(
                endpoint(lb),
                device_id,
                creds(tmp_path / "again", device_id),
                bootstrap=(cert_file, key_file),
            )
        )


def test_exactly_one_bootstrap_credential(tmp_path: Path) -> None:
    """A code and a certificate together (or neither) is a programming error, said at once."""
    store = creds(tmp_path, "d1")
    ep = Endpoint("127.0.0.1", 1, tmp_path / "none.pem")
    for kwargs in ({}, {"code": "x", "bootstrap": (tmp_path / "c", tmp_path / "k")}):
        with pytest.raises(EnrollmentRefusedError) as e:
            asyncio.run(enroll(ep, "d1", store, **kwargs))  # type: ignore[arg-type]
        assert e.value.code == "device.enroll_credential"
