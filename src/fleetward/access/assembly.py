"""Assemble the access services from plain values (the composition root passes them in).

The token signing ring lives in ``data_dir/keys/tokens`` (created on first use); its
overlap covers a token's whole life, so rotating never strands a valid token.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleetward.access.devices import DeviceAccess
from fleetward.access.hub_access import AuditHook, HubAccess
from fleetward.access.issuer import TokenIssuer
from fleetward.access.live import AccessState, load_state
from fleetward.access.ratelimit import FlapDetector, TokenBucket
from fleetward.access.rules import AccessRules
from fleetward.access.runtime import AccessRuntime
from fleetward.access.static_policy import StaticPolicy
from fleetward.access.store import AccessStore
from fleetward.clock import Clock
from fleetward.crypto import HubCa, KeyRing, SecretHasher
from fleetward.errors import ConfigError
from fleetward.registry import RegistryService, Store

__all__ = ["AccessServices", "TokenSettings", "build_access"]

AUDIENCE = "fleetward"


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Token lifetimes and connect protection, from the configuration."""

    issuer: str = "fleetward"
    ttl: dt.timedelta = dt.timedelta(minutes=10)
    max_lifetime: dt.timedelta = dt.timedelta(hours=1)
    leeway: dt.timedelta = dt.timedelta(seconds=30)
    connect_rate: float = 10_000.0
    connect_burst: int = 20_000
    flap_threshold: int = 10
    flap_window: float = 60.0
    flap_ban: float = 60.0


@dataclass(frozen=True, slots=True)
class AccessServices:
    """Everything the edges use from the access layer."""

    runtime: AccessRuntime
    hub: HubAccess
    devices: DeviceAccess
    rules: AccessRules
    issuer: TokenIssuer


def build_access(
    *,
    store: Store,
    registry: RegistryService,
    hasher: SecretHasher,
    clock: Clock,
    data_dir: Path,
    static: StaticPolicy,
    audit: AuditHook,
    hub_ca: HubCa | None,
    tokens: TokenSettings,
    trust_maker: Callable[[bytes], None] | None = None,
) -> AccessServices:
    """Load the live state and wire the services. Raises :class:`ConfigError`."""
    access_store = AccessStore(store.engine)
    now = clock.now()
    overlap = tokens.max_lifetime + tokens.leeway + dt.timedelta(minutes=1)
    try:
        ring = KeyRing.open(data_dir / "keys" / "tokens", now=now, overlap=overlap)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"token keys: cannot open {data_dir / 'keys' / 'tokens'}: {e}") from e
    holder: list[AccessState] = []

    def revoked(jti: str) -> bool:
        return bool(holder) and jti in hub.state.revoked_tokens

    issuer = TokenIssuer(
        ring,
        clock,
        issuer=tokens.issuer,
        audience=AUDIENCE,
        default_ttl=tokens.ttl,
        max_lifetime=tokens.max_lifetime,
        leeway=tokens.leeway,
        revoked=revoked,
    )
    state = load_state(access_store, now)
    holder.append(state)
    hub = HubAccess(
        state,
        access_store,
        issuer=issuer,
        hub_ca=hub_ca,
        hasher=hasher,
        clock=clock,
        static=static,
        flaps=FlapDetector(tokens.flap_threshold, tokens.flap_window, tokens.flap_ban),
        connects=TokenBucket(tokens.connect_rate, tokens.connect_burst),
        monotonic=time.monotonic,
        audit=audit,
    )
    runtime = AccessRuntime(access_store, hub, clock, audit)
    runtime.mark_seen()
    return AccessServices(
        runtime=runtime,
        hub=hub,
        devices=DeviceAccess(runtime, registry, issuer, hasher, hub_ca),
        rules=AccessRules(runtime, registry, issuer, trust_maker),
        issuer=issuer,
    )
