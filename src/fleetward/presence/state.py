"""The presence state machine: hub events and ``now`` in, status changes out.

Sans-I/O like the MQTT core: the tracker never reads the clock or touches a socket; the
monitor feeds it broker events and periodic ticks. Each device moves through the
transition table below (``never_seen``, ``online``, ``silent``, ``offline``); a pair
that is not in the table raises at once instead of leaving the device in a state that
cannot be explained.

A device is online while at least one of its connections is live (a device may hold
several client ids) or, for a gateway's child, while the gateway reports it present and
is itself connected. A keepalive expiry is a disconnect like any other: the broker
closes the connection at 1.5x the keepalive (MQTT-3.1.2-24) and reports ``keepalive``.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from enum import StrEnum

from fleetward.errors import FleetwardError
from fleetward.events import ClientConnected, ClientDisconnected, HubEvent, PublishAccepted
from fleetward.presence.deadlines import Deadlines
from fleetward.presence.model import (
    Connection,
    DeviceInfo,
    DevicePresence,
    PresenceRules,
    PresenceStatus,
    SessionRecord,
    StatusChange,
)

__all__ = ["IllegalTransitionError", "PresenceTracker", "Trigger", "transition"]

_S = PresenceStatus


class Trigger(StrEnum):
    """What can move a device."""

    CONNECT = "connect"
    DATA = "data"
    LAST_DISCONNECT = "last_disconnect"
    SILENCE = "silence"


_TABLE: dict[tuple[PresenceStatus, Trigger], PresenceStatus] = {
    (_S.NEVER_SEEN, Trigger.CONNECT): _S.ONLINE,
    (_S.ONLINE, Trigger.CONNECT): _S.ONLINE,
    (_S.SILENT, Trigger.CONNECT): _S.ONLINE,
    (_S.OFFLINE, Trigger.CONNECT): _S.ONLINE,
    (_S.ONLINE, Trigger.DATA): _S.ONLINE,
    (_S.SILENT, Trigger.DATA): _S.ONLINE,
    (_S.ONLINE, Trigger.SILENCE): _S.SILENT,
    (_S.ONLINE, Trigger.LAST_DISCONNECT): _S.OFFLINE,
    (_S.SILENT, Trigger.LAST_DISCONNECT): _S.OFFLINE,
}


class IllegalTransitionError(FleetwardError):
    """A trigger that the table does not allow in the device's current state (our bug)."""

    code = "presence.illegal_transition"


def transition(status: PresenceStatus, trigger: Trigger) -> PresenceStatus:
    """The state after ``trigger``; raises :class:`IllegalTransitionError` if not allowed."""
    try:
        return _TABLE[(status, trigger)]
    except KeyError:
        raise IllegalTransitionError(
            f"{trigger.value} is not allowed when {status.value}"
        ) from None


class _Entry:
    """Mutable per-device state inside the tracker."""

    __slots__ = (
        "info",
        "last_seen",
        "live",
        "order",
        "reported_by",
        "sessions",
        "since",
        "status",
    )

    def __init__(self, info: DeviceInfo, max_sessions: int, order: int) -> None:
        self.info = info
        self.order = order  # when the tracker first heard of it: the order ticks report in
        self.status = _S.NEVER_SEEN
        self.since: dt.datetime | None = info.created_at
        self.last_seen: dt.datetime | None = None
        self.live: dict[str, Connection] = {}
        self.reported_by: str | None = None  # the gateway that reports this child present
        self.sessions: deque[SessionRecord] = deque(maxlen=max_sessions)

    @property
    def connected(self) -> bool:
        return bool(self.live) or self.reported_by is not None


