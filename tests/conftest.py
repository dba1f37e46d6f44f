"""Fixtures shared by every tier: real databases and a live hub over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetward.registry import Store

from .support.blind import AllRecords, all_log_records
from .support.broker import LiveBroker as LiveBroker_
from .support.broker import live_broker
from .support.databases import fresh_pg_database
from .support.hub import LiveHub, hub_settings, live_hub


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated-ready database URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated registry store on each database."""
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A live hub on SQLite, serving HTTPS on a free port."""
    with live_hub(hub_settings(tmp_path / "data")) as h:
        yield h


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[LiveBroker_]:
    """A live embedded broker: anonymous plain TCP and user-authenticated TLS listeners."""
    with live_broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def all_logs() -> Iterator[AllRecords]:
    """Every log record of the test, at every level, from every logger."""
    with all_log_records() as handler:
        yield handler
