"""``fleetward fleet status`` as an operator runs it, against a live hub over HTTPS."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fleetward.events import ClientConnected

from ..support.api import make_owner
from ..support.hub import LiveHub

FLEETWARD = shutil.which("fleetward", path=str(Path(sys.executable).parent))
_SCRUBBED = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"}


def _run(hub: LiveHub, *args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    assert FLEETWARD is not None
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and k != "FLEETWARD_TOKEN"}
    env |= {
        "FLEETWARD_DATA_DIR": str(hub.hub.settings.data_dir),
        "FLEETWARD_API__PORT": str(hub.hub.settings.api.port),
        "COLUMNS": "160",
    }
    if token:
        env["FLEETWARD_TOKEN"] = token
    result = subprocess.run(
        [FLEETWARD, "fleet", "status", *args],
        env=env,
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
