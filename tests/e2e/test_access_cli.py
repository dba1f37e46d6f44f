"""``fleetward device enroll|revoke|token``, ``grant``, ``token``, ``deny``, ``allow``,
``maker`` and ``gateway``, run as an operator runs them at the hub's console.

Each command runs the installed console script in a subprocess on its own data
directory. Secrets are printed once and never stored; every act lands in the audit log
(flushed when the command ends), and ``audit verify`` still finds the chain intact.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from ..unit.crypto._certs import make_cert
from .test_cli import Cli, _cli_at

CODE_RE = re.compile(r"enrollment code \(shown once\): (\S+)")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli_at(tmp_path, tmp_path / "data")


def _stored(cli: Cli) -> bytes:
    return b"".join(p.read_bytes() for p in cli.data_dir.glob("fleetward.db*"))


def test_enroll_token_and_revoke_a_device(cli: Cli) -> None:
    t = cli.one("tenant", "add", "acme")["id"]
    o = cli.one("owner", "add", "alice", "--tenant", t)["id"]
    d = cli.one("device", "add", "thermo", "--tenant", t, "--owner", o)["id"]

    out = cli.ok("device", "enroll", d, "--tenant", t, "--ttl", "3600")
    (code,) = CODE_RE.findall(out)
    assert len(code) >= 24
    assert out.count(code) == 1
    assert code.encode() not in _stored(cli)  # only its argon2 hash is kept
    weak = cli.fails("device", "enroll", d, "--tenant", t, "--code", "password123")
    assert "password123" not in weak
    (cred,) = cli.json("device", "credentials", d, "--tenant", t)
    assert (cred["kind"], cred["revoked_at"]) == ("enrollment_code", None)
    assert "secret_hash" not in cred

    assert "may not have a token" in cli.fails("device", "token", d, "--tenant", t)
    cli.ok("device", "resume", d, "--tenant", t)  # pending -> active, as an enrolment would
    (token,) = cli.json("device", "token", d, "--tenant", t, "--ttl", "120")
    assert (token["kind"], token["sub"], token["publish"]) == ("device", d, [f"devices/{d}/#"])
    assert "enrol" in cli.fails("device", "enroll", d, "--tenant", t)

    assert cli.ok("device", "revoke", d, "--tenant", t).strip() == f"revoked device {d}"
    assert cli.one("device", "show", d, "--tenant", t)["status"] == "revoked"
    other = cli.one("tenant", "add", "globex")["id"]
    assert cli.fails("device", "revoke", d, "--tenant", other) == f"error: no device {d}"

    entries = cli.json("audit", "tail", "-n", "100", "--tenant", t)
    by_console = {e["action"] for e in entries if e["actor"] == "console"}
    assert {
        "enrollment.code_created",
        "token.minted",
        "device.updated",
        "device.revoked",
    } <= by_console
    assert code not in str(entries)
    assert cli.run("audit", "verify").returncode == 0


def _world(cli: Cli, *, gateway: bool = False) -> tuple[str, str, str, str]:
    """A tenant, its owner and two devices (the second a gateway when asked)."""
    t = cli.one("tenant", "add", "acme")["id"]
    o = cli.one("owner", "add", "alice", "--tenant", t)["id"]
    d1 = cli.one("device", "add", "lamp", "--tenant", t, "--owner", o)["id"]
    extra = ("--gateway",) if gateway else ()
    d2 = cli.one("device", "add", "hub-1", "--tenant", t, "--owner", o, *extra)["id"]
    return t, o, d1, d2


def _console_acts(cli: Cli) -> set[str]:
    entries = cli.json("audit", "tail", "-n", "200")
    return {e["action"] for e in entries if e["actor"] == "console"}


def test_app_tokens_and_grants(cli: Cli) -> None:
    t, _, d1, d2 = _world(cli)
    # App tokens: only patterns confined to one device; printed once in the table view.
    minted = cli.ok(
        "token", "mint", "--tenant", t, "--sub", "dashboard",
        "--subscribe", f"devices/{d1}/telemetry/#", "--publish", f"devices/{d2}/commands/on",
    )  # fmt: skip
    assert minted.count("token (shown once): ") == 1
    (app,) = cli.json("token", "mint", "--tenant", t, "--sub", "dash", "-s", f"devices/{d1}/#")
    assert app["subscribe"] == [f"devices/{d1}/#"]
    assert "pattern" in cli.fails("token", "mint", "--tenant", t, "--sub", "x", "-s", "devices/+/#")
    assert "pattern" in cli.fails("token", "mint", "--tenant", t, "--sub", "x", "-s", "$fleet/#")
    revoked = cli.ok("token", "revoke", app["jti"], "--tenant", t).strip()
    assert revoked == f"revoked token {app['jti']}"
    again = cli.ok("token", "revoke", app["jti"], "--tenant", t).strip()
    assert again == f"token {app['jti']} was already revoked"

    (grant,) = cli.json("grant", "add", d1, "--tenant", t, "--subscribe", f"devices/{d2}/state/#")
    assert grant["subscribe"] == [f"devices/{d2}/state/#"]
    assert [g["id"] for g in cli.json("grant", "list", d1, "--tenant", t)] == [grant["id"]]
    cli.ok("grant", "revoke", grant["id"], "--tenant", t)
    (listed,) = cli.json("grant", "list", d1, "--tenant", t)
    assert listed["revoked_at"] is not None
    assert {"token.minted", "token.revoked", "grant.added", "grant.revoked"} <= _console_acts(cli)


def test_deny_and_allow_lists(cli: Cli) -> None:
    t = cli.one("tenant", "add", "acme")["id"]
    (deny,) = cli.json("deny", "add", "client", "sensor-7", "--reason", "stolen")
    assert (deny["tenant_id"], deny["mode"], deny["reason"]) == (None, "deny", "stolen")
    assert [e["id"] for e in cli.json("deny", "list")] == [deny["id"]]
    (allow,) = cli.json("allow", "add", "cidr", "10.0.0.0/8", "--tenant", t)
    assert [e["id"] for e in cli.json("allow", "list", "--tenant", t)] == [allow["id"]]
    assert "kind" in cli.fails("deny", "add", "planet", "mars")
    assert "not a network" in cli.fails("deny", "add", "cidr", "nope")
    assert "no list entry" in cli.fails("deny", "remove", allow["id"])  # wrong scope
    cli.ok("allow", "remove", allow["id"], "--tenant", t)
    cli.ok("deny", "remove", deny["id"])
    assert cli.json("deny", "list") == []
    assert {"list.deny_added", "list.allow_added", "list.entry_deleted"} <= _console_acts(cli)


def test_maker_cas_and_gateways(cli: Cli, tmp_path: Path) -> None:
    t, _, d1, gw = _world(cli, gateway=True)
    now = dt.datetime.now(dt.UTC)
    ca = make_cert(
        "Acme Maker Root",
        ca=True,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=365),
    )
    pem = tmp_path / "maker.pem"
    pem.write_bytes(ca.pem)
    (maker,) = cli.json("maker", "add", str(pem), "--tenant", t, "--name", "Acme")
    assert maker["subject"].endswith("Acme Maker Root")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    assert "PEM" in cli.fails("maker", "add", str(junk), "--tenant", t, "--name", "junk")
    cli.ok("maker", "revoke", maker["id"], "--tenant", t)
    (listed,) = cli.json("maker", "list", "--tenant", t)
    assert (listed["id"], listed["revoked_at"] is not None) == (maker["id"], True)

    cli.ok("gateway", "add-child", gw, d1, "--tenant", t)
    assert cli.json("gateway", "children", gw, "--tenant", t) == [{"child_id": d1}]
    assert "gateway" in cli.fails("gateway", "add-child", d1, gw, "--tenant", t)
    cli.ok("gateway", "remove-child", gw, d1, "--tenant", t)
    assert cli.json("gateway", "children", gw, "--tenant", t) == []
    acts = _console_acts(cli)
    assert {"maker.registered", "maker.revoked", "gateway.child_added"} <= acts
    assert "gateway.child_removed" in acts
    assert cli.run("audit", "verify").returncode == 0
