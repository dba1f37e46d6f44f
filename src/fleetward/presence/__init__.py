"""Presence: who is online, silent or gone, and the alerts that follow.

The pure core (:mod:`.model`, :mod:`.state`, :mod:`.alerts`, :mod:`.payloads`) takes
hub events and ``now``; the monitor, webhook sender and SQL store are the I/O shell.
"""

from fleetward.presence.alerts import AlertEngine, AlertKey, AlertKind, AlertRules, AlertSignal
from fleetward.presence.model import (
    Connection,
    DeviceInfo,
    DevicePresence,
    PresenceRules,
    PresenceStatus,
    SessionRecord,
    StatusChange,
)
from fleetward.presence.state import IllegalTransitionError, PresenceTracker, Trigger, transition

__all__ = [
    "AlertEngine",
    "AlertKey",
    "AlertKind",
    "AlertRules",
    "AlertSignal",
    "Connection",
    "DeviceInfo",
    "DevicePresence",
    "IllegalTransitionError",
    "PresenceRules",
    "PresenceStatus",
    "PresenceTracker",
    "SessionRecord",
    "StatusChange",
    "Trigger",
    "transition",
]
