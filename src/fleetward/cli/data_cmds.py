"""``fleetward owner export|erase``: an owner's data bundle, and erasure by crypto-shredding."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from fleetward.cli.context import hub_of
from fleetward.cli.registry_cmds import Json, Tenant, Yes, owner_app
from fleetward.errors import ConfigError
from fleetward.registry import Scope

__all__ = ["owner_erase", "owner_export"]

Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the bundle here (0600), not to stdout.")
]


@owner_app.command("export")
def owner_export(ctx: typer.Context, owner_id: str, tenant: Tenant, out: Out = None) -> None:
    """Everything the hub holds about an owner, as one JSON bundle."""
    hub = hub_of(ctx)
    bundle = hub.data.owner_data(hub.access()).export(Scope(tenant), owner_id)
    text = json.dumps(bundle, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:  # the bundle is personal data: for the operator's user alone
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise ConfigError(f"--out: cannot create {out}: {e.strerror}") from e
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    typer.echo(f"wrote the export of owner {owner_id} to {out}")


@owner_app.command("erase")
def owner_erase(
    ctx: typer.Context, owner_id: str, tenant: Tenant, yes: Yes = False, as_json: Json = False
) -> None:
    """Destroy the owner's data key (crypto-shredding), then delete all their rows."""
    hub = hub_of(ctx)
    data = hub.data.owner_data(hub.access())
    hub.registry.get_owner(Scope(tenant), owner_id)  # a typo stops before the prompt
    if not yes and not typer.confirm(
        f"Erase owner {owner_id}? Their data can never be decrypted again."
    ):
        raise typer.Abort
    report = data.erase(Scope(tenant), owner_id, "cli")
    facts = {
        "owner_id": report.owner_id,
        "tenant_id": report.tenant_id,
        "key_shredded": report.key_shredded,
        "devices": report.devices,
        "telemetry": report.telemetry,
        "alerts": report.alerts,
    }
    if as_json:
        typer.echo(json.dumps(facts, sort_keys=True))
    else:
        typer.echo(
            f"erased owner {owner_id}: data key shredded={report.key_shredded}, "
            f"{report.devices} devices, {report.telemetry} telemetry records, "
            f"{report.alerts} alerts"
        )
