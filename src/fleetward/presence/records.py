"""Stored alerts and their lifecycle table (open, acknowledged, resolved)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetward.errors import ConflictError

__all__ = ["AlertRecord", "AlertState", "check_alert_transition"]


class AlertState(StrEnum):
    """Where an alert is in its life; ``resolved`` is terminal."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    AlertState.OPEN: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.RESOLVED}),
    AlertState.RESOLVED: frozenset(),
}


def check_alert_transition(current: AlertState, target: AlertState) -> None:
    """Raise :class:`ConflictError` unless ``current -> target`` is allowed."""
    if target not in _TRANSITIONS[current]:
        raise ConflictError(
            f"a {current.value} alert cannot become {target.value}",
            code="alert.illegal_transition",
        )


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One stored alert; repeated raises of the same condition fold into ``count``."""

    id: str
    tenant_id: str | None
    owner_id: str | None
    device_id: str | None
    site: str | None
    kind: str
    subject: str
    state: AlertState
    first_seen: dt.datetime
    last_seen: dt.datetime
    count: int
    details: Mapping[str, Any]
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None
