"""``fleetward owner export|erase`` as an operator runs them."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from .test_cli import Cli, _cli_at


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli_at(tmp_path, tmp_path / "data")


def test_export_then_erase(cli: Cli) -> None:
    cli.ok("init")
    tenant = cli.one("tenant", "add", "acme")["id"]
    alice = cli.one("owner", "add", "--tenant", tenant, "alice", "--email", "a@example.com")["id"]
    bob = cli.one("owner", "add", "--tenant", tenant, "bob")["id"]
    device = cli.one("device", "add", "--tenant", tenant, "--owner", alice, "thermo")["id"]
    other = cli.one("device", "add", "--tenant", tenant, "--owner", bob, "bobs")["id"]

    bundle = json.loads(cli.ok("owner", "export", alice, "--tenant", tenant))
    assert bundle["format"] == "fleetward-owner-export/1"
    assert bundle["owner"]["email"] == "a@example.com"
    assert [d["id"] for d in bundle["devices"]] == [device]
    assert other not in json.dumps(bundle)
    out = cli.home / "alice.json"
    cli.ok("owner", "export", alice, "--tenant", tenant, "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["owner"]["id"] == alice

    declined = cli.run("owner", "erase", alice, "--tenant", tenant, stdin="n\n")
    assert declined.returncode != 0  # it asks first; "no" keeps everything
    with sqlite3.connect(cli.data_dir / "fleetward.db") as db:
        kept = db.execute("SELECT count(*) FROM owners WHERE id = ?", (alice,)).fetchone()
    assert kept == (1,)
    report = json.loads(cli.ok("owner", "erase", alice, "--tenant", tenant, "--yes", "--json"))
    assert report["owner_id"] == alice
    assert report["devices"] == 1
    assert f"no owner {alice}" in cli.fails("owner", "show", alice, "--tenant", tenant)
    with sqlite3.connect(cli.data_dir / "fleetward.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit_entries")]
    assert "owner.erased" in actions
