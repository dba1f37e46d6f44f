"""``fleetward fleet status`` as an operator runs it, against a live hub over HTTPS."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from fleetward.events import ClientConnected

from ..support.api import make_owner
from ..support.hub import LiveHub

FLEETWARD = shutil.which("fleetward", path=str(Path(sys.executable).parent))
_SCRUBBED = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"}


def _env(hub: LiveHub, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and k != "FLEETWARD_TOKEN"}
    env |= {
        "FLEETWARD_DATA_DIR": str(hub.hub.settings.data_dir),
        "FLEETWARD_API__PORT": str(hub.hub.settings.api.port),
        "COLUMNS": "160",
    }
    if token:
        env["FLEETWARD_TOKEN"] = token
    return env


def _run(hub: LiveHub, *args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    assert FLEETWARD is not None
    result = subprocess.run(
        [FLEETWARD, "fleet", "status", *args],
        env=_env(hub, token),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_fleet_status_json_and_table(hub: LiveHub) -> None:
    monitor = hub.hub.presence
    assert monitor is not None
    monitor.attach(hub.hub.events)
    with hub.operator() as op:
        world = make_owner(hub, op, "acme")
    asyncio.run(monitor.refresh())
    hub.hub.events.publish(
        ClientConnected(
            hub.clock.now(), "c1", world.device_id, None, "tls", 4, "p", None, None, True, 30
        )
    )
    result = _run(hub, "--tenant", world.tenant_id, "--json", token=world.token)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["summary"]["total"] == 1
    assert body["summary"]["by_site"]["s1"]["online"] == 1
    assert body["open_alerts"] == []

    table = _run(hub, "--tenant", world.tenant_id, token=world.token)
    assert table.returncode == 0, table.stderr
    assert "s1" in table.stdout
    assert "1 devices" in table.stdout
    assert "0 open alerts" in table.stdout


def test_fleet_status_errors_are_one_line(hub: LiveHub) -> None:
    no_token = _run(hub, "--tenant", "t", token=None)
    assert no_token.returncode == 2
    assert "FLEETWARD_TOKEN" in no_token.stderr
    bad = _run(hub, "--tenant", "nope", token=hub.operator_token)
    assert bad.returncode == 2
    assert "404" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_fleet_status_watch_streams_until_interrupted(hub: LiveHub) -> None:
    with hub.operator() as op:
        world = make_owner(hub, op, "acme")
    assert FLEETWARD is not None
    args = ["fleet", "status", "--tenant", world.tenant_id, "--watch", "--json"]
    proc = subprocess.Popen(
        [FLEETWARD, *args, "--interval", "0.2"],
        env=_env(hub, world.token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert all(json.loads(line)["summary"]["total"] == 1 for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "Traceback" not in err
