"""Presence records and rules: what the hub knows about whether a device is there.

Plain frozen dataclasses shared by the state machine, the alert rules, the monitor and
the edges. Nothing here does I/O or reads the time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fleetward.errors import InvalidInputError

__all__ = [
    "Connection",
    "DeviceInfo",
    "DevicePresence",
    "PresenceRules",
    "PresenceStatus",
    "SessionRecord",
    "StatusChange",
]


class PresenceStatus(StrEnum):
    """Where a device stands. ``silent`` is connected but sending nothing for too long."""

    NEVER_SEEN = "never_seen"
    ONLINE = "online"
    SILENT = "silent"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Connection:
    """Facts of one live connection, from the broker's CONNECT event."""

    client_id: str
    listener: str
    protocol_version: int
    peer: str
    tls_version: str | None
    cert_serial: str | None
    keepalive: int
    connected_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One finished (or still open, ``ended_at is None``) connection of a device."""

    client_id: str
    listener: str
    peer: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the registry says about a device; presence needs its place and its tags."""

    device_id: str
    tenant_id: str | None
    owner_id: str | None = None
    site: str | None = None
    tags: tuple[str, ...] = ()
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class DevicePresence:
    """A snapshot of one device's presence (what the topic, REST and CLI show)."""

    device_id: str
    tenant_id: str | None
    status: PresenceStatus
    since: dt.datetime | None
    last_seen: dt.datetime | None
    connection: Connection | None
    sessions: tuple[SessionRecord, ...]
    site: str | None = None
    owner_id: str | None = None
    via_gateway: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device moved from ``old`` to ``new`` at ``at``; ``reason`` says why."""

    device_id: str
    tenant_id: str | None
    old: PresenceStatus
    new: PresenceStatus
    at: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class PresenceRules:
    """How presence is judged. Intervals are seconds; ``None`` means "never silent".

    The expected interval of a device is its own entry in ``interval_by_device``, else
    the shortest interval of its tags in ``interval_by_tag``, else ``default_interval``.
    ``max_sessions`` bounds the per-device history; ``max_devices`` bounds the tracker so
    a flood of client identities cannot grow it without limit. Anonymous clients are no
    device and are never tracked.
    """

    default_interval: float | None = None
    interval_by_tag: Mapping[str, float] = field(default_factory=dict)
    interval_by_device: Mapping[str, float] = field(default_factory=dict)
    max_sessions: int = 20
    max_devices: int = 1_000_000
    not_devices: frozenset[str] = frozenset({"anonymous"})
    """Identities that are no device (the broker's one shared anonymous identity)."""

    def __post_init__(self) -> None:
        intervals = [self.default_interval or 1.0, *self.interval_by_tag.values()]
        intervals.extend(self.interval_by_device.values())
        if any(v <= 0 for v in intervals):
            raise InvalidInputError(
                "expected intervals must be positive", code="presence.bad_interval"
            )
        if not 1 <= self.max_sessions <= 1000:
            raise InvalidInputError(
                "max_sessions must be within 1..1000", code="presence.bad_history"
            )

    @property
    def watches_data(self) -> bool:
        """Whether any device can fall silent (else PUBLISH events are not needed)."""
        return bool(
            self.default_interval is not None or self.interval_by_tag or self.interval_by_device
        )

    def interval_for(self, device_id: str, tags: tuple[str, ...]) -> float | None:
        """The expected data interval of a device, or ``None`` if silence is allowed."""
        own = self.interval_by_device.get(device_id)
        if own is not None:
            return own
        by_tag = [self.interval_by_tag[t] for t in tags if t in self.interval_by_tag]
        if by_tag:
            return min(by_tag)
        return self.default_interval