class PresenceTracker:
    """Presence of every device the hub has heard of or been told about."""

    __slots__ = ("_added", "_deadlines", "_entries", "_gateway_children", "rules", "stray_events")

    def __init__(self, rules: PresenceRules) -> None:
        self.rules = rules
        self._entries: dict[str, _Entry] = {}
        self._deadlines = Deadlines()  # online devices that may fall silent, by when
        self._added = 0
        self._gateway_children: dict[str, set[str]] = {}
        self.stray_events = 0  # events that could not apply (unknown client, over the bound)

    # -- registry facts --------------------------------------------------------------------

    def register(self, info: DeviceInfo) -> None:
        """Learn (or refresh) a device's registry facts; a new one starts ``never_seen``."""
        entry = self._entries.get(info.device_id)
        if entry is None:
            if len(self._entries) < self.rules.max_devices:
                self._entries[info.device_id] = self._new_entry(info)
            return
        tenant = info.tenant_id if info.tenant_id is not None else entry.info.tenant_id
        entry.info = DeviceInfo(
            info.device_id, tenant, info.owner_id, info.site, info.tags, info.created_at
        )
        self._arm(entry)  # new tags may mean a shorter interval

    def forget(self, device_id: str) -> None:
        """Drop a deleted device."""
        self._entries.pop(device_id, None)
        self._deadlines.disarm(device_id)
        for child in self._gateway_children.pop(device_id, set()):
            self._entries.pop(child, None)
            self._deadlines.disarm(child)

    # -- inputs ----------------------------------------------------------------------------

    def apply(self, event: HubEvent) -> list[StatusChange]:
        """Feed one hub event; returns the status changes it caused (often none)."""
        if isinstance(event, ClientConnected):
            return self._connected(event)
        if isinstance(event, ClientDisconnected):
            return self._disconnected(event)
        if isinstance(event, PublishAccepted):
            return self._data(event.identity, event.at)
        return []

    def child_report(
        self, gateway_id: str, child_id: str, *, online: bool, now: dt.datetime
    ) -> list[StatusChange]:
        """A gateway says one of its children is (no longer) present behind it.

        Ignored unless the gateway itself is connected: a gateway that is gone cannot
        vouch for anyone, and its children went offline with it.
        """
        gateway = self._entries.get(gateway_id)
        if gateway is None or not gateway.live or child_id == gateway_id:
            self.stray_events += 1
            return []
        entry = self._entry(child_id, gateway.info.tenant_id)
        if entry is None:
            return []
        children = self._gateway_children.setdefault(gateway_id, set())
        if online:
            children.add(child_id)
            entry.reported_by = gateway_id
            entry.last_seen = now
            changes = self._move(entry, Trigger.CONNECT, now, f"reported by {gateway_id}")
            self._keep_armed(entry)
            return changes
        children.discard(child_id)
        if entry.reported_by != gateway_id:
            return []
        entry.reported_by = None
        entry.last_seen = now
        if entry.live:
            return []
        return self._move(entry, Trigger.LAST_DISCONNECT, now, f"reported by {gateway_id}")

    def tick(self, now: dt.datetime) -> list[StatusChange]:
        """Flag devices that are connected but have sent nothing for their interval.

        Only devices whose silence deadline has come are judged (:class:`Deadlines`);
        the rule is the same as judging every online device, and so is the order of the
        changes (the order the tracker first heard of the devices).
        """
        if not self.rules.watches_data:
            return []  # no device can fall silent
        entries, changes, heard = self._entries, [], []
        for device_id in self._deadlines.take_due(now):
            entry = entries.get(device_id)
            if entry is None or entry.status is not _S.ONLINE or entry.last_seen is None:
                continue  # gone, silent already or offline: armed again when back online
            interval = self.rules.interval_for(device_id, entry.info.tags)
            if interval is not None and (now - entry.last_seen).total_seconds() > interval:
                changes.append((entry.order, self._move(entry, Trigger.SILENCE, now, "silence")))
            else:
                heard.append(entry)  # heard from since its deadline was set
        for entry in heard:
            self._arm(entry)
        changes.sort(key=lambda c: c[0])
        return [change for _, moved in changes for change in moved]

    # -- reads -----------------------------------------------------------------------------

    def get(self, device_id: str) -> DevicePresence | None:
        """A snapshot of one device, or ``None`` if the tracker has never heard of it."""
        entry = self._entries.get(device_id)
        return None if entry is None else _snapshot(device_id, entry)

    def __iter__(self) -> Iterator[DevicePresence]:
        return (_snapshot(d, e) for d, e in self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    # -- transitions -----------------------------------------------------------------------

    def _entry(self, device_id: str, tenant_id: str | None) -> _Entry | None:
        entry = self._entries.get(device_id)
        if entry is None:
            if len(self._entries) >= self.rules.max_devices:
                self.stray_events += 1
                return None
            entry = self._new_entry(DeviceInfo(device_id, tenant_id))
            entry.since = None
            self._entries[device_id] = entry
        return entry

    def _connected(self, e: ClientConnected) -> list[StatusChange]:
        if not e.identity or e.identity in self.rules.not_devices:
            return []  # anonymous clients have no device to be present for
        entry = self._entry(e.identity, e.tenant_id)
        if entry is None:
            return []
        if e.client_id in entry.live:  # a CONNECT the broker never reported the end of
            _close_record(entry, e.client_id, e.at, "replaced")
        entry.live[e.client_id] = Connection(
            e.client_id,
            e.listener,
            e.protocol_version,
            e.peer,
            e.tls_version,
            e.cert_serial,
            e.keepalive,
            e.at,
        )
        entry.sessions.append(SessionRecord(e.client_id, e.listener, e.peer, e.at))
        entry.last_seen = e.at
        changes = self._move(entry, Trigger.CONNECT, e.at, "connect")
        self._keep_armed(entry)
        return changes

    def _disconnected(self, e: ClientDisconnected) -> list[StatusChange]:
        entry = self._entries.get(e.identity or "")
        if entry is None or entry.live.pop(e.client_id, None) is None:
            self.stray_events += 1
            return []
        _close_record(entry, e.client_id, e.at, e.reason)
        entry.last_seen = e.at
        if entry.live:
            return []
        changes = self._children_gone(e.identity or "", e.at)
        if entry.reported_by is None:
            changes = self._move(entry, Trigger.LAST_DISCONNECT, e.at, e.reason) + changes
        return changes

    def _children_gone(self, gateway_id: str, at: dt.datetime) -> list[StatusChange]:
        changes: list[StatusChange] = []
        for child_id in sorted(self._gateway_children.pop(gateway_id, set())):
            child = self._entries.get(child_id)
            if child is None or child.reported_by != gateway_id:
                continue
            child.reported_by = None
            if not child.live:
                changes += self._move(child, Trigger.LAST_DISCONNECT, at, "gateway_offline")
        return changes

    def _data(self, identity: str | None, at: dt.datetime) -> list[StatusChange]:
        entry = self._entries.get(identity or "")
        if entry is None or not entry.connected:
            self.stray_events += 1
            return []
        entry.last_seen = at
        changes = self._move(entry, Trigger.DATA, at, "data")
        self._keep_armed(entry)
        return changes

    def _new_entry(self, info: DeviceInfo) -> _Entry:
        self._added += 1
        return _Entry(info, self.rules.max_sessions, self._added)

    def _keep_armed(self, entry: _Entry) -> None:
        """After activity: an online device needs a deadline (one it has stays, lazily)."""
        if entry.info.device_id not in self._deadlines and self.rules.watches_data:
            self._arm(entry)

    def _arm(self, entry: _Entry) -> None:
        """Set the earliest moment ``entry`` could fall silent, if it can."""
        if entry.status is not _S.ONLINE or entry.last_seen is None:
            return
        interval = self.rules.interval_for(entry.info.device_id, entry.info.tags)
        if interval is not None:
            deadline = entry.last_seen + dt.timedelta(seconds=interval)
            self._deadlines.arm(entry.info.device_id, deadline)

    @staticmethod
    def _move(entry: _Entry, trigger: Trigger, at: dt.datetime, reason: str) -> list[StatusChange]:
        old = entry.status
        new = transition(old, trigger)
        if new is old:
            return []
        entry.status, entry.since = new, at
        return [StatusChange(entry.info.device_id, entry.info.tenant_id, old, new, at, reason)]


def _close_record(entry: _Entry, client_id: str, at: dt.datetime, reason: str) -> None:
    """End the newest open session record of ``client_id``."""
    for i in range(len(entry.sessions) - 1, -1, -1):
        record = entry.sessions[i]
        if record.client_id == client_id and record.ended_at is None:
            entry.sessions[i] = SessionRecord(
                record.client_id, record.listener, record.peer, record.started_at, at, reason
            )
            return


def _snapshot(device_id: str, entry: _Entry) -> DevicePresence:
    latest = max(entry.live.values(), key=lambda c: c.connected_at, default=None)
    return DevicePresence(
        device_id=device_id,
        tenant_id=entry.info.tenant_id,
        status=entry.status,
        since=entry.since,
        last_seen=entry.last_seen,
        connection=latest,
        sessions=tuple(entry.sessions),
        site=entry.info.site,
        owner_id=entry.info.owner_id,
        via_gateway=entry.reported_by,
    )
