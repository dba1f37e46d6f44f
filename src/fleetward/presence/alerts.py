"""Alert rules over presence: pure, deterministic given status changes and ``now``.

Rules: a device offline longer than ``offline_after``; silent; never connected within
``never_connected_after`` of its creation; a reconnect loop (``reconnect_count`` connects
within ``reconnect_window``); and site correlation.

Site correlation and the hold-down. A per-device alert for a drop is held for
``site_window`` seconds. At every tick, before any held drop is released, each site
(``(tenant, site)`` with at least ``site_min_devices`` devices) counts its devices that
went offline within the window or are still held. When that share reaches ``site_share``
the site gets one ``site_outage`` alert that covers those devices: their per-device
alerts are never emitted, later drops in the same site fold into the outage (its count
grows), and ``possible_tampering`` alerts raised earlier for devices of that site are
resolved as explained. A held drop released while its site stays healthy (at least
``healthy_share`` of the site's other devices online) and that was not a clean
DISCONNECT becomes ``possible_tampering``: one device going dark alone is suspicious.
So a power cut at a site yields one alert, not one per device, and never a storm first.

Output is a list of :class:`AlertSignal`: ``raise`` (a new alert, or new evidence for an
open one, which the store folds into it: same key, count + 1) and ``resolve`` (the
condition cleared, for example the device came back). The engine never repeats a
``raise`` for a condition it already raised unless there is new evidence.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fleetward.errors import InvalidInputError
from fleetward.presence.model import DeviceInfo, PresenceStatus, StatusChange

__all__ = ["AlertEngine", "AlertKey", "AlertKind", "AlertRules", "AlertSignal", "Detail"]

_S = PresenceStatus
_CLEAN = frozenset({"client_disconnect"})  # the device said goodbye itself
Detail = str | int | float | None


class AlertKind(StrEnum):
    """What an alert is about."""

    OFFLINE = "offline"
    SILENT = "silent"
    NEVER_CONNECTED = "never_connected"
    RECONNECT_LOOP = "reconnect_loop"
    SITE_OUTAGE = "site_outage"
    POSSIBLE_TAMPERING = "possible_tampering"


_DEVICE_RETURN_RESOLVES = (
    AlertKind.OFFLINE,
    AlertKind.SILENT,
    AlertKind.NEVER_CONNECTED,
    AlertKind.POSSIBLE_TAMPERING,
)


_DEVICE_KINDS = frozenset(AlertKind) - {AlertKind.SITE_OUTAGE}


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Thresholds of the rules; seconds unless said otherwise. ``None`` turns a rule off."""

    offline_after: float | None = 300.0
    never_connected_after: float | None = 24 * 3600.0
    reconnect_count: int = 5
    reconnect_window: float = 300.0
    site_window: float = 60.0
    site_share: float = 0.5
    site_min_devices: int = 5
    healthy_share: float = 0.8

    def __post_init__(self) -> None:
        if not (0 < self.site_share <= 1 and 0 < self.healthy_share <= 1):
            raise InvalidInputError("shares must be within (0, 1]", code="alerts.bad_share")
        if self.reconnect_count < 2 or self.site_min_devices < 2 or self.site_window <= 0:
            raise InvalidInputError(
                "reconnect_count and site_min_devices must be >= 2, site_window > 0",
                code="alerts.bad_rule",
            )


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What makes two raises the same alert: the store folds raises with one key."""

    tenant_id: str | None
    kind: AlertKind
    subject: str  # a device id, or a site name for site alerts


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """``raise`` or ``resolve`` one alert."""

    action: str  # "raise" | "resolve"
    key: AlertKey
    at: dt.datetime
    owner_id: str | None = None
    device_id: str | None = None
    site: str | None = None
    details: Mapping[str, Detail] = field(default_factory=dict)


class _Dev:
    __slots__ = ("connects", "drop_reason", "dropped_at", "held", "info", "status")

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info
        self.status = _S.NEVER_SEEN
        self.dropped_at: dt.datetime | None = None
        self.drop_reason = ""
        self.held = False  # a drop whose per-device alerts wait for the hold-down
        self.connects: deque[dt.datetime] = deque()


class AlertEngine:
    """Turns presence changes into alert signals; call :meth:`tick` regularly."""

    __slots__ = ("_active", "_covered", "_devices", "_sites", "rules")

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._devices: dict[str, _Dev] = {}
        self._sites: dict[tuple[str | None, str], set[str]] = {}
        self._covered: dict[tuple[str | None, str], set[str]] = {}  # open outages
        self._active: dict[AlertKey, AlertSignal] = {}

    # -- inputs ----------------------------------------------------------------------------

    def register(self, info: DeviceInfo) -> None:
        """Learn a device's tenant, owner, site and creation time from the registry."""
        dev = self._devices.get(info.device_id)
        if dev is None:
            dev = self._devices[info.device_id] = _Dev(info)
        elif dev.info.site is not None:
            self._sites.get((dev.info.tenant_id, dev.info.site), set()).discard(info.device_id)
        dev.info = info
        if info.site is not None:
            self._sites.setdefault((info.tenant_id, info.site), set()).add(info.device_id)

    def forget(self, device_id: str) -> None:
        """Drop a deleted device: it leaves its site; its alerts are no longer tracked."""
        dev = self._devices.pop(device_id, None)
        if dev is None:
            return
        if dev.info.site is not None:
            self._sites.get((dev.info.tenant_id, dev.info.site), set()).discard(device_id)
        for cover in self._covered.values():
            cover.discard(device_id)
        for key in [k for k in self._active if k.subject == device_id and k.kind in _DEVICE_KINDS]:
            del self._active[key]

    def connected(self, device_id: str, tenant_id: str | None, at: dt.datetime) -> None:
        """Count one connect for the reconnect-loop rule (every CONNECT, even a second one)."""
        self._dev(device_id, tenant_id).connects.append(at)

    def observe(self, change: StatusChange) -> list[AlertSignal]:
        """Feed one status change; returns the signals it settles at once (resolves)."""
        dev = self._dev(change.device_id, change.tenant_id)
        dev.status = change.new
        out: list[AlertSignal] = []
        if change.new is _S.ONLINE:
            dev.held, dev.dropped_at = False, None
            for cover in self._covered.values():
                cover.discard(change.device_id)
            silent_only = change.old is _S.SILENT
            kinds = (AlertKind.SILENT,) if silent_only else _DEVICE_RETURN_RESOLVES
            for kind in kinds:
                out += self._resolve(self._key(dev, kind), change.at, "returned")
        elif change.new is _S.OFFLINE:
            dev.dropped_at, dev.drop_reason, dev.held = change.at, change.reason, True
            out += self._resolve(self._key(dev, AlertKind.SILENT), change.at, "went offline")
        return out

    def tick(self, now: dt.datetime) -> list[AlertSignal]:
        """Evaluate every time-based rule at ``now``; site correlation first."""
        out: list[AlertSignal] = []
        devices = self._devices
        for site, members in self._sites.items():
            if site in self._covered or any(devices[d].status is _S.OFFLINE for d in members):
                out += self._correlate(site, now)  # else nobody is down: none opens (share > 0)
        # The common case, an online device with a few recent connects, can change nothing
        # here; skipping it keeps the tick (on the hub's loop) short with a large fleet.
        horizon = now - dt.timedelta(seconds=self.rules.reconnect_window)
        loop_at = self.rules.reconnect_count
        for dev in self._devices.values():
            connects = dev.connects
            if (
                dev.status is _S.ONLINE
                and not dev.held
                and (
                    (connects and connects[0] >= horizon and len(connects) < loop_at)
                    or (not connects and not self._active)
                )
            ):
                continue
            out += self._device_rules(dev, now)
        return out

    # -- reads -----------------------------------------------------------------------------

    def active(self) -> list[AlertKey]:
        """The conditions raised and not yet resolved."""
        return list(self._active)

    # -- rules -----------------------------------------------------------------------------

    def _correlate(self, site: tuple[str | None, str], now: dt.datetime) -> list[AlertSignal]:
        r = self.rules
        members = self._sites[site]
        if len(members) < r.site_min_devices:
            return []
        devs = [self._devices[d] for d in sorted(members)]
        window = dt.timedelta(seconds=r.site_window)
        recent = [
            d
            for d in devs
            if d.status is _S.OFFLINE
            and d.dropped_at is not None
            and (d.held or now - d.dropped_at <= window)
        ]
        key = AlertKey(site[0], AlertKind.SITE_OUTAGE, site[1])
        cover = self._covered.get(site)
        offline = sum(1 for d in devs if d.status is _S.OFFLINE)
        if cover is None:
            if len(recent) / len(devs) < r.site_share:
                return []
            cover = self._covered[site] = set()
        elif offline / len(devs) < r.site_share / 2:
            del self._covered[site]
            return self._resolve(key, now, "site recovered")
        new = [d for d in recent if d.info.device_id not in cover]
        if not new:
            return []
        out: list[AlertSignal] = []
        for d in new:
            cover.add(d.info.device_id)
            d.held = False
            tamper = self._key(d, AlertKind.POSSIBLE_TAMPERING)
            out += self._resolve(tamper, now, "explained by site outage")
        signal = AlertSignal(
            "raise",
            key,
            now,
            owner_id=_common_owner(devs),
            site=site[1],
            details={"devices": len(devs), "offline": offline, "new_drops": len(new)},
        )
        self._active[key] = signal
        return [*out, signal]

    def _device_rules(self, dev: _Dev, now: dt.datetime) -> list[AlertSignal]:
        r = self.rules
        out: list[AlertSignal] = []
        since_drop = None if dev.dropped_at is None else (now - dev.dropped_at).total_seconds()
        if dev.held and since_drop is not None and since_drop >= r.site_window:
            dev.held = False
            if self._lone_drop(dev):
                out += self._raise(dev, AlertKind.POSSIBLE_TAMPERING, now, reason=dev.drop_reason)
        covered = any(dev.info.device_id in c for c in self._covered.values())
        if (
            dev.status is _S.OFFLINE
            and not dev.held
            and not covered
            and r.offline_after is not None
            and since_drop is not None
            and since_drop >= r.offline_after
        ):
            out += self._raise(dev, AlertKind.OFFLINE, now, offline_seconds=int(since_drop))
        if dev.status is _S.SILENT:
            out += self._raise(dev, AlertKind.SILENT, now)
        created = dev.info.created_at
        if (
            dev.status is _S.NEVER_SEEN
            and created is not None
            and r.never_connected_after is not None
            and (now - created).total_seconds() >= r.never_connected_after
        ):
            out += self._raise(dev, AlertKind.NEVER_CONNECTED, now)
        out += self._reconnects(dev, now)
        return out

    def _reconnects(self, dev: _Dev, now: dt.datetime) -> list[AlertSignal]:
        horizon = now - dt.timedelta(seconds=self.rules.reconnect_window)
        while dev.connects and dev.connects[0] < horizon:
            dev.connects.popleft()
        key = self._key(dev, AlertKind.RECONNECT_LOOP)
        if len(dev.connects) >= self.rules.reconnect_count:
            return self._raise(dev, AlertKind.RECONNECT_LOOP, now, connects=len(dev.connects))
        if not dev.connects:
            return self._resolve(key, now, "stable")
        return []

    def _lone_drop(self, dev: _Dev) -> bool:
        """Dropped without a goodbye while the rest of its (large enough) site is fine."""
        site = dev.info.site
        if site is None or dev.drop_reason in _CLEAN or dev.status is not _S.OFFLINE:
            return False
        others = [self._devices[d] for d in self._sites.get((dev.info.tenant_id, site), ())]
        others = [d for d in others if d is not dev]
        if len(others) + 1 < self.rules.site_min_devices:
            return False
        up = sum(1 for d in others if d.status in (_S.ONLINE, _S.SILENT))
        return up / len(others) >= self.rules.healthy_share

    # -- helpers ---------------------------------------------------------------------------

    def _dev(self, device_id: str, tenant_id: str | None) -> _Dev:
        dev = self._devices.get(device_id)
        if dev is None:
            dev = self._devices[device_id] = _Dev(DeviceInfo(device_id, tenant_id))
        return dev

    @staticmethod
    def _key(dev: _Dev, kind: AlertKind) -> AlertKey:
        return AlertKey(dev.info.tenant_id, kind, dev.info.device_id)

    def _raise(
        self, dev: _Dev, kind: AlertKind, now: dt.datetime, **details: Detail
    ) -> list[AlertSignal]:
        key = self._key(dev, kind)
        if key in self._active:
            return []
        signal = AlertSignal(
            "raise",
            key,
            now,
            owner_id=dev.info.owner_id,
            device_id=dev.info.device_id,
            site=dev.info.site,
            details=details,
        )
        self._active[key] = signal
        return [signal]

    def _resolve(self, key: AlertKey, now: dt.datetime, why: str) -> list[AlertSignal]:
        raised = self._active.pop(key, None)
        if raised is None:
            return []
        return [
            AlertSignal(
                "resolve",
                key,
                now,
                owner_id=raised.owner_id,
                device_id=raised.device_id,
                site=raised.site,
                details={"resolution": why},
            )
        ]


def _common_owner(devs: list[_Dev]) -> str | None:
    """The owner of a site's devices when they all share one (else the tenant's operators)."""
    owners = {d.info.owner_id for d in devs}
    return owners.pop() if len(owners) == 1 else None
