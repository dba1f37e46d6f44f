"""The silence tick's deadline heap changes nothing: it agrees with judging every device.

:meth:`PresenceTracker.tick` looks only at devices whose silence deadline has come (it
runs on the hub's loop once a second). A reference tracker that judges every online
device is fed the same random history (connects, several clients per device, data,
drops, gateway reports, tag changes that shorten or lengthen an interval, deletions);
both must report the same changes, in the same order, at every step.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleetward.presence import DeviceInfo, PresenceRules, PresenceTracker
from fleetward.presence.model import PresenceStatus, StatusChange
from fleetward.presence.state import Trigger

from ._events import at, connected, disconnected, published


class EveryDevice(PresenceTracker):
    """The tick as specified: every online device, judged against its interval."""

    __slots__ = ()

    def tick(self, now: dt.datetime) -> list[StatusChange]:
        changes: list[StatusChange] = []
        for device_id, entry in self._entries.items():
            if entry.status is not PresenceStatus.ONLINE or entry.last_seen is None:
                continue
            interval = self.rules.interval_for(device_id, entry.info.tags)
            if interval is not None and (now - entry.last_seen).total_seconds() > interval:
                changes += self._move(entry, Trigger.SILENCE, now, "silence")
        return changes


RULES = PresenceRules(
    default_interval=10.0,
    interval_by_tag={"fast": 2.5, "slow": 60.0, "odd": 0.3333337},
    interval_by_device={"d0": 4.0},
)
DEVICES = [f"d{i}" for i in range(6)]
TAGS = st.sampled_from([(), ("fast",), ("slow",), ("fast", "slow"), ("odd",)])
STEP = st.tuples(
    st.sampled_from(
        ["connect", "connect2", "drop", "drop2", "publish", "tick", "tags", "forget", "child"]
    ),
    st.sampled_from(DEVICES),
    TAGS,
    st.one_of(st.floats(0.0, 1.0), st.floats(1.0, 12.0), st.just(0.3333337)),
)


class Twins:
    def __init__(self) -> None:
        self.fast, self.slow = PresenceTracker(RULES), EveryDevice(RULES)
        self.t = 0.0
        for device in DEVICES:
            self.register(DeviceInfo(device, "t1", "o1", None, (), at(0)))

    def register(self, info: DeviceInfo) -> None:
        self.fast.register(info)
        self.slow.register(info)

    def both(self, name: str, *args: object, **kw: object) -> None:
        mine = getattr(self.fast, name)(*args, **kw)
        theirs = getattr(self.slow, name)(*args, **kw)
        assert mine == theirs, (name, args)

    def step(self, kind: str, device: str, tags: tuple[str, ...], dt_s: float) -> None:
        self.t += dt_s
        t = self.t
        match kind:
            case "connect" | "connect2":
                client = device if kind == "connect" else f"{device}-b"
                self.both("apply", connected(device, t, client=client))
            case "drop" | "drop2":
                client = device if kind == "drop" else f"{device}-b"
                self.both("apply", disconnected(device, t, client=client))
            case "publish":
                self.both("apply", published(device, t))
            case "tick":
                self.both("tick", at(t))
            case "tags":
                self.register(DeviceInfo(device, "t1", "o1", None, tags, at(0)))
            case "forget":
                self.both("forget", device)
            case "child":  # d5 is the gateway; it reports another device present or gone
                online = tags != ()
                self.both("child_report", "d5", device, online=online, now=at(t))
        assert [p.status for p in self.fast] == [p.status for p in self.slow]


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=80))
@example(  # silent, heard from again, silent again
    [
        ("connect", "d1", (), 0.0),
        ("tick", "d1", (), 10.5),
        ("publish", "d1", (), 0.1),
        ("tick", "d1", (), 5.0),
        ("tick", "d1", (), 5.5),
    ]
)
@example(  # a tag that shortens the interval of a device already waiting
    [
        ("connect", "d2", (), 0.0),
        ("tags", "d2", ("fast",), 0.1),
        ("tick", "d2", (), 2.5),
        ("tick", "d2", (), 0.0),
    ]
)
@example(  # an interval that does not fall on a microsecond
    [("connect", "d3", (), 0.0), ("tags", "d3", ("odd",), 0.0), ("tick", "d3", (), 0.3333337)]
)
def test_the_deadline_tick_agrees_with_judging_every_device(
    steps: list[tuple[str, str, tuple[str, ...], float]],
) -> None:
    twins = Twins()
    for step in steps:
        twins.step(*step)
    twins.step("tick", "d0", (), 100.0)  # whatever is left falls silent in both


def test_a_busy_device_keeps_one_deadline() -> None:
    tracker = PresenceTracker(RULES)
    tracker.apply(connected("d1", 0))
    for i in range(1, 1000):
        tracker.apply(published("d1", i / 100))
    assert len(tracker._deadlines) == 1
    assert len(tracker._deadlines._heap) == 1
    assert tracker.tick(at(15)) == []  # heard from at 9.99: not silent yet
    (change,) = tracker.tick(at(20))
    assert change.new is PresenceStatus.SILENT
