"""Alert rules: per-device rules, site correlation without a storm, tampering, resolves."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.events import HubEvent
from fleetward.presence import (
    AlertEngine,
    AlertKind,
    AlertRules,
    AlertSignal,
    DeviceInfo,
    PresenceRules,
    PresenceTracker,
)

from ._events import at, connected, disconnected, published

K = AlertKind
RULES = AlertRules(
    offline_after=120,
    never_connected_after=3600,
    reconnect_count=4,
    reconnect_window=60,
    site_window=30,
    site_share=0.5,
    site_min_devices=5,
    healthy_share=0.8,
)


class Fleet:
    """A tracker and an engine fed together, as the monitor does."""

    def __init__(self, rules: AlertRules = RULES, presence: PresenceRules | None = None) -> None:
        self.tracker = PresenceTracker(presence or PresenceRules())
        self.engine = AlertEngine(rules)
        self.signals: list[AlertSignal] = []

    def add(self, device: str, site: str | None, *, created: float = 0, owner: str = "o1") -> None:
        info = DeviceInfo(device, "t1", owner, site, (), at(created))
        self.tracker.register(info)
        self.engine.register(info)

    def feed(self, event: HubEvent) -> None:
        if event.__class__.__name__ == "ClientConnected":
            self.engine.connected(event.identity or "", "t1", event.at)  # type: ignore[union-attr]
        for change in self.tracker.apply(event):
            self.signals += self.engine.observe(change)

    def tick(self, t: float) -> list[AlertSignal]:
        for change in self.tracker.tick(at(t)):
            self.signals += self.engine.observe(change)
        out = self.engine.tick(at(t))
        self.signals += out
        return out

    def raised(self, kind: AlertKind | None = None) -> list[AlertSignal]:
        return [s for s in self.signals if s.action == "raise" and kind in (None, s.key.kind)]

    def resolved(self, kind: AlertKind) -> list[AlertSignal]:
        return [s for s in self.signals if s.action == "resolve" and s.key.kind is kind]


def sixty_devices() -> Fleet:
    fleet = Fleet()
    for site in ("north", "south", "east"):
        for i in range(20):
            device = f"{site}-{i:02d}"
            fleet.add(device, site)
            fleet.feed(connected(device, 1))
    fleet.tick(2)
    return fleet


def test_site_outage_is_one_alert_without_a_per_device_storm() -> None:
    fleet = sixty_devices()
    # north loses power: 18 of its 20 devices vanish within 10 s (keepalive expiry)
    for i in range(18):
        fleet.feed(disconnected(f"north-{i:02d}", 10 + i * 0.5))
    for t in range(11, 400, 1):
        fleet.tick(t)
    outages = fleet.raised(K.SITE_OUTAGE)
    assert len({s.key for s in outages}) == 1
    assert outages[0].key.subject == "north"
    assert outages[0].details["offline"] >= 10
    per_device = [s for s in fleet.raised() if s.key.kind is not K.SITE_OUTAGE]
    assert per_device == []  # no offline, no tampering for the covered devices


def test_lone_device_in_a_healthy_site_is_possible_tampering() -> None:
    fleet = sixty_devices()
    fleet.feed(disconnected("east-07", 50, "socket_closed"))
    held = [fleet.tick(t) for t in range(51, 80)]
    assert all(s == [] for s in held[:28])  # nothing during the hold-down
    fleet.tick(81)
    tamper = fleet.raised(K.POSSIBLE_TAMPERING)
    assert [s.key.subject for s in tamper] == ["east-07"]
    assert tamper[0].details["reason"] == "socket_closed"
    assert fleet.raised(K.SITE_OUTAGE) == []
    fleet.tick(200)
    assert [s.key.subject for s in fleet.raised(K.OFFLINE)] == ["east-07"]
    # it comes back: both alerts resolve on their own
    fleet.feed(connected("east-07", 210))
    back = fleet.resolved(K.POSSIBLE_TAMPERING) + fleet.resolved(K.OFFLINE)
    assert {s.key.kind for s in back} == {K.POSSIBLE_TAMPERING, K.OFFLINE}


def test_outage_and_lone_drop_together() -> None:
    fleet = sixty_devices()
    for i in range(20):
        fleet.feed(disconnected(f"south-{i:02d}", 20 + i * 0.2))
    fleet.feed(disconnected("north-03", 22, "keepalive"))
    for t in range(21, 300, 2):
        fleet.tick(t)
    kinds = sorted((s.key.kind.value, s.key.subject) for s in fleet.raised())
    assert ("site_outage", "south") in kinds
    assert ("possible_tampering", "north-03") in kinds
    assert ("offline", "north-03") in kinds
    assert not any(subject.startswith("south-") for _, subject in kinds)


def test_clean_disconnect_is_not_tampering_but_still_offline() -> None:
    fleet = sixty_devices()
    fleet.feed(disconnected("east-01", 10, "client_disconnect"))
    for t in range(11, 140, 5):
        fleet.tick(t)
    assert fleet.raised(K.POSSIBLE_TAMPERING) == []
    assert [s.key.subject for s in fleet.raised(K.OFFLINE)] == ["east-01"]


def test_late_drops_fold_into_the_open_outage_and_it_resolves_on_recovery() -> None:
    fleet = sixty_devices()
    for i in range(12):
        fleet.feed(disconnected(f"north-{i:02d}", 10))
    fleet.tick(12)
    fleet.feed(disconnected("north-15", 100))
    fleet.tick(101)
    outage = fleet.raised(K.SITE_OUTAGE)
    assert len(outage) == 2  # the second is new evidence, folded by the store into one alert
    assert outage[0].key == outage[1].key
    assert fleet.raised(K.OFFLINE) == []
    for i in range(12):
        fleet.feed(connected(f"north-{i:02d}", 200))
    fleet.tick(201)
    assert [s.key.subject for s in fleet.resolved(K.SITE_OUTAGE)] == ["north"]


def test_offline_alert_waits_n_seconds_and_is_raised_once() -> None:
    fleet = Fleet()
    fleet.add("d1", None)
    fleet.feed(connected("d1", 0))
    fleet.feed(disconnected("d1", 10))
    assert fleet.tick(129) == []
    assert [s.key.kind for s in fleet.tick(130)] == [K.OFFLINE]
    assert fleet.tick(500) == []  # deduplicated: one condition, one raise


def test_silent_alert_and_its_resolution_on_data() -> None:
    fleet = Fleet(presence=PresenceRules(default_interval=20))
    fleet.add("d1", None)
    fleet.feed(connected("d1", 0))
    fleet.tick(21)
    assert [s.key.kind for s in fleet.raised()] == [K.SILENT]
    fleet.feed(published("d1", 22))
    assert [s.key.kind for s in fleet.resolved(K.SILENT)] == [K.SILENT]


def test_never_connected_since_provisioning() -> None:
    fleet = Fleet()
    fleet.add("d1", None, created=0)
    assert fleet.tick(3599) == []
    assert [s.key.kind for s in fleet.tick(3600)] == [K.NEVER_CONNECTED]
    fleet.feed(connected("d1", 3700))
    assert len(fleet.resolved(K.NEVER_CONNECTED)) == 1


def test_reconnect_loop_raises_once_then_resolves_when_stable() -> None:
    fleet = Fleet()
    fleet.add("d1", None)
    for i in range(4):
        fleet.feed(connected("d1", i * 5))
        fleet.feed(disconnected("d1", i * 5 + 1, "socket_closed"))
    fleet.feed(connected("d1", 20))
    fleet.tick(21)
    fleet.tick(22)
    assert [s.key.kind for s in fleet.raised(K.RECONNECT_LOOP)] == [K.RECONNECT_LOOP]
    fleet.tick(200)
    assert len(fleet.resolved(K.RECONNECT_LOOP)) == 1


def test_small_sites_are_never_judged() -> None:
    fleet = Fleet()
    for i in range(3):
        fleet.add(f"s-{i}", "tiny")
        fleet.feed(connected(f"s-{i}", 0))
    for i in range(3):
        fleet.feed(disconnected(f"s-{i}", 5))
    fleet.tick(100)
    assert fleet.raised(K.SITE_OUTAGE) == []
    assert fleet.raised(K.POSSIBLE_TAMPERING) == []


def test_engine_is_deterministic() -> None:
    def run() -> list[tuple[str, str, str, dt.datetime]]:
        fleet = sixty_devices()
        for i in range(15):
            fleet.feed(disconnected(f"south-{i:02d}", 10 + i))
        fleet.feed(disconnected("east-02", 11))
        for t in range(12, 300, 3):
            fleet.tick(t)
        return [(s.action, s.key.kind, s.key.subject, s.at) for s in fleet.signals]

    assert run() == run()


@pytest.mark.parametrize(
    "bad",
    [{"site_share": 0}, {"healthy_share": 1.5}, {"reconnect_count": 1}, {"site_window": 0}],
)
def test_bad_rules_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(Exception) as e:  # noqa: PT011
        AlertRules(**bad)  # type: ignore[arg-type]
    assert getattr(e.value, "code", "").startswith("alerts.")


def test_a_forgotten_device_leaves_its_site_and_its_alerts() -> None:
    fleet = sixty_devices()
    fleet.feed(disconnected("east-05", 10, "socket_closed"))
    fleet.tick(50)
    assert [s.key.subject for s in fleet.raised(K.POSSIBLE_TAMPERING)] == ["east-05"]
    fleet.engine.forget("east-05")
    assert all(k.subject != "east-05" for k in fleet.engine.active())
    assert fleet.tick(500) == []  # no offline alert for a device that no longer exists
