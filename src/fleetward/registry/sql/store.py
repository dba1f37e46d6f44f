"""Engine, migrations and units of work for the registry database.

SQLite is the embedded default (WAL, foreign keys on, busy timeout so the CLI and the
running hub can share the file); PostgreSQL works from a URL. Foreign errors from the
driver become :class:`StorageError`/`ConflictError` at this boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from fleetward.errors import StorageError
from fleetward.registry.sql.repos import (
    SqlApiKeys,
    SqlCredentials,
    SqlDevices,
    SqlOwners,
    SqlTenants,
)
from fleetward.registry.sql.tx import transaction

__all__ = ["Store", "Unit"]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True, slots=True)
class Unit:
    """The repositories of one transaction."""

    tenants: SqlTenants
    owners: SqlOwners
    devices: SqlDevices
    credentials: SqlCredentials
    api_keys: SqlApiKeys


class Store:
    """Owns the engine; hands out transactions as :class:`Unit` objects."""

    __slots__ = ("engine", "url")

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StorageError(
                f"cannot use database URL: {type(e).__name__}", code="storage.bad_url"
            ) from e
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as e:
            raise StorageError(f"cannot migrate database: {e.orig}", code="storage.migrate") from e

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise StorageError("database does not answer", code="storage.unreachable") from e

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        """One transaction: committed when the block ends, rolled back on error."""
        with transaction(self.engine) as conn:
            yield _unit(conn)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


def _unit(conn: Connection) -> Unit:
    return Unit(
        tenants=SqlTenants(conn),
        owners=SqlOwners(conn),
        devices=SqlDevices(conn),
        credentials=SqlCredentials(conn),
        api_keys=SqlApiKeys(conn),
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
