"""``fleetward fleet status``: the running hub's view of a tenant's fleet, once or live.

Presence lives in the running hub, so unlike the registry commands this one asks the
hub over its REST API: ``FLEETWARD_TOKEN`` holds the API key, the URL defaults to the
configured API listener and TLS is pinned to the hub CA in the data directory
(``--cafile`` for an operator-supplied certificate). ``--watch`` redraws every
``--interval`` seconds until interrupted.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleetward.cli.context import CliState, settings_of
from fleetward.crypto import client_context
from fleetward.errors import AuthenticationError, FleetwardError, UnavailableError

__all__ = ["fleet_app"]

fleet_app = typer.Typer(help="The fleet as the running hub sees it.", no_args_is_help=True)

_STATUSES = ("online", "silent", "offline", "never_seen")


def _client(ctx: typer.Context, url: str | None, cafile: Path | None) -> httpx.Client:
    state: CliState = ctx.find_root().obj
    token = state.environ.get("FLEETWARD_TOKEN")
    if not token:
        raise AuthenticationError("set FLEETWARD_TOKEN to an API key (fleetward apikey create)")
    settings = settings_of(ctx)
    scheme = "https" if settings.api.tls else "http"
    base = url or f"{scheme}://{settings.api.host}:{settings.api.port}"
    verify: Any = True
    if base.startswith("https://"):
        ca = cafile or settings.data_dir / "tls" / "hub-ca.pem"
        verify = client_context(ca) if ca.exists() else True
    return httpx.Client(
        base_url=base, verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _get(client: httpx.Client, path: str, **params: str) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as e:
        raise UnavailableError(f"cannot reach the hub: {type(e).__name__}") from e
    if response.status_code != 200:
        try:
            problem = response.json()
            detail, code = str(problem.get("detail", "")), str(problem.get("code", ""))
        except ValueError:
            detail, code = response.text[:200], "hub.error"
        raise FleetwardError(f"{response.status_code}: {detail}", code=code or "hub.error")
    return response.json()


def _snapshot(client: httpx.Client, tenant: str) -> dict[str, Any]:
    summary = _get(client, f"/v1/tenants/{tenant}/fleet/summary")
    alerts = _get(client, f"/v1/tenants/{tenant}/alerts", state="open", limit="50")
    return {"summary": summary, "open_alerts": alerts["items"]}


def _render(snapshot: dict[str, Any]) -> Group:
    summary = snapshot["summary"]
    table = Table(title=f"{summary['total']} devices")
    table.add_column("site")
    for status in _STATUSES:
        table.add_column(status, justify="right")
    for site, counts in summary["by_site"].items():
        table.add_row(Text(site or "-"), *[str(counts.get(s, 0)) for s in _STATUSES])
    table.add_row(Text("all", style="bold"), *[str(summary["by_status"][s]) for s in _STATUSES])
    alerts = Table(title=f"{len(snapshot['open_alerts'])} open alerts")
    columns = ("kind", "device_id", "site", "count", "first_seen")
    for column in columns:
        alerts.add_column(column)
    for a in snapshot["open_alerts"]:
        alerts.add_row(*[Text("-" if a.get(c) is None else str(a[c])) for c in columns])
    return Group(table, alerts)


@fleet_app.command("status")
def fleet_status(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The tenant to show.")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw until ^C.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, max=3600, help="Seconds between redraws.")
    ] = 2.0,
    url: Annotated[str | None, typer.Option("--url", help="The hub's API base URL.")] = None,
    cafile: Annotated[Path | None, typer.Option("--cafile", help="CA to pin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Devices by site and status, and the open alerts."""
    with _client(ctx, url, cafile) as client:
        if not watch:
            snapshot = _snapshot(client, tenant)
            if as_json:
                sys.stdout.write(json.dumps(snapshot, indent=2) + "\n")
            else:
                Console(soft_wrap=True).print(_render(snapshot))
            return
        if as_json:  # one JSON document per line, for piping into a monitor
            while True:
                sys.stdout.write(json.dumps(_snapshot(client, tenant)) + "\n")
                sys.stdout.flush()
                time.sleep(interval)
        with Live(_render(_snapshot(client, tenant)), auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(_render(_snapshot(client, tenant)), refresh=True)
