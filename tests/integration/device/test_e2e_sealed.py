"""The SDK's sealed channel against a real hub: sealed telemetry (stream suite) reaches the
owner's app, which opens it; a sealed command from the app reaches the device's handler,
and a tampered or replayed one never does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetward.device import DeviceClient, SealedChannel, enroll
from fleetward.e2e import (
    E2EKeyPair,
    KeyOwner,
    OpenedEnvelope,
    Opener,
    OwnerKind,
    Sealer,
    StreamPolicy,
)
from fleetward.e2e.stream import KIND_COMPACT, KIND_KEYED
from fleetward.errors import InvalidInputError

from ...support.e2e import TrustedSenders
from ._hub import Ports, creds, device_hub, endpoint, next_message, ops_client, provision

pytestmark = pytest.mark.timeout(90)


def test_sealed_telemetry_and_commands_through_the_hub(tmp_path: Path) -> None:
    with device_hub(tmp_path / "hub", Ports.fresh()) as lb:
        device_id, code = provision(lb)
        asyncio.run(enroll(endpoint(lb), device_id, creds(tmp_path, device_id), code=code))
        device_key = E2EKeyPair.generate(KeyOwner("t", OwnerKind.DEVICE, device_id))
        app_key = E2EKeyPair.generate(KeyOwner("t", OwnerKind.APP, "app-1"))
        keys = TrustedSenders(device_key.record, app_key.record)
        now = lb.hub.clock.now()

        async def scenario() -> tuple[list[bytes], list[bytes], list[OpenedEnvelope]]:
            commands: asyncio.Queue[OpenedEnvelope] = asyncio.Queue()
            async with DeviceClient(endpoint(lb), creds(tmp_path, device_id)) as client:
                channel = SealedChannel(client, device_key, keys, first_seq=10)
                channel.on_sealed_message("#", lambda _n, opened: commands.put_nowait(opened))
                async with asyncio.timeout(10):
                    await client.wait_connected()
                with pytest.raises(InvalidInputError):
                    channel.publish_sealed("a/b", b"x", recipients=[app_key.record])
                assert channel.next_seq == 10  # refused before sealing: no keyed message lost
                async with ops_client(lb, f"devices/{device_id}/telemetry/#") as app:
                    for i in range(3):
                        channel.publish_sealed("energy", b"kWh %d" % i, recipients=[app_key.record])
                    wire, opened = [], []
                    opener = Opener([app_key], keys)
                    async with asyncio.timeout(10):
                        for _ in range(3):
                            m = await next_message(app)
                            assert isinstance(m.payload, bytes)
                            wire.append(m.payload)
                            opened.append(
                                opener.open(m.payload, topic=m.topic.value, now=now).payload
                            )
                    sealer = Sealer(app_key, first_seq=1, policy=StreamPolicy())
                    topic = f"devices/{device_id}/commands/valve"
                    good = sealer.seal(
                        b"open", topic=topic, recipients=[device_key.record], now=now
                    )
                    tampered = bytearray(
                        sealer.seal(b"shut", topic=topic, recipients=[device_key.record], now=now)
                    )
                    tampered[-1] ^= 1
                    for payload in (good, bytes(tampered), good):  # good twice: a replay
                        await app.publish(topic, payload, qos=1)
                    last = sealer.seal(
                        b"close", topic=topic, recipients=[device_key.record], now=now
                    )
                    await app.publish(topic, last, qos=1)
                    got = []
                    async with asyncio.timeout(10):
                        got.append(await commands.get())
                        got.append(await commands.get())
                    await asyncio.sleep(0.2)
                    assert commands.empty()
            return wire, opened, got

        wire, opened, got = asyncio.run(scenario())
    assert opened == [b"kWh 0", b"kWh 1", b"kWh 2"]
    assert [w[2] for w in wire] == [KIND_KEYED, KIND_COMPACT, KIND_COMPACT]
    assert all(b"kWh" not in w for w in wire)
    assert [(c.payload, c.sender) for c in got] == [
        (b"open", app_key.record),
        (b"close", app_key.record),
    ]
