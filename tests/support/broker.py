"""A live embedded broker for tests: its own event-loop thread, real listeners.

Listeners: ``plain`` (TCP, anonymous, loopback) and ``tls`` (TLS, user name and
password). Users: ``alice``/``alice-pw`` may publish and subscribe under
``devices/alice/#``; ``bob``/``bob-pw`` under ``devices/bob/#`` and may read ``shared/#``;
``carol``/``carol-pw`` may only read ``$fleet/broker/#``; ``olivia``/``olivia-pw``
only ``$fleet/presence/#`` and ``$fleet/alerts/#``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fleetward.app import Hub
from fleetward.broker import Broker
from fleetward.config import load_settings
from fleetward.crypto import SecretHasher, client_context
from fleetward.events import EventBus, HubEvent

from .hub import CHEAP_ARGON2
from .net import free_port

T = TypeVar("T")

_hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
USERS = {
    "alice": ("alice-pw", ["devices/{username}/#"], ["devices/{username}/#"]),
    "bob": ("bob-pw", ["devices/{username}/#", "shared/#"], ["devices/{username}/#", "shared/#"]),
    # an operator's monitoring client: may read the broker statistics, write nothing
    "carol": ("carol-pw", [], ["$fleet/broker/#"]),
    # an owner's dashboard: may read presence and alerts, write nothing
    "olivia": ("olivia-pw", [], ["$fleet/presence/#", "$fleet/alerts/#"]),
}


def _new_loop() -> asyncio.AbstractEventLoop:
    """The loop the broker runs on: uvloop when FLEETWARD_TEST_LOOP=uvloop (for profiling)."""
    if os.environ.get("FLEETWARD_TEST_LOOP") == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@dataclass
class LiveBroker:
    """A running broker and how to reach it."""

    hub: Hub
    broker: Broker
    loop: asyncio.AbstractEventLoop
    plain_port: int
    tls_port: int
    ca_file: Path
    events: list[HubEvent]
    ports: dict[str, int]

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the broker's loop thread and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def tls_context(self) -> Any:
        """An SSL context pinned to the hub CA."""
        return client_context(self.ca_file)


def broker_settings(
    data_dir: Path, extra_listeners: Sequence[dict[str, Any]] = (), **extra_env: str
) -> Any:
    """Settings with a plain anonymous listener and a TLS listener with two users."""
    plain, tls = free_port(), free_port()
    users = [
        {"name": n, "password_hash": _hasher.hash(pw), "publish": pub, "subscribe": sub}
        for n, (pw, pub, sub) in USERS.items()
    ]
    listeners = [
        {"name": "plain", "kind": "tcp", "port": plain, "allow_anonymous": True},
        {"name": "tls", "kind": "tls", "port": tls},
        *({"port": free_port(), **extra} for extra in extra_listeners),
    ]
    env = {
        "FLEETWARD_DATA_DIR": str(data_dir),
        "FLEETWARD_API__PORT": str(free_port()),
        "FLEETWARD_MQTT__LISTENERS": json.dumps(listeners),
        "FLEETWARD_MQTT__USERS": json.dumps(users),
        **CHEAP_ARGON2,
        **extra_env,
    }
    return load_settings(None, env)


@contextmanager
def live_broker(
    data_dir: Path, extra_listeners: Sequence[dict[str, Any]] = (), **extra_env: str
) -> Iterator[LiveBroker]:
    """Start a hub's broker on a background loop; stop it when the block ends.

    ``extra_listeners`` are listener settings (without ``port``) added to the two
    standard ones; :attr:`LiveBroker.ports` maps every listener name to its port.
    """
    settings = broker_settings(data_dir, extra_listeners, **extra_env)
    hub = Hub(settings)
    prepared = hub.prepare(bootstrap=False)
    tls = hub.tls_material()
    assert tls.ca_file is not None
    loop = _new_loop()
    thread = threading.Thread(target=loop.run_forever, name="broker-under-test", daemon=True)
    thread.start()
    events: list[HubEvent] = []
    bus: EventBus = hub.events
    for kind in HubEvent.__args__:  # type: ignore[attr-defined]
        bus.subscribe(kind, events.append)
    try:
        broker = asyncio.run_coroutine_threadsafe(
            hub.start_broker(prepared.tls or tls), loop
        ).result(10)
        assert broker is not None
        ports = {lst.name: lst.port for lst in settings.mqtt.listeners}
        yield LiveBroker(
            hub, broker, loop, ports["plain"], ports["tls"], tls.ca_file, events, ports
        )
    finally:
        asyncio.run_coroutine_threadsafe(hub.stop_broker(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        hub.close()
