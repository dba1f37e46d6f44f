"""The presence monitor: the asyncio shell around the pure tracker and alert engine.

It listens on the hub's :class:`~fleetward.events.EventBus` (handlers run on the
broker's loop, synchronously and quickly), republishes a device's retained
``$fleet/presence/{device_id}`` at once when its connections change (so a clean
DISCONNECT is visible immediately), and ticks every ``tick_interval`` seconds with
``now`` from the injected clock: silence, then the alert rules. Alert signals are stored
(folding repeats) off the loop, then delivered to the owner's ``$fleet/alerts/{owner}``
topic and to webhooks. Folds are stored but not re-delivered: a flapping device must not
become a message storm. Registry facts (site, tags, owner, creation time) are refreshed
from a :class:`DeviceDirectory` every ``refresh_interval`` seconds.

REST and CLI reads come from other threads; one lock guards the pure state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from fleetward.clock import Clock
from fleetward.events import ClientConnected, ClientDisconnected, EventBus, PublishAccepted
from fleetward.presence.alerts import AlertEngine, AlertSignal
from fleetward.presence.model import DeviceInfo, DevicePresence, StatusChange
from fleetward.presence.payloads import (
    alert_json,
    alerts_topic,
    presence_bytes,
    presence_topic,
)
from fleetward.presence.sql import SqlAlertStore
from fleetward.presence.state import PresenceTracker
from fleetward.presence.webhooks import Delivery, WebhookSender

__all__ = ["DeviceDirectory", "PresenceMonitor", "Publisher"]

log = logging.getLogger("fleetward.presence")


class Publisher(Protocol):
    """What the monitor needs from the broker: publish as the hub itself."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> int:
        """Route a hub-originated message; returns the number of recipients."""
        ...


class DeviceDirectory(Protocol):
    """Registry facts of every device (blocking; the monitor calls it in a thread)."""

    def devices(self) -> list[DeviceInfo]:
        """Every registered device."""
        ...


