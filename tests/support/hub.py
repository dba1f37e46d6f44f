"""A live hub for integration tests: real uvicorn, real TLS, real database."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from fleetward.app import Hub
from fleetward.clock import ManualClock
from fleetward.config import Settings, load_settings
from fleetward.crypto import client_context

from .net import free_port

CHEAP_ARGON2 = {
    "FLEETWARD_SECURITY__ARGON2_MEMORY_KIB": "8192",
    "FLEETWARD_SECURITY__ARGON2_TIME_COST": "1",
    "FLEETWARD_SECURITY__ARGON2_PARALLELISM": "1",
}


def hub_settings(data_dir: Path, *, db_url: str | None = None, **env: str) -> Settings:
    """Settings for a hub under test: its own data dir, a free port, cheap argon2."""
    environ = {
        "FLEETWARD_DATA_DIR": str(data_dir),
        "FLEETWARD_API__PORT": str(free_port()),
        **CHEAP_ARGON2,
        **env,
    }
    if db_url:
        environ["FLEETWARD_DATABASE__URL"] = db_url
    return load_settings(None, environ)


@dataclass
class LiveHub:
    """A running hub and what a client needs to talk to it."""

    hub: Hub
    base_url: str
    ca_file: Path
    operator_token: str
    clock: ManualClock

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTPS client pinned to the hub CA, optionally with a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.base_url,
            verify=client_context(self.ca_file),
            headers=headers,
            timeout=30,
            **kwargs,
        )

    def operator(self) -> httpx.Client:
        """A client holding the bootstrap operator key."""
        return self.client(self.operator_token)


@contextmanager
def live_hub(settings: Settings) -> Iterator[LiveHub]:
    """Prepare and serve a hub in a background thread until the block ends."""
    clock = ManualClock(dt.datetime.now(dt.UTC))
    hub = Hub(settings, clock=clock)
    prepared = hub.prepare()
    assert prepared.tls is not None
    assert prepared.tls.ca_file is not None
    assert prepared.operator_token is not None
    server: uvicorn.Server = hub.api_server(prepared.tls)
    thread = threading.Thread(target=server.run, name="hub-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("hub did not start")
        time.sleep(0.02)
    try:
        yield LiveHub(
            hub=hub,
            base_url=f"https://127.0.0.1:{settings.api.port}",
            ca_file=prepared.tls.ca_file,
            operator_token=prepared.operator_token,
            clock=clock,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hub.close()
