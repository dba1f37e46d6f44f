"""``fleetward``: run the hub and manage it from its own console.

Management commands work directly on the hub's data directory as the operator (the
person who can read that directory already holds every secret in it), so they work
whether or not the hub is running. Bad input prints one line naming what was wrong
and exits with status 2; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from fleetward.cli import access_cmds, data_cmds, registry_cmds
from fleetward.cli.audit_cmds import audit_app
from fleetward.cli.audit_trail import audit_commands
from fleetward.cli.context import CliState
from fleetward.cli.fleet_cmds import fleet_app
from fleetward.cli.mqtt_cmds import mqtt_app
from fleetward.cli.output import error_line
from fleetward.cli.serve import init_cmd, serve_cmd
from fleetward.cli.simulate_cmds import simulate_cmd
from fleetward.errors import FleetwardError

__all__ = ["app", "main"]

_ = data_cmds  # registers ``owner export`` and ``owner erase``
for _group, _name in (
    (registry_cmds.tenant_app, "tenant"),
    (registry_cmds.owner_app, "owner"),
    (registry_cmds.device_app, "device"),
    (registry_cmds.apikey_app, "apikey"),
):
    audit_commands(_group, _name)  # every state-changing registry command is recorded

app = typer.Typer(
    name="fleetward",
    help="Fleetward, the security-first IoT hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", envvar="FLEETWARD_CONFIG", help="TOML settings file."),
    ] = None,
) -> None:
    ctx.obj = CliState(config_path=config, environ=dict(os.environ))


app.command("serve", help="Start the hub (prepares the data directory on first start).")(serve_cmd)
app.command("init", help="Prepare the data directory and mint the first operator key.")(init_cmd)
app.add_typer(registry_cmds.tenant_app, name="tenant")
app.add_typer(registry_cmds.owner_app, name="owner")
app.add_typer(registry_cmds.device_app, name="device")
app.add_typer(registry_cmds.apikey_app, name="apikey")
app.add_typer(mqtt_app, name="mqtt")
app.add_typer(audit_app, name="audit")
app.add_typer(fleet_app, name="fleet")
app.command("simulate", help="Run simulated devices through the SDK against the hub.")(simulate_cmd)
app.add_typer(access_cmds.grant_app, name="grant")
app.add_typer(access_cmds.token_app, name="token")
app.add_typer(access_cmds.deny_app, name="deny")
app.add_typer(access_cmds.allow_app, name="allow")
app.add_typer(access_cmds.maker_app, name="maker")
app.add_typer(access_cmds.gateway_app, name="gateway")


def main() -> None:
    """Console entry point: map every error to one line and exit code 2."""
    # Typer bundles its own copy of click (``typer._click``): its usage errors, Abort and
    # Exit are not ``click``'s classes, so they are caught through typer's public names.
    try:
        code = app(standalone_mode=False)
    except FleetwardError as e:
        error_line(e.detail)
        sys.exit(2)
    except typer.Abort:
        error_line("aborted")
        sys.exit(130)
    except typer.TyperException as e:
        message = e.format_message()
        if message:  # a group called without arguments has printed its help already
            error_line(message)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:  # non-standalone typer returns Exit codes (^C: 130)
        sys.exit(code)
