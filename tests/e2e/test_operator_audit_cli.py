"""Console acts land in the audit log as ``cli.<group>.<command>`` by ``console``,
without the arguments that are not ids and without a minted key's token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import Cli, _cli_at


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli_at(tmp_path, tmp_path / "data")


def test_tenant_add_and_apikey_revoke_are_recorded_and_the_chain_verifies(cli: Cli) -> None:
    (tenant,) = cli.json("tenant", "add", "acme-private-name")
    (key,) = cli.json("apikey", "create", "--operator", "--name", "k")
    cli.ok("apikey", "revoke", key["id"])
    cli.json("tenant", "list")  # a read is not an act
    assert "no API key" in cli.fails("apikey", "revoke", "nosuchkey")

    log = cli.json("audit", "tail")
    added = [e for e in log if e["action"] == "cli.tenant.add"]
    assert [(e["actor"], e["target"], e["outcome"]) for e in added] == [
        ("console", tenant["id"], "ok")
    ]
    revoked = [e for e in log if e["action"] == "cli.apikey.revoke"]
    assert [(e["target"], e["outcome"]) for e in revoked] == [
        (key["id"], "ok"),
        ("nosuchkey", "refused"),
    ]
    assert [e["target"] for e in log if e["action"] == "cli.apikey.create"] == [key["id"]]
    assert not [e for e in log if e["action"] == "cli.tenant.list"]
    text = json.dumps(log)
    assert key["token"] not in text
    assert "acme-private-name" not in text
    cli.ok("audit", "verify")
