"""``fleetward serve`` and ``fleetward init``: first start, banner, listeners."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from fleetward.app import Hub, Prepared, run_forever
from fleetward.cli.context import CliState, settings_of
from fleetward.config import Settings
from fleetward.logs import configure_logging

__all__ = ["init_cmd", "serve_cmd"]

_console = Console(soft_wrap=True, highlight=False)


def _token_text(prepared: Prepared) -> str:
    if prepared.operator_token is None:
        return (
            "Operator key: already created on an earlier start (only its hash is kept).\n"
            "  Lost it? Mint another at this console: fleetward apikey create --operator"
        )
    return (
        "[bold yellow]Operator API key (shown once, only its hash is stored):[/]\n"
        f"  [bold]{prepared.operator_token}[/]\n"
        '  export FLEETWARD_TOKEN="<the key above>"'
    )


def _banner(settings: Settings, prepared: Prepared) -> str:
    api = settings.api
    scheme = "https" if api.tls else "http"
    base = f"{scheme}://{api.host}:{api.port}"
    ca = prepared.tls.ca_file if prepared.tls and prepared.tls.ca_file else None
    curl = f"curl --cacert {escape(str(ca))}" if ca else "curl"
    data = escape(str(settings.data_dir.resolve()))  # paths are data, never markup
    lines = [
        f"REST API      {base}/v1   (OpenAPI: {base}/openapi.json, docs: {base}/docs)",
        f"Health        {base}/healthz  {base}/readyz  {base}/metrics",
        f"Data          {data}  (database: {settings.database_url.split('://')[0]})",
    ]
    if ca:
        lines.append(f"Hub CA        {escape(str(ca))}  (pin this in clients)")
    lines += _mqtt_lines(settings, ca)
    lines += [
        "",
        _token_text(prepared),
        "",
        "First device, from this console:",
        "  fleetward tenant add acme",
        "  fleetward owner add --tenant <tenant-id> alice",
        "  fleetward device add --tenant <tenant-id> --owner <owner-id> --site lab thermostat-1",
        "  fleetward device enroll <device-id> --tenant <tenant-id>   # one-time code, shown once",
        "or watch a simulated fleet: fleetward simulate --devices 20 --sites 3",
        "or over REST:",
        f'  {curl} -H "Authorization: Bearer $FLEETWARD_TOKEN" \\',
        f"       -d '{{\"name\": \"acme\"}}' -H 'Content-Type: application/json' {base}/v1/tenants",
    ]
    return "\n".join(lines)


def _mqtt_lines(settings: Settings, ca: Path | None) -> list[str]:
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return ["MQTT          disabled"]
    lines = []
    for lst in mqtt.listeners:
        scheme = "mqtts" if lst.kind == "tls" else "mqtt"
        access = "anonymous (open policy)" if lst.allow_anonymous else "credentials required"
        label = escape(f"[{lst.name}: {access}]")
        lines.append(f"MQTT          {scheme}://{lst.host}:{lst.port}  {label}")
    tls = next((lst for lst in mqtt.listeners if lst.kind == "tls"), None)
    if tls is not None and ca is not None:
        lines.append(
            f"  e.g. mosquitto_sub -h {tls.host} -p {tls.port} --cafile {escape(str(ca))} "
            "-u <user> -P <password> -t 'devices/<user>/#' -v"
        )
    return lines


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (as the global option).")
]


def _use_config(ctx: typer.Context, config: Path | None) -> None:
    if config is not None:
        state: CliState = ctx.find_root().obj
        state.config_path = config


def serve_cmd(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Start the hub on the configured listeners."""
    _use_config(ctx, config)
    settings = settings_of(ctx)
    configure_logging(settings.log.level, settings.log.format)
    hub = Hub(settings)
    prepared = hub.prepare()
    _console.print(Rule("Fleetward hub"))
    _console.print(_banner(settings, prepared))
    _console.print(Rule())
    run_forever(hub, prepared.tls)


def init_cmd(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Prepare the data directory and mint the first operator key, without serving."""
    _use_config(ctx, config)
    settings = settings_of(ctx)
    hub = Hub(settings)
    try:
        prepared = hub.prepare()
    finally:
        hub.close()
    _console.print(f"Data directory ready: {escape(str(settings.data_dir.resolve()))}")
    _console.print(_token_text(prepared))
