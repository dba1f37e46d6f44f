"""A restarted device still refuses sealed commands it accepted before (issue 6): the hub
relays every sealed command, so after a power cycle it could republish an old "unlock".
Real hub, broker, TLS and SDK; the old envelopes are republished raw, as the hub could."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from fleetward.device import DeviceClient, SealedChannel, enroll
from fleetward.e2e import (
    E2EKeyPair,
    KeyOwner,
    OpenedEnvelope,
    OwnerKind,
    ReplayStateError,
    Sealer,
    StreamPolicy,
    seq_seed,
)
from fleetward.e2e.replay_file import decode_bounds

from ...support.broker import LiveBroker
from ...support.e2e import TrustedSenders
from ._hub import Ports, creds, device_hub, endpoint, ops_client, provision

pytestmark = pytest.mark.timeout(120)


async def _session(
    lb: LiveBroker,
    tmp_path: Path,
    device_id: str,
    device_key: E2EKeyPair,
    keys: TrustedSenders,
    publish: list[bytes],
    *,
    expect: int,
    close: bool,
) -> list[OpenedEnvelope]:
    """One life of the device: connect, receive what the hub relays, stop; ``close`` is a
    clean stop, without it the channel's state is dropped as in a crash."""
    got: asyncio.Queue[OpenedEnvelope] = asyncio.Queue()
    async with DeviceClient(endpoint(lb), creds(tmp_path, device_id)) as client:
        channel = SealedChannel(client, device_key, keys)
        channel.on_sealed_message("#", lambda _n, opened: got.put_nowait(opened))
        async with asyncio.timeout(10):
            await client.wait_connected()
        async with ops_client(lb, ident=f"app-{os.urandom(3).hex()}") as app:
            for payload in publish:  # one publisher, QoS 1: relayed in this order
                await app.publish(f"devices/{device_id}/commands/door", payload, qos=1)
        async with asyncio.timeout(10):
            opened = [await got.get() for _ in range(expect)]
        await asyncio.sleep(0.3)  # nothing else arrives
        assert got.empty()
        if close:
            channel.close()
    return opened


def test_a_restarted_device_refuses_old_sealed_commands(tmp_path: Path) -> None:
    with device_hub(tmp_path / "hub", Ports.fresh()) as lb:
        device_id, code = provision(lb)
        store = creds(tmp_path, device_id)
        asyncio.run(enroll(endpoint(lb), device_id, store, code=code))
        assert stat.S_IMODE(store.replay_file.stat().st_mode) == 0o600  # made at enrolment
        device_key = E2EKeyPair.generate(KeyOwner("t", OwnerKind.DEVICE, device_id))
        app_key = E2EKeyPair.generate(KeyOwner("t", OwnerKind.APP, "app-1"))
        keys = TrustedSenders(device_key.record, app_key.record)
        now = lb.hub.clock.now()
        # every message keyed: each old one would open cryptographically on a fresh start
        sealer = Sealer(app_key, first_seq=seq_seed(now), policy=StreamPolicy(keyed_every=1))
        topic = f"devices/{device_id}/commands/door"

        def seal(payload: bytes) -> bytes:
            return sealer.seal(payload, topic=topic, recipients=[device_key.record], now=now)

        def run(publish: list[bytes], expect: int, *, close: bool) -> list[bytes]:
            opened = asyncio.run(
                _session(
                    lb, tmp_path, device_id, device_key, keys, publish, expect=expect, close=close
                )
            )
            return [o.payload for o in opened]

        unlock, lock = seal(b"unlock"), seal(b"lock")
        assert run([unlock, lock], 2, close=False) == [b"unlock", b"lock"]
        # crashed (no close): the hub replays both; the app's next command still opens
        status = seal(b"status")
        assert run([unlock, lock, status], 1, close=True) == [b"status"]
        last_seq = sealer.next_seq - 1
        assert decode_bounds(store.replay_file.read_bytes()).senders == {app_key.key_id: last_seq}
        # closed cleanly: still refused, nothing new lost
        assert run([status, lock, unlock, seal(b"final")], 1, close=False) == [b"final"]

        store.replay_file.unlink()  # lost state: refuse to start, never accept old again

        async def without_state() -> None:
            async with DeviceClient(endpoint(lb), store) as client:
                with pytest.raises(ReplayStateError, match="missing"):
                    SealedChannel(client, device_key, keys)

        asyncio.run(without_state())
