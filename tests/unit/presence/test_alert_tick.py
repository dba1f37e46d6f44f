"""The alert tick's shortcuts change nothing: it agrees with evaluating every rule.

:meth:`AlertEngine.tick` skips online devices no time-based rule can touch and sites
with nobody down (it runs on the hub's loop once a second). A reference engine that
evaluates every site and device is fed the same random history; both must give the same
signals at every tick and end with the same active alerts.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleetward.events import ClientConnected, HubEvent
from fleetward.presence import AlertEngine, AlertSignal, DeviceInfo, PresenceRules, PresenceTracker
from fleetward.presence.model import StatusChange

from ._events import at, connected, disconnected, published
from .test_alerts import RULES


class EveryRule(AlertEngine):
    """The tick as specified: every site, then every device, no shortcut."""

    __slots__ = ()

    def tick(self, now: dt.datetime) -> list[AlertSignal]:
        out: list[AlertSignal] = []
        for site in self._sites:
            out += self._correlate(site, now)
        for dev in self._devices.values():
            out += self._device_rules(dev, now)
        return out


DEVICES = [f"d{i}" for i in range(6)]  # five in one site (its minimum), one alone
STEP = st.tuples(
    st.sampled_from(["connect", "drop", "bye", "publish", "tick", "outage", "recover"]),
    st.sampled_from(DEVICES),
    st.integers(1, 5),  # how many: connects in a row, or site devices at once
    st.one_of(st.floats(0.1, 5.0), st.floats(20.0, 200.0)),  # bursts, then time passes
)


class Twins:
    """A tracker feeding the engine under test and the reference alike."""

    def __init__(self) -> None:
        self.tracker = PresenceTracker(PresenceRules())
        self.fast, self.slow = AlertEngine(RULES), EveryRule(RULES)
        for i, device in enumerate(DEVICES):
            info = DeviceInfo(device, "t1", "o1", "site-a" if i < 5 else None, (), at(0))
            self.tracker.register(info)
            self.fast.register(info)
            self.slow.register(info)

    def feed(self, event: HubEvent) -> None:
        if isinstance(event, ClientConnected):
            self.fast.connected(event.identity or "", "t1", event.at)
            self.slow.connected(event.identity or "", "t1", event.at)
        self.observe(self.tracker.apply(event))

    def observe(self, changes: list[StatusChange]) -> None:
        for change in changes:
            assert self.fast.observe(change) == self.slow.observe(change)

    def tick(self, t: float) -> None:
        self.observe(self.tracker.tick(at(t)))
        assert self.fast.tick(at(t)) == self.slow.tick(at(t))


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=60))
@example(  # a reconnect loop, then quiet: raised, then resolved
    [("connect", "d0", 5, 1.0), ("tick", "d0", 1, 1.0), ("tick", "d0", 1, 200.0)]
)
@example(  # a site outage, then everyone back: opened, then resolved
    [
        ("recover", "d0", 5, 1.0),
        ("outage", "d0", 4, 1.0),
        ("tick", "d0", 1, 40.0),
        ("recover", "d0", 5, 1.0),
        ("tick", "d0", 1, 1.0),
    ]
)
def test_the_tick_agrees_with_evaluating_every_rule(
    steps: list[tuple[str, str, int, float]],
) -> None:
    twins = Twins()
    t = 0.0
    for kind, device, n, gap in steps:
        t += gap
        if kind == "tick":
            twins.tick(t)
        elif kind == "connect":
            for _ in range(n):
                t += 0.5
                twins.feed(connected(device, t))
        elif kind == "publish":
            twins.feed(published(device, t))
        elif kind in ("drop", "bye"):
            twins.feed(disconnected(device, t, "keepalive" if kind == "drop" else "client"))
        else:
            for d in DEVICES[:n]:
                twins.feed(connected(d, t) if kind == "recover" else disconnected(d, t))
        twins.tick(t + 0.25)
    assert twins.fast.active() == twins.slow.active()
