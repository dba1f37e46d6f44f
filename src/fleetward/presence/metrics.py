"""Prometheus view of presence: devices by status and webhook outcomes, hub-wide.

Only totals, never a tenant, site or device label: ``/metrics`` needs no key, so it must
not tell anyone whose fleet is down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fleetward.presence.model import PresenceStatus
from fleetward.presence.monitor import PresenceMonitor

__all__ = ["PresenceCollector"]


class PresenceCollector(Collector):
    """Reads the monitor at scrape time (no state of its own)."""

    def __init__(self, monitor: PresenceMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """One gauge per status; webhook counters when webhooks are configured."""
        counts = Counter(p.status for p in self._monitor.all())
        devices = GaugeMetricFamily(
            "fleetward_presence_devices", "Devices by presence status.", labels=["status"]
        )
        for status in PresenceStatus:
            devices.add_metric([status.value], counts.get(status, 0))
        yield devices
        sender = self._monitor.webhooks
        if sender is not None:
            hooks = CounterMetricFamily(
                "fleetward_webhook_deliveries", "Alert webhook outcomes.", labels=["outcome"]
            )
            stats = sender.stats
            for outcome, value in (
                ("delivered", stats.delivered),
                ("retried", stats.retried),
                ("failed", stats.failed),
                ("dropped", stats.dropped),
            ):
                hooks.add_metric([outcome], value)
            yield hooks
