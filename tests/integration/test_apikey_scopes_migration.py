"""Migration 0007 on real SQLite and PostgreSQL: old full-power keys gain the access and
audit permissions; narrower keys, keys minted by narrower keys and revoked keys do not."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import insert, select

from fleetward.registry import Store
from fleetward.registry.sql.tables import api_keys, owners, tenants

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "fleetward" / "registry" / "migrations"
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
OLD_OPERATOR = [
    "apikeys:read",
    "apikeys:write",
    "devices:read",
    "devices:write",
    "owners:read",
    "owners:write",
    "tenants:read",
    "tenants:write",
]
OLD_OWNER = [
    "apikeys:read",
    "apikeys:write",
    "devices:read",
    "devices:write",
    "owners:read",
    "tenants:read",
]
ADDED = {"access:read", "access:write", "audit:read"}


def at_0006(store: Store) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")


def _key(
    key_id: str,
    scopes: list[str],
    *,
    owner: bool = False,
    created_by: str | None = "local-console",
    revoked: bool = False,
) -> dict[str, object]:
    return {
        "id": key_id,
        "role": "owner" if owner else "operator",
        "tenant_id": "t1" if owner else None,
        "owner_id": "o1" if owner else None,
        "name": key_id,
        "scopes": scopes,
        "secret_hash": "x",
        "created_by": created_by,
        "created_at": NOW,
        "expires_at": NOW + dt.timedelta(days=90),
        "revoked_at": NOW if revoked else None,
    }


@pytest.fixture
def old_store(db_url: str) -> Store:
    store = Store(db_url)
    at_0006(store)
    narrow = [s for s in OLD_OPERATOR if s != "tenants:write"]
    with store.engine.begin() as conn:
        conn.execute(
            insert(tenants).values(
                id="t1", name="t", status="active", created_at=NOW, updated_at=NOW
            )
        )
        conn.execute(
            insert(owners).values(
                id="o1",
                tenant_id="t1",
                name="o",
                email=None,
                status="active",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        rows = [
            _key("bootstrap", OLD_OPERATOR),
            _key("minted_full", OLD_OPERATOR, created_by="bootstrap"),
            _key("readonly", ["devices:read", "tenants:read"]),
            _key("narrow_op", narrow),
            _key("owner_full", OLD_OWNER, owner=True, created_by="bootstrap"),
            _key("owner_of_narrow", OLD_OWNER, owner=True, created_by="narrow_op"),
            _key("owner_read", ["devices:read"], owner=True, created_by="bootstrap"),
            _key("orphan", OLD_OPERATOR, created_by="gone"),
            _key("revoked_full", OLD_OPERATOR, revoked=True),
            _key("child_of_revoked", OLD_OPERATOR, created_by="revoked_full"),
        ]
        conn.execute(insert(api_keys), rows)
    return store


def _scopes(store: Store) -> dict[str, set[str]]:
    with store.engine.connect() as conn:
        return {r.id: set(r.scopes) for r in conn.execute(select(api_keys.c.id, api_keys.c.scopes))}


def test_full_power_keys_gain_the_new_permissions_and_narrow_keys_do_not(
    old_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    before = _scopes(old_store)
    with caplog.at_level(logging.WARNING, logger="fleetward.registry.migrations"):
        old_store.migrate()
    after = _scopes(old_store)
    widened = {"bootstrap", "minted_full", "owner_full", "child_of_revoked"}
    for key_id, scopes in after.items():
        expected = before[key_id] | ADDED if key_id in widened else before[key_id]
        assert scopes == expected, key_id
    messages = [r.getMessage() for r in caplog.records if "widened" in r.getMessage()]
    assert len(messages) == 1
    assert "widened 4 " in messages[0]
    for key_id in widened:
        assert key_id in messages[0]
    assert "narrow_op" not in messages[0]
    old_store.close()


def test_upgrading_again_changes_nothing(old_store: Store) -> None:
    old_store.migrate()
    once = _scopes(old_store)
    old_store.migrate()
    assert _scopes(old_store) == once
    old_store.close()