class PresenceMonitor:
    """Feeds the tracker and engine, publishes presence, stores and delivers alerts."""

    def __init__(
        self,
        tracker: PresenceTracker,
        engine: AlertEngine,
        clock: Clock,
        *,
        alerts: SqlAlertStore | None = None,
        webhooks: WebhookSender | None = None,
        directory: DeviceDirectory | None = None,
        tick_interval: float = 1.0,
        refresh_interval: float = 60.0,
    ) -> None:
        self.tracker = tracker
        self.engine = engine
        self.clock = clock
        self.alerts = alerts
        self.webhooks = webhooks
        self.directory = directory
        self.tick_interval = tick_interval
        self.refresh_interval = refresh_interval
        self._registered: set[str] = set()  # devices the directory told us about
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        self._pending: list[AlertSignal] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, bus: EventBus, publisher: Publisher) -> None:
        """Subscribe to hub events, learn the registry and start ticking.

        Subscribing comes first so no CONNECT is missed while the registry is read.
        """
        self._publisher = publisher
        self.attach(bus)
        await self.refresh()
        if self.webhooks is not None:
            self.webhooks.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="presence")

    def attach(self, bus: EventBus) -> None:
        """Follow hub events from ``bus`` (an external broker's translated events too).

        PUBLISH events are followed only when silence detection is configured: the broker
        skips building them when nobody listens, which keeps its hot path lean. Without
        them ``last_seen`` moves on connects and disconnects only.
        """
        self._unsubscribe += [
            bus.subscribe(ClientConnected, self._on_connected),
            bus.subscribe(ClientDisconnected, self._on_disconnected),
        ]
        if self.tracker.rules.watches_data:
            self._unsubscribe.append(bus.subscribe(PublishAccepted, self._on_publish))

    async def stop(self) -> None:
        """Unsubscribe and stop ticking; queued webhooks wait for the next start."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.webhooks is not None:
            await self.webhooks.close()

    async def refresh(self) -> None:
        """Reload registry facts (in a thread: the directory reads SQL); forget deleted
        devices and clear their retained presence."""
        if self.directory is None:
            return
        try:
            infos = await asyncio.to_thread(self.directory.devices)
        except Exception:  # a registry hiccup must not stop presence
            log.exception("presence: cannot read the device registry")
            return
        current = {info.device_id for info in infos}
        with self._lock:
            gone = sorted(self._registered - current)
            for device_id in gone:
                self.tracker.forget(device_id)
                self.engine.forget(device_id)
            for info in infos:
                self.tracker.register(info)
                self.engine.register(info)
            self._registered = current
        for device_id in gone:  # an empty retained message deletes it (MQTT-3.3.1-10)
            self._publish(presence_topic(device_id), b"", retain=True)

    # -- reads (any thread) ----------------------------------------------------------------

    def get(self, device_id: str) -> DevicePresence | None:
        """A device's presence snapshot."""
        with self._lock:
            return self.tracker.get(device_id)

    def all(self) -> list[DevicePresence]:
        """Every device's snapshot."""
        with self._lock:
            return list(self.tracker)

    # -- event handlers (the broker's loop) ------------------------------------------------

    def _on_connected(self, e: ClientConnected) -> None:
        if not e.identity or e.identity in self.tracker.rules.not_devices:
            return  # an anonymous client has no presence and no reconnect-loop history
        with self._lock:
            if e.identity:
                self.engine.connected(e.identity, e.tenant_id, e.at)
            changes = self.tracker.apply(e)
        self._changed(changes, e.identity)

    def _on_disconnected(self, e: ClientDisconnected) -> None:
        if not e.identity or e.identity in self.tracker.rules.not_devices:
            return
        with self._lock:
            changes = self.tracker.apply(e)
        self._changed(changes, e.identity)

    def _on_publish(self, e: PublishAccepted) -> None:
        with self._lock:
            changes = self.tracker.apply(e)
        self._changed(changes, None)

    def _changed(self, changes: list[StatusChange], touched: str | None) -> None:
        devices = {c.device_id for c in changes}
        if touched:
            devices.add(touched)
        with self._lock:
            for change in changes:
                self._pending += self.engine.observe(change)
            snapshots = [p for d in sorted(devices) if (p := self.tracker.get(d)) is not None]
        for p in snapshots:
            self._publish(presence_topic(p.device_id), presence_bytes(p), retain=True)

    # -- the tick ----------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh_interval
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.tick()
                if loop.time() >= next_refresh:
                    next_refresh = loop.time() + self.refresh_interval
                    await self.refresh()
            except Exception:  # keep ticking; the next tick retries the rules
                log.exception("presence tick failed")

    async def tick(self) -> None:
        """One evaluation at ``clock.now()``: silence, rules, storage, delivery."""
        now = self.clock.now()
        with self._lock:
            changes = self.tracker.tick(now)
        self._changed(changes, None)
        with self._lock:
            signals, self._pending = [*self._pending, *self.engine.tick(now)], []
        for signal in signals:
            await self._settle(signal)

    async def _settle(self, signal: AlertSignal) -> None:
        if self.alerts is None:
            return
        stored = await asyncio.to_thread(self.alerts.apply, signal)
        if stored is None or stored[0] == "folded":
            return
        outcome, record = stored
        event = f"alert.{outcome}"
        delivery_id = record.id if outcome == "raised" else f"{record.id}.resolved"
        body = json.dumps(
            {"event": event, "delivery_id": delivery_id, "alert": alert_json(record)},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        if record.owner_id is not None:
            self._publish(alerts_topic(record.owner_id), body, qos=1)
        if self.webhooks is not None:
            self.webhooks.submit(Delivery(delivery_id, event, body, record.tenant_id))

    def _publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        if self._publisher is None:
            return
        try:
            self._publisher.publish(topic, payload, qos=qos, retain=retain)
        except Exception:  # a publish failure must not lose the state change
            log.exception("presence: cannot publish %s", topic)
