"""The SDK's connection life against a real hub: commands, wills, restarts, queue, tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
from pathlib import Path

import aiomqtt
import pytest

from fleetward.device import BackoffPolicy, DeviceClient, enroll
from fleetward.events import ClientConnected

from ...support.broker import LiveBroker
from ._hub import (
    HOST,
    Ports,
    creds,
    device_hub,
    endpoint,
    next_message,
    ops_client,
    provision,
    until,
)

pytestmark = pytest.mark.timeout(90)

FAST = BackoffPolicy(base=0.05, cap=0.5)


def _enrolled(lb: LiveBroker, tmp_path: Path) -> tuple[str, Path]:
    device_id, code = provision(lb)
    asyncio.run(enroll(endpoint(lb), device_id, creds(tmp_path, device_id), code=code))
    return device_id, tmp_path


def _listening_inodes() -> set[str]:
    """Inodes of this process's sockets that are in the LISTEN state (TCP, v4 and v6)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in mine:
                    listening.add(cols[9])
    return listening


def test_commands_arrive_and_the_sdk_listens_on_no_port(tmp_path: Path) -> None:
    """A command from the owner's app reaches its handler; the SDK binds no listener."""
    with device_hub(tmp_path / "hub", Ports.fresh()) as lb:
        device_id, _ = _enrolled(lb, tmp_path)
        before = _listening_inodes()

        async def scenario() -> tuple[str, bytes, set[str]]:
            got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
            async with DeviceClient(endpoint(lb), creds(tmp_path, device_id)) as device:
                device.on_command("reboot", lambda n, p: got.put_nowait((n, p)))
                async with asyncio.timeout(10):
                    await device.wait_connected()
                during = _listening_inodes()
                async with ops_client(lb) as ops:
                    await ops.publish(f"devices/{device_id}/commands/reboot", b"now", qos=1)
                    async with asyncio.timeout(10):
                        name, payload = await got.get()
            return name, payload, during

        name, payload, during = asyncio.run(scenario())
    assert (name, payload) == ("reboot", b"now")
    assert during == before


def test_last_will_on_an_abrupt_drop_and_none_on_a_clean_close(tmp_path: Path) -> None:
    """Power cut: the hub publishes the will; a clean close discards it (MQTT-3.14.4-3)."""
    with device_hub(tmp_path / "hub", Ports.fresh()) as lb:
        device_id, _ = _enrolled(lb, tmp_path)
        topic = f"devices/{device_id}/state/reported"

        async def scenario() -> tuple[bytes, int]:
            store = creds(tmp_path, device_id)
            async with ops_client(lb, topic) as ops:
                async with DeviceClient(endpoint(lb), store, backoff=FAST) as device:
                    async with asyncio.timeout(10):
                        await device.wait_connected()
                    device.abort(offline_for=0.2)
                    async with asyncio.timeout(10):
                        will = await next_message(ops)
                    await until(lambda: device.connects >= 2, what="reconnect")
                    device.report_state({"fw": "1.2"})
                    async with asyncio.timeout(10):
                        state = await next_message(ops)
                    assert json.loads(state.payload) == {"fw": "1.2"}  # type: ignore[arg-type]
                # closed cleanly: the next thing ops sees is its own marker, no will
                await ops.publish(topic, b"marker", qos=1)
                async with asyncio.timeout(10):
                    after = await next_message(ops)
                assert after.payload == b"marker"
                return will.payload, device.connects  # type: ignore[return-value]

        will, connects = asyncio.run(scenario())
    assert json.loads(will) == {"online": False}
    assert connects == 2


def test_reconnect_after_a_hub_restart_flushes_the_offline_queue_in_order(
    tmp_path: Path,
) -> None:
    """Hub down: telemetry queues (bounded); new hub on the same data and port: sent in order.

    The owner's app holds a persistent session, so what the device flushes while the
    app is still reconnecting waits for it in the restarted hub.
    """
    ports, data = Ports.fresh(), tmp_path / "hub"
    telemetry = "devices/{}/telemetry/#"

    async def scenario() -> tuple[list[bytes], int, int]:
        hub = device_hub(data, ports)
        lb = hub.__enter__()
        device_id, code = provision(lb)
        store = creds(tmp_path, device_id)
        await enroll(endpoint(lb), device_id, store, code=code)
        topic = telemetry.format(device_id)
        async with ops_client(lb, topic, persistent=True):
            pass  # the app's session (and subscription) outlives its connection
        device = DeviceClient(endpoint(lb), store, backoff=FAST, queue_size=5)
        device.start()
        async with asyncio.timeout(10):
            await device.wait_connected()
        await asyncio.to_thread(hub.__exit__, None, None, None)  # the hub stops
        await until(lambda: not device.connected, what="the drop")
        for n in range(8):  # 8 into a queue of 5: the 3 oldest are dropped, and counted
            device.publish_telemetry("seq", str(n).encode())
        queued, dropped = len(device.queue), device.queue.dropped
        hub = device_hub(data, ports)
        lb = await asyncio.to_thread(hub.__enter__)
        try:
            async with asyncio.timeout(20):
                await device.drained()
            assert device.connects == 2
            got = []
            async with ops_client(lb, persistent=True) as ops, asyncio.timeout(10):
                while len(got) < 5:
                    got.append((await next_message(ops)).payload)
            await device.close()
        finally:
            await asyncio.to_thread(hub.__exit__, None, None, None)
        return got, queued, dropped  # type: ignore[return-value]

    got, queued, dropped = asyncio.run(scenario())
    assert (queued, dropped) == (5, 3)
    assert got == [b"3", b"4", b"5", b"6", b"7"]


