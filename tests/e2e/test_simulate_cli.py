"""``fleetward simulate`` as a newcomer runs it: a real ``serve`` process, then the fleet."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import FLEETWARD, Cli, _cli_at, _wait_for_banner, assert_one_error, free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Cli]:
    """``fleetward serve`` with an mTLS-optional MQTT listener on free ports."""
    cli = _cli_at(tmp_path, tmp_path / "data")
    listeners = [
        {"name": "tls", "kind": "tls", "port": free_port(), "client_certificates": "optional"}
    ]
    cli.env |= {
        "FLEETWARD_API__PORT": str(free_port()),
        "FLEETWARD_MQTT__LISTENERS": json.dumps(listeners),
        "COLUMNS": "160",
    }
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    assert FLEETWARD is not None
    with out.open("wb") as out_fh, err.open("wb") as err_fh:
        proc = subprocess.Popen(
            [FLEETWARD, "serve"],
            env=cli.env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out_fh,
            stderr=err_fh,
        )
    try:
        _wait_for_banner(proc, out, err)
        yield cli
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert "Traceback" not in err.read_text()


def test_simulate_enrols_and_runs_a_small_fleet(served: Cli) -> None:
    """Four devices on two sites enrol (the hub marks them active) and send telemetry."""
    args = ["simulate", "--devices", "4", "--sites", "2", "--duration", "3"]
    args += ["--interval", "0.3", "--outage-site", "site-2", "--outage-after", "1"]
    args += ["--outage-seconds", "1", "--dropout-chance", "0", "--seed", "7"]
    result = served.run(*args)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "4 devices on 2 sites" in out
    assert "(certificate connections)" in out
    assert "enrolling" in out
    rows = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")]) and len(cells) == 2
    }
    assert rows["enrolled"] == "4/4"
    assert rows["devices in the site outage"] == "2"
    assert int(rows["telemetry messages sent"]) >= 4
    assert int(rows["reconnects"]) >= 1  # the site's devices came back after the outage
    # the hub's own view: a sim tenant whose four devices are now active, on two sites
    (tenant,) = [t for t in served.json("tenant", "list") if t["name"].startswith("sim-")]
    devices = served.json("device", "list", "--tenant", tenant["id"])
    assert sorted(d["status"] for d in devices) == ["active"] * 4
    assert sorted(d["site"] for d in devices) == ["site-1", "site-1", "site-2", "site-2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "2", "--sites", "3"], "--sites must be between 1 and --devices"),
        (["--devices", "2000", "--sites", "1"], "--devices must be 1 to 1000"),
        (["--devices", "2", "--outage-site", "mars"], "no site named 'mars'"),
    ],
)
def test_bad_simulate_input_is_one_error_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Refused before anything is created; no hub needs to run for that."""
    cli = _cli_at(tmp_path, tmp_path / "data")
    line = assert_one_error(cli.run("simulate", *args))
    assert message in line


def test_simulate_without_a_hub_ca_says_what_to_do(tmp_path: Path) -> None:
    """A data directory the hub never started in: one line pointing to ``serve``."""
    cli = _cli_at(tmp_path, tmp_path / "data")
    line = assert_one_error(cli.run("simulate", "--devices", "1", "--sites", "1"))
    assert "start the hub once" in line
    assert not (tmp_path / "data" / "fleetward.db").exists()
