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
from fleetward.presence.monitor import DeviceDirectory, PresenceMonitor, Publisher
from fleetward.presence.records import AlertRecord, AlertState
from fleetward.presence.service import build_monitor
from fleetward.presence.sql import SqlAlertStore
from fleetward.presence.state import IllegalTransitionError, PresenceTracker, Trigger, transition
from fleetward.presence.webhooks import Delivery, WebhookSender, WebhookTarget

__all__ = [
    "AlertEngine",
    "AlertKey",
    "AlertKind",
    "AlertRecord",
    "AlertRules",
    "AlertSignal",
    "AlertState",
    "Connection",
    "Delivery",
    "DeviceDirectory",
    "DeviceInfo",
    "DevicePresence",
    "IllegalTransitionError",
    "PresenceMonitor",
    "PresenceRules",
    "PresenceStatus",
    "PresenceTracker",
    "Publisher",
    "SessionRecord",
    "SqlAlertStore",
    "StatusChange",
    "Trigger",
    "WebhookSender",
    "WebhookTarget",
    "build_monitor",
    "transition",
]
