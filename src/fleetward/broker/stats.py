"""Broker statistics as retained messages under ``$fleet/broker/…``.

Like Mosquitto's ``$SYS`` tree, but in the hub's own namespace: only the hub publishes
there (no client may publish to a ``$`` topic, MQTT-4.7.2-1), and only a client whose
policy names ``$fleet/broker/…`` may subscribe (a ``#`` never matches ``$`` topics,
MQTT-4.7.2-1). Values are plain decimal text, republished only when they change, and not
journaled: they are regenerated after every start.
"""

from __future__ import annotations

import asyncio
import time

from fleetward import __version__
from fleetward.broker.core import Broker

__all__ = ["PREFIX", "publish_stats", "run_stats"]

PREFIX = "$fleet/broker/"


def _snapshot(broker: Broker, started: float) -> dict[str, str]:
    router = broker.router
    stats = router.stats
    return {
        "version": __version__,
        "uptime": str(int(time.monotonic() - started)),
        "clients/connected": str(sum(1 for s in broker.sessions.values() if s.conn is not None)),
        "sessions": str(len(broker.sessions)),
        "subscriptions": str(sum(len(s.subscriptions) for s in broker.sessions.values())),
        "retained": str(sum(1 for t in router.retained if not t.startswith(PREFIX))),
        "messages/received": str(stats.received),
        "messages/sent": str(stats.sent),
        "messages/dropped": str(stats.dropped),
        "messages/refused": str(stats.refused),
    }


def publish_stats(broker: Broker, started: float, last: dict[str, str]) -> None:
    """Publish every value that differs from ``last`` (updated in place)."""
    for name, value in _snapshot(broker, started).items():
        if last.get(name) != value:
            last[name] = value
            broker.publish(PREFIX + name, value.encode(), retain=True)


async def run_stats(broker: Broker, interval: float) -> None:
    """Publish the statistics every ``interval`` seconds until cancelled."""
    started = time.monotonic()
    last: dict[str, str] = {}
    while True:
        publish_stats(broker, started, last)
        await asyncio.sleep(interval)
