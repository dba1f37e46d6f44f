"""Builds the presence monitor from its settings (called by the composition root)."""

from __future__ import annotations

import time

from fleetward.clock import Clock
from fleetward.config import PresenceSettings
from fleetward.presence.alerts import AlertEngine, AlertRules
from fleetward.presence.directory import RegistryDirectory
from fleetward.presence.model import PresenceRules
from fleetward.presence.monitor import PresenceMonitor
from fleetward.presence.sql import SqlAlertStore
from fleetward.presence.state import PresenceTracker
from fleetward.presence.webhooks import WebhookSender, WebhookTarget
from fleetward.registry import RegistryService, Store

__all__ = ["build_monitor"]


def build_monitor(
    settings: PresenceSettings, store: Store, registry: RegistryService, clock: Clock
) -> PresenceMonitor:
    """A monitor wired to the registry, the alert table and the configured webhooks."""
    s = settings
    tracker = PresenceTracker(
        PresenceRules(
            default_interval=s.expected_interval,
            interval_by_tag=dict(s.expected_interval_by_tag),
            interval_by_device=dict(s.expected_interval_by_device),
            max_sessions=s.max_sessions,
        )
    )
    engine = AlertEngine(
        AlertRules(
            offline_after=s.offline_after,
            never_connected_after=s.never_connected_after,
            reconnect_count=s.reconnect_count,
            reconnect_window=s.reconnect_window,
            site_window=s.site_window,
            site_share=s.site_share,
            site_min_devices=s.site_min_devices,
            healthy_share=s.healthy_share,
        )
    )
    webhooks = None
    if s.webhooks:
        targets = [WebhookTarget(w.url, w.secret.encode(), w.tenant_id) for w in s.webhooks]
        webhooks = WebhookSender(
            targets,
            wall=time.time,
            max_attempts=s.webhook_max_attempts,
            base_delay=s.webhook_base_delay,
        )
    return PresenceMonitor(
        tracker,
        engine,
        clock,
        alerts=SqlAlertStore(store.engine),
        webhooks=webhooks,
        directory=RegistryDirectory(registry),
        tick_interval=s.tick_interval,
        refresh_interval=s.refresh_interval,
    )
