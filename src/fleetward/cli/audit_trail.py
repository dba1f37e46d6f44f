"""Every console command that changes state lands in the audit log, wrapped in one place.

The rule (ADR 0007, "Operator acts"): :func:`audit_commands` wraps each command of a
group except its reads (``list``, ``show``) and the commands that record their own act
(:data:`SELF_AUDITED`); the owner export is a read that is recorded. The act is recorded
as ``cli.<group>.<command>`` by ``console`` after it ran: ``ok``, or ``refused`` /
``failed`` (the error's code in ``details``) when it raised. The target is the id the
command returns (what it created) or the most specific id it was given; other arguments
are never logged. The log is opened before the command runs, so no act happens that
could not be recorded; a declined confirmation did nothing and is not recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from fleetward.cli.context import hub_of
from fleetward.errors import FleetwardError, StorageError, UnavailableError

__all__ = ["SELF_AUDITED", "audit_commands"]

SELF_AUDITED = frozenset({("apikey", "grant"), ("owner", "erase")})
"""Commands whose service or body records the act with richer details."""
_READS = frozenset({"list", "show"})
_ID_ARGS = ("tenant", "tenant_id", "owner", "owner_id", "device_id", "key_id")
_MAX_ID = 64


def audit_commands(group: typer.Typer, name: str) -> None:
    """Wrap ``group``'s state-changing commands (call once, after all are registered)."""
    for info in group.registered_commands:
        if info.callback is None:
            continue
        verb = info.name or info.callback.__name__
        if verb in _READS or (name, verb) in SELF_AUDITED:
            continue
        info.callback = _audited(info.callback, f"cli.{name}.{verb}".replace("-", "_"))


def _audited(command: Callable[..., Any], action: str) -> Callable[..., None]:
    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        ctx: typer.Context = kwargs["ctx"]
        audit = hub_of(ctx).audit_log()  # opened first: no act that could not be recorded
        ids = {k: str(v)[:_MAX_ID] for k in _ID_ARGS if (v := kwargs.get(k)) is not None}
        tenant = ids.get("tenant_id") or ids.get("tenant")
        target = next(reversed(ids.values()), None) if ids else None
        try:
            made = command(**kwargs)
        except FleetwardError as e:
            failed = isinstance(e, StorageError | UnavailableError)
            audit.record(
                actor="console",
                action=action,
                target=target,
                tenant_id=tenant,
                outcome="failed" if failed else "refused",
                details={**_keys(ids), "error": e.code},
            )
            raise
        audit.record(
            actor="console",
            action=action,
            target=made if isinstance(made, str) else target,
            tenant_id=tenant,
            details=_keys(ids),
        )

    return run


def _keys(ids: dict[str, str]) -> dict[str, str]:
    """The id arguments under their canonical detail names."""
    return {k if k.endswith("_id") else f"{k}_id": v for k, v in ids.items()}
