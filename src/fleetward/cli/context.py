"""Per-invocation CLI state: where the settings come from, and the hub built from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import typer

from fleetward.app import Hub
from fleetward.config import Settings, load_settings

__all__ = ["CliState", "hub_of", "settings_of"]


@dataclass
class CliState:
    """Filled by the root callback."""

    config_path: Path | None
    environ: Mapping[str, str]
    _hub: Hub | None = field(default=None, repr=False)


def settings_of(ctx: typer.Context) -> Settings:
    """Validated settings (raises ConfigError naming the bad key)."""
    state: CliState = ctx.find_root().obj
    return load_settings(state.config_path, state.environ)


def hub_of(ctx: typer.Context) -> Hub:
    """A hub on the configured data directory, migrated, without listeners."""
    state: CliState = ctx.find_root().obj
    if state._hub is None:
        hub = Hub(settings_of(ctx))
        hub.prepare(bootstrap=False, mint_kek=False)
        state._hub = hub
        ctx.call_on_close(hub.close)
    return state._hub
