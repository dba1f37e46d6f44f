"""``fleetward apikey grant``: widening a key on purpose, as an operator does after an
upgrade left a narrower key without the access and audit permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_cli import Cli, _cli_at


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli_at(tmp_path, tmp_path / "data")


def test_grant_adds_scopes_and_is_audited(cli: Cli) -> None:
    (created,) = cli.json(
        "apikey", "create", "--operator", "--name", "ro", "--scope", "devices:read"
    )
    (key,) = cli.json(
        "apikey", "grant", created["id"], "--scope", "access:read", "--scope", "audit:read"
    )
    assert sorted(key["scopes"]) == ["access:read", "audit:read", "devices:read"]
    listed = {k["id"]: k for k in cli.json("apikey", "list")}
    assert sorted(listed[created["id"]]["scopes"]) == sorted(key["scopes"])

    entries = [e for e in cli.json("audit", "tail") if e["action"] == "apikey.granted"]
    assert len(entries) == 1
    assert entries[0]["actor"] == "console"
    assert entries[0]["target"] == created["id"]
    assert entries[0]["details"]["added"] == "access:read,audit:read"


def test_grant_refuses_unknown_permissions_and_revoked_keys(cli: Cli) -> None:
    (created,) = cli.json(
        "apikey", "create", "--operator", "--name", "k", "--scope", "devices:read"
    )
    assert "unknown permission admin" in cli.fails(
        "apikey", "grant", created["id"], "--scope", "admin"
    )
    cli.ok("apikey", "revoke", created["id"])
    assert "no API key" in cli.fails("apikey", "grant", created["id"], "--scope", "audit:read")
    assert "--scope" in cli.fails("apikey", "grant", created["id"])
