"""The ``fleetward`` console script, run as an operator would run it.

Every test drives the installed entry point in a subprocess against its own data
directory; nothing is imported from the hub. Bad input must end in exit status 2 and
exactly one ``error:`` line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

FLEETWARD = shutil.which("fleetward", path=str(Path(sys.executable).parent))
TOKEN_RE = re.compile(r"fwk_([a-z2-9]{12})_([A-Za-z0-9_-]{43})")
UNKNOWN_ID = "01a210cd-0000-7000-8000-000000000000"
CHEAP_ARGON2 = {
    "FLEETWARD_SECURITY__ARGON2_MEMORY_KIB": "8192",
    "FLEETWARD_SECURITY__ARGON2_TIME_COST": "1",
    "FLEETWARD_SECURITY__ARGON2_PARALLELISM": "1",
}
# Variables that would change what the CLI prints (colour, width) or which hub it uses.
_SCRUBBED = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cli:
    """The console script bound to one data directory."""

    home: Path
    data_dir: Path
    env: dict[str, str]

    def run(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        assert FLEETWARD is not None, f"no fleetward script next to {sys.executable}"
        return subprocess.run(
            [FLEETWARD, *args],
            env={**self.env, **(env or {})},
            cwd=self.home,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def one(self, *args: str) -> dict[str, Any]:
        (record,) = self.json(*args)
        assert isinstance(record, dict)
        return record

    def fails(self, *args: str, env: dict[str, str] | None = None) -> str:
        return assert_one_error(self.run(*args, env=env))


def assert_one_error(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The single ``error:`` line of a failed run."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _cli_at(home: Path, data_dir: Path) -> Cli:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FLEETWARD_") and k not in _SCRUBBED
    }
    env.update(CHEAP_ARGON2, FLEETWARD_DATA_DIR=str(data_dir))
    return Cli(home=home, data_dir=data_dir, env=env)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return _cli_at(tmp_path, tmp_path / "data")


def test_help_lists_every_command(cli: Cli) -> None:
    out = cli.ok("--help")
    assert "Usage" in out
    for command in ("serve", "init", "tenant", "owner", "device", "apikey", "--config"):
        assert command in out


def test_init_prints_the_operator_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    # Brackets in the path would be eaten as console markup if printed unescaped.
    cli = _cli_at(tmp_path, tmp_path / "hub[prod]")
    first = cli.run("init")
    assert first.returncode == 0, first.stderr
    assert f"Data directory ready: {cli.data_dir.resolve()}" in first.stdout
    tokens = TOKEN_RE.findall(first.stdout)
    assert len(tokens) == 1, first.stdout
    assert first.stdout.count("fwk_") == 1
    key_id, secret = tokens[0]
    assert "fwk_" not in first.stderr

    second = cli.run("init")
    assert second.returncode == 0, second.stderr
    assert "fwk_" not in second.stdout + second.stderr
    assert "already created" in second.stdout

    stored = b"".join(p.read_bytes() for p in cli.data_dir.glob("fleetward.db*"))
    assert key_id.encode() in stored  # the row is there, found by its public id ...
    assert b"$argon2id$" in stored  # ... with a hash of the secret ...
    assert secret.encode() not in stored  # ... and never the secret itself
    assert f"fwk_{key_id}_{secret}".encode() not in stored
    assert cli.data_dir.stat().st_mode & 0o777 == 0o700
    assert (cli.data_dir / "fleetward.db").stat().st_mode & 0o777 == 0o600


def test_tenant_owner_device_round_trip(cli: Cli) -> None:
    acme = cli.one("tenant", "add", "acme")
    other = cli.one("tenant", "add", "globex")
    assert (acme["name"], acme["status"]) == ("acme", "active")
    t = acme["id"]
    alice = cli.one("owner", "add", "alice", "--tenant", t)

    device = cli.one(
        "device", "add", "thermostat-1", "--tenant", t, "--owner", alice["id"],
        "--site", "lab-1", "--tag", "hvac", "--tag", "floor:2",
    )  # fmt: skip
    d = device["id"]
    assert device["tenant_id"] == t
    assert device["owner_id"] == alice["id"]
    assert (device["name"], device["kind"], device["status"]) == (
        "thermostat-1",
        "device",
        "pending",
    )
    assert (device["site"], device["tags"]) == ("lab-1", ["hvac", "floor:2"])
    shown = cli.one("device", "show", d, "--tenant", t)
    assert {k: shown[k] for k in device} == device

    # Another tenant's device does not exist for that tenant.
    assert cli.fails("device", "show", d, "--tenant", other["id"]) == f"error: no device {d}"

    assert cli.one("device", "suspend", d, "--tenant", t)["status"] == "suspended"
    assert cli.one("device", "resume", d, "--tenant", t)["status"] == "active"
    assert cli.ok("device", "delete", d, "--tenant", t, "--yes").strip() == f"deleted device {d}"
    assert cli.json("device", "list", "--tenant", t) == []


def test_suspended_owner_and_tenant_deletion(cli: Cli) -> None:
    tenant = cli.one("tenant", "add", "[i]acme")
    t = tenant["id"]
    assert "[i]acme" in cli.ok("tenant", "list")  # the table shows names, not markup
    bob = cli.one("owner", "add", "bob", "--tenant", t, "--email", "bob@example.com")
    assert (bob["name"], bob["email"], bob["status"]) == ("bob", "bob@example.com", "active")
    assert [o["id"] for o in cli.json("owner", "list", "--tenant", t)] == [bob["id"]]

    # A suspended owner gets no new devices.
    assert cli.one("owner", "suspend", bob["id"], "--tenant", t)["status"] == "suspended"
    refused = cli.fails("device", "add", "cam-1", "--tenant", t, "--owner", bob["id"])
    assert "suspended" in refused

    # Deleting asks first; declining keeps the tenant.
    declined = cli.run("tenant", "delete", t, stdin="n\n")
    assert assert_one_error(declined, status=130) == "error: aborted"
    assert cli.ok("tenant", "delete", t, "--yes").strip() == f"deleted tenant {t}"
    assert cli.json("tenant", "list") == []


def test_apikey_create_list_revoke(cli: Cli) -> None:
    (created,) = cli.json("apikey", "create", "--operator", "--name", "ci")
    match = TOKEN_RE.fullmatch(created["token"])
    assert match is not None
    assert match.group(1) == created["id"]

    listing = cli.ok("apikey", "list", "--json")
    assert match.group(2) not in listing  # the token is shown once, at creation
    keys = {k["id"]: k for k in json.loads(listing)}
    assert keys[created["id"]]["name"] == "ci"
    assert keys[created["id"]]["role"] == "operator"
    assert keys[created["id"]]["revoked_at"] is None

    assert cli.ok("apikey", "revoke", created["id"]).strip() == f"revoked API key {created['id']}"
    keys = {k["id"]: k for k in cli.json("apikey", "list")}
    assert keys[created["id"]]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(
            ["owner", "add", "alice", "--tenant", UNKNOWN_ID],
            {},
            [f"no tenant {UNKNOWN_ID}"],
            id="unknown-tenant",
        ),
        pytest.param(
            [
                "device",
                "add",
                "d",
                "--tenant",
                UNKNOWN_ID,
                "--owner",
                UNKNOWN_ID,
                "--site",
                "lab 1",
            ],
            {},
            ["site 'lab 1'"],
            id="bad-site-label",
        ),
        pytest.param(
            ["device", "add", "d", "--tenant", UNKNOWN_ID, "--owner", UNKNOWN_ID, "--site", "[/]"],
            {},
            ["site '[/]'"],  # shown literally, not parsed as console markup
            id="markup-in-site-label",
        ),
        pytest.param(
            ["apikey", "create", "--operator", "--tenant", UNKNOWN_ID, "--name", "k"],
            {},
            ["--operator", "--tenant"],
            id="operator-and-tenant",
        ),
        pytest.param(
            ["tenant", "list"],
            {"FLEETWARD_API__PORT": "abc"},
            ["api.port", "FLEETWARD_API__PORT"],
            id="bad-port-in-environment",
        ),
        pytest.param(
            ["owner", "add", "alice"],
            {},
            ["--tenant"],
            id="missing-option",
        ),
    ],
)
def test_bad_input_is_one_error_line(
    cli: Cli, args: Sequence[str], env: dict[str, str], expected: Sequence[str]
) -> None:
    line = cli.fails(*args, env=env)
    for fragment in expected:
        assert fragment in line


def test_a_bad_config_file_names_the_key_and_the_file(cli: Cli) -> None:
    config = cli.home / "fleetward.toml"
    config.write_text('[api]\nport = 9443\nprot = 9444\n\n[log]\nlevel = "info"\n')
    line = cli.fails("--config", str(config), "tenant", "list")
    assert line.startswith("error: api.prot: ")
    assert str(config) in line
    assert not cli.data_dir.exists()  # refused before touching anything

    config.write_bytes(b"\xff\xfe[api]\n")  # not UTF-8, named through FLEETWARD_CONFIG
    line = cli.fails("tenant", "list", env={"FLEETWARD_CONFIG": str(config)})
    assert line.startswith(f"error: {config}: not valid TOML")


def _wait_for_banner(proc: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        if TOKEN_RE.search(text) and text.count("────\n") >= 2:  # closing rule printed
            return text
        assert proc.poll() is None, f"serve exited {proc.returncode}: {err.read_text()}"
        time.sleep(0.05)
    pytest.fail(f"no banner within 30 s: {out.read_text()!r} {err.read_text()!r}")


def _get_until_up(client: httpx.Client, url: str) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return client.get(url)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_speaks_real_tls_and_stops_on_sigterm(cli: Cli) -> None:
    port = free_port()
    out, err = cli.home / "serve.out", cli.home / "serve.err"
    assert FLEETWARD is not None
    with out.open("wb") as out_fh, err.open("wb") as err_fh:
        proc = subprocess.Popen(
            [FLEETWARD, "serve"],
            env={**cli.env, "FLEETWARD_API__PORT": str(port)},
            cwd=cli.home,
            stdin=subprocess.DEVNULL,
            stdout=out_fh,
            stderr=err_fh,
        )
    try:
        banner = _wait_for_banner(proc, out, err)
        base = f"https://127.0.0.1:{port}"
        assert f"REST API      {base}/v1" in banner
        (token_match,) = TOKEN_RE.finditer(banner)
        token = token_match.group(0)
        ca_match = re.search(r"^Hub CA\s+(\S+)", banner, re.MULTILINE)
        assert ca_match is not None, banner
        ca_file = Path(ca_match.group(1))
        assert ca_file.is_file()
        assert ca_file.is_relative_to(cli.data_dir.resolve())

        pinned = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(base_url=base, verify=pinned, timeout=10, trust_env=False) as client:
            anonymous = _get_until_up(client, "/v1/me")
            assert anonymous.status_code == 401
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
            assert me.json()["role"] == "operator"
            assert me.json()["key_id"] == token_match.group(1)

            # A key minted and revoked at the console while the hub runs.
            (minted,) = cli.json("apikey", "create", "--operator", "--name", "live")
            bearer = {"Authorization": f"Bearer {minted['token']}"}
            assert client.get("/v1/me", headers=bearer).json()["key_id"] == minted["id"]
            cli.ok("apikey", "revoke", minted["id"])
            assert client.get("/v1/me", headers=bearer).status_code == 401

        # TLS is real: plain HTTP gets no answer, and the public trust store does not
        # vouch for the hub's own CA (no proxy or SSL_CERT_FILE from the environment).
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/v1/me", timeout=5, trust_env=False)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/v1/me", timeout=5, trust_env=False)

        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert code in (0, -signal.SIGTERM), err.read_text()
    log = err.read_text()
    assert "Shutting down" in log
    assert "Finished server process" in log
    assert "Traceback" not in log
    assert token not in log
    assert minted["token"] not in log
