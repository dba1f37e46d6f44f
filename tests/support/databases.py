"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL comes from ``FLEETWARD_TEST_PG_URL``. Without it the PostgreSQL variants
skip, unless ``FLEETWARD_REQUIRE_SERVICES=1`` (set by CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def require_services() -> bool:
    """Whether a missing service must fail the run rather than skip."""
    return os.environ.get("FLEETWARD_REQUIRE_SERVICES") == "1"


def pg_base_url() -> str:
    """The PostgreSQL server URL, or skip/fail as the environment says."""
    url = os.environ.get("FLEETWARD_TEST_PG_URL")
    if url:
        return url
    message = "PostgreSQL not configured: set FLEETWARD_TEST_PG_URL"
    if require_services():
        pytest.fail(message + " (FLEETWARD_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """Create an empty database on the test server; drop it afterwards."""
    base = make_url(pg_base_url())
    name = f"fleetward_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - any failure means the service is unusable
        admin.dispose()
        if require_services():
            pytest.fail(f"PostgreSQL at {base.render_as_string()} unusable: {e}")
        pytest.skip(f"PostgreSQL unusable: {e}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