def test_token_refresh_across_expiry(tmp_path: Path) -> None:
    """2-second tokens, no leeway: the SDK keeps a fresh one and reconnects with it.

    The first token is refused once expired (``token.expired``), yet after the hub
    cuts the device off, it is back at once with a newer token.
    """
    env = {
        "FLEETWARD_SECURITY__TOKEN_TTL_SECONDS": "2",
        "FLEETWARD_SECURITY__TOKEN_LEEWAY_SECONDS": "0",
        # a refresh every second is a connect every second: more than a real device
        # (10-minute tokens) would ever make, so the flapping ban is raised for this test
        "FLEETWARD_SECURITY__FLAP_THRESHOLD": "100",
    }
    with device_hub(tmp_path / "hub", Ports.fresh(), **env) as lb:
        device_id, _ = _enrolled(lb, tmp_path)
        store = creds(tmp_path, device_id)
        first = store.token()
        assert first is not None

        async def scenario() -> tuple[str, int, bool]:
            async with DeviceClient(
                endpoint(lb), store, auth="token", backoff=FAST, token_margin=60
            ) as device:
                async with asyncio.timeout(10):
                    await device.wait_connected()
                await until(  # refreshed at half-life, over a short mTLS connection
                    lambda: device.token is not None and device.token.expires_at > first.expires_at,
                    what="a refresh",
                )
                await asyncio.sleep(max(0.0, first.remaining(dt.datetime.now(dt.UTC)) + 0.3))
                accepted = await _accepted(lb, device_id, first.token)
                lb.call(lambda: lb.broker.kick(lambda s: s.client_id == device_id))
                await until(lambda: device.connects >= 2 and device.connected, what="reconnect")
                assert device.token is not None
                return device.token.token, device.connects, accepted

        latest, connects, accepted = asyncio.run(scenario())
        token_connects = [
            e
            for e in list(lb.events)
            if isinstance(e, ClientConnected) and e.client_id == device_id
        ]
    assert not accepted  # the expired first token no longer opens the door
    assert latest != first.token
    assert connects >= 2
    assert len(token_connects) >= 2
    assert all(e.cert_serial is None for e in token_connects)


async def _accepted(lb: LiveBroker, device_id: str, token: str) -> bool:
    """Whether the hub accepts a CONNECT with ``token`` as the password."""
    client = aiomqtt.Client(
        HOST,
        lb.ports["tls"],
        username=device_id,
        password=token,
        identifier=f"{device_id}.probe",
        tls_context=ssl.create_default_context(cafile=str(lb.ca_file)),
        timeout=10,
    )
    try:
        async with client:
            return True
    except aiomqtt.MqttCodeError:
        return False


def test_a_certificate_device_refreshes_its_token_on_its_own_connection(tmp_path: Path) -> None:
    """mTLS devices ask ``$fleet/token/{id}/req`` on the live connection; no reconnect."""
    env = {
        "FLEETWARD_SECURITY__TOKEN_TTL_SECONDS": "2",
        "FLEETWARD_SECURITY__TOKEN_LEEWAY_SECONDS": "0",
    }
    with device_hub(tmp_path / "hub", Ports.fresh(), **env) as lb:
        device_id, _ = _enrolled(lb, tmp_path)
        store = creds(tmp_path, device_id)
        first = store.token()
        assert first is not None

        async def scenario() -> tuple[int, int]:
            async with DeviceClient(endpoint(lb), store) as device:
                async with asyncio.timeout(10):
                    await device.wait_connected()
                seen = {first.token}
                await until(
                    lambda: (
                        device.token is not None
                        and seen.add(device.token.token) is None
                        and len(seen) >= 3
                    ),
                    what="two refreshes",
                )
                return device.connects, len(seen)

        connects, tokens = asyncio.run(scenario())
    stored = store.token()
    assert stored is not None
    assert stored.token != first.token
    assert stored.expires_at > first.expires_at
    assert (connects, tokens) == (1, 3)
