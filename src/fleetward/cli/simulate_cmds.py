"""``fleetward simulate``: a fleet of SDK devices against the running hub.

Run on the hub's console (like the registry commands it works on the data directory):
it creates a tenant ``sim-…`` with an owner and ``--devices`` pending devices spread
over ``--sites`` sites, makes one-time enrollment codes, tells the running hub (through
the access change feed it follows), then enrols and runs every device through the
device SDK against the configured MQTT/TLS listener until ``--duration`` has passed.
The simulated devices' keys live in a temporary directory removed at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleetward.app import Hub
from fleetward.cli.context import hub_of, settings_of
from fleetward.config import Settings
from fleetward.device import Endpoint
from fleetward.device.simulator import MAX_DEVICES, FleetPlan, FleetReport, SimDevice, run_fleet
from fleetward.errors import ConfigError, InvalidInputError
from fleetward.registry import Scope

__all__ = ["simulate_cmd"]

_ACTOR = "operator:simulate"


def _endpoint(settings: Settings) -> tuple[Endpoint, Literal["certificate", "token"]]:
    """The first TLS listener (one taking client certificates preferred)."""
    tls = [lst for lst in settings.mqtt.listeners if lst.kind == "tls"]
    if not settings.mqtt.enabled or not tls:
        raise ConfigError("simulate needs the hub's MQTT broker with a tls listener")
    listener = next((lst for lst in tls if lst.client_certificates != "none"), tls[0])
    host = "127.0.0.1" if listener.host in ("0.0.0.0", "::", "") else listener.host  # noqa: S104
    ca = settings.data_dir / "tls" / "hub-ca.pem"
    if not ca.is_file():
        raise ConfigError(f"no hub CA at {ca}: start the hub once (fleetward serve)")
    auth: Literal["certificate", "token"] = (
        "certificate" if listener.client_certificates != "none" else "token"
    )
    return Endpoint(host, listener.port, ca), auth


def _layout(devices: int, sites: int) -> list[tuple[str, str]]:
    """``(name, site)`` of every simulated device, spread round-robin over the sites."""
    return [
        (f"site-{n % sites + 1}-dev-{n // sites + 1}", f"site-{n % sites + 1}")
        for n in range(devices)
    ]


def _provision(
    hub: Hub, layout: list[tuple[str, str]], advance: Callable[[], None]
) -> list[SimDevice]:
    """A tenant, an owner, pending devices and their one-time codes.

    Each code is argon2-hashed (slow on purpose), so ``advance`` ticks a progress bar.
    """
    reg = hub.registry
    tenant = reg.create_tenant(f"sim-{os.urandom(4).hex()}")
    scope = Scope(tenant.id)
    owner = reg.create_owner(scope, "simulator")
    made = [reg.create_device(scope, owner_id=owner.id, name=n, site=s) for n, s in layout]
    access = hub.access().devices
    access.resync(tenant.id, _ACTOR, "device.created")  # the running hub follows this
    codes = []
    for d in made:
        codes.append(access.create_enrollment_code(scope, d.id, _ACTOR).code)
        advance()
    return [SimDevice(d.id, d.name, d.site or "", c) for d, c in zip(made, codes, strict=True)]


def _summary(report: FleetReport, total: int) -> Table:
    table = Table(title="simulation", show_header=False)
    table.add_row("enrolled", f"{report.enrolled}/{total}")
    for name, code in sorted(report.enroll_failed.items()):
        table.add_row("enrolment failed", f"{name}: {code}")
    table.add_row("connected at the end", str(report.connected))
    table.add_row("telemetry messages sent", str(report.telemetry_sent))
    table.add_row("random drop-outs", str(report.dropouts))
    table.add_row("reconnects", str(report.reconnects))
    table.add_row("devices in the site outage", str(report.outage_devices))
    table.add_row("messages dropped by full queues", str(report.queue_dropped))
    return table


def simulate_cmd(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(help=f"Devices to simulate (1-{MAX_DEVICES}).")] = 10,
    sites: Annotated[int, typer.Option(help="Sites the devices are spread over.")] = 2,
    duration: Annotated[float, typer.Option(help="Seconds to run after enrolment.")] = 30.0,
    interval: Annotated[float, typer.Option(help="Seconds between telemetry messages.")] = 2.0,
    outage_site: Annotated[
        str | None, typer.Option(help="A site (site-1, site-2, …) that goes dark.")
    ] = None,
    outage_after: Annotated[float, typer.Option(help="Seconds before the outage.")] = 10.0,
    outage_seconds: Annotated[float, typer.Option(help="How long the outage lasts.")] = 10.0,
    dropout_chance: Annotated[
        float, typer.Option(help="Chance per telemetry tick of a sudden drop-out.")
    ] = 0.02,
    seed: Annotated[int | None, typer.Option(help="Random seed (repeatable runs).")] = None,
) -> None:
    """Enrol and run simulated devices through the device SDK against the running hub."""
    if not 1 <= sites <= devices:
        raise InvalidInputError("--sites must be between 1 and --devices", code="simulate.sites")
    if not 1 <= devices <= MAX_DEVICES:
        raise InvalidInputError(f"--devices must be 1 to {MAX_DEVICES}", code="simulate.devices")
    layout = _layout(devices, sites)
    plan = FleetPlan(
        tuple(SimDevice(n, n, s, "") for n, s in layout),
        duration=duration,
        interval=interval,
        dropout_chance=dropout_chance,
        outage_site=outage_site,
        outage_after=outage_after,
        outage_seconds=outage_seconds,
    )
    plan.check()  # refuse bad input before anything is created
    endpoint, auth = _endpoint(settings_of(ctx))
    console = Console()
    console.print(
        f"{devices} devices on {sites} sites → mqtts://{endpoint.host}:{endpoint.port} "
        f"({auth} connections), running {duration:g} s"
    )
    progress = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with tempfile.TemporaryDirectory(prefix="fleetward-sim-") as creds, progress:
        codes = progress.add_task("codes", total=devices)
        fleet = _provision(hub_of(ctx), layout, lambda: progress.advance(codes))
        plan = dataclasses.replace(plan, devices=tuple(fleet))
        enrolling = progress.add_task("enrolling", total=devices)
        report = asyncio.run(
            run_fleet(
                plan,
                endpoint,
                Path(creds),
                auth=auth,
                rand=random.Random(seed),  # noqa: S311 - simulated behaviour only
                on_enrolled=lambda _d, _ok: progress.advance(enrolling),
            )
        )
    console.print(_summary(report, devices))
    if report.enrolled == 0:
        raise typer.Exit(1)
