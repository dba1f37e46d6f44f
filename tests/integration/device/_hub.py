"""A hub for SDK tests: fixed ports (so it can restart in place), an ``ops`` watcher user.

``ops``/``ops-pw`` stands for an owner's app: it may read and write every device's
tree, so tests can watch telemetry and wills and send commands with a real client.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from fleetward.crypto import SecretHasher
from fleetward.device import CredentialStore, Endpoint
from fleetward.registry import Scope

from ...support.broker import LiveBroker, live_broker
from ...support.net import free_port

HOST = "127.0.0.1"
OPS = ("ops", "ops-pw")
_hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
_OPS_HASH = _hasher.hash(OPS[1])


@dataclass(frozen=True)
class Ports:
    """The listener ports a hub keeps across restarts."""

    plain: int
    tls: int

    @classmethod
    def fresh(cls) -> Ports:
        return cls(free_port(), free_port())


@contextmanager
def device_hub(data_dir: Path, ports: Ports, **env: str) -> Iterator[LiveBroker]:
    """A live hub whose ``tls`` listener takes certificates (optional) and passwords."""
    listeners = [
        {"name": "plain", "kind": "tcp", "port": ports.plain, "allow_anonymous": True},
        {"name": "tls", "kind": "tls", "port": ports.tls, "client_certificates": "optional"},
    ]
    users = [
        {"name": OPS[0], "password_hash": _OPS_HASH, "publish": ["devices/#"]}
        | {"subscribe": ["devices/#"]}
    ]
    with live_broker(
        data_dir,
        FLEETWARD_MQTT__LISTENERS=json.dumps(listeners),
        FLEETWARD_MQTT__USERS=json.dumps(users),
        **env,
    ) as lb:
        yield lb


def endpoint(lb: LiveBroker) -> Endpoint:
    """The SDK's view of the hub: host, TLS port, the pinned hub CA."""
    return Endpoint(HOST, lb.ports["tls"], lb.ca_file)


def provision(lb: LiveBroker, name: str = "thermo") -> tuple[str, str]:
    """A pending device with a one-time enrollment code: ``(device_id, code)``."""
    hub = lb.hub
    tenant = hub.registry.create_tenant(f"t-{name}-{os.urandom(3).hex()}")
    scope = Scope(tenant.id)
    owner = hub.registry.create_owner(scope, "alice")
    device = hub.registry.create_device(scope, owner_id=owner.id, name=name, site="plant-1")
    devices = hub.access().devices
    lb.call(lambda: devices.resync(tenant.id, "operator:test", "device.created"))
    code = devices.create_enrollment_code(scope, device.id, "operator:test")
    return device.id, code.code


def creds(tmp_path: Path, device_id: str) -> CredentialStore:
    """A fresh credentials directory for ``device_id``."""
    return CredentialStore(tmp_path / "creds" / device_id)


@asynccontextmanager
async def ops_client(
    lb: LiveBroker, *topics: str, persistent: bool = False, ident: str = "ops-watch"
) -> AsyncIterator[aiomqtt.Client]:
    """The owner's app: a real MQTT client over TLS, subscribed to ``topics`` (QoS 1)."""
    client = aiomqtt.Client(
        HOST,
        lb.ports["tls"],
        username=OPS[0],
        password=OPS[1],
        identifier=ident,
        clean_session=not persistent,
        tls_context=lb.tls_context(),
        timeout=10,
    )
    async with client:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        yield client


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    """The next message ``client`` receives."""
    async for message in client.messages:
        return message
    raise AssertionError("the message stream ended")


__all__ = [
    "HOST",
    "OPS",
    "Ports",
    "creds",
    "device_hub",
    "endpoint",
    "next_message",
    "ops_client",
    "provision",
    "until",
]


async def until(predicate: Callable[[], object], within: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` (every 20 ms) until truthy; fail after ``within`` seconds."""
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")
