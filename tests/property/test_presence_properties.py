"""Any sequence of hub events keeps presence consistent and its alerts well-formed."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.events import ClientConnected, ClientDisconnected, HubEvent, PublishAccepted
from fleetward.presence import (
    AlertEngine,
    AlertRules,
    DeviceInfo,
    PresenceRules,
    PresenceStatus,
    PresenceTracker,
)

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DEVICES = ["d0", "d1", "d2", "d3", "d4", "d5"]
CLIENTS = ["a", "b"]
MAX_SESSIONS = 4

step = st.tuples(
    st.sampled_from(["connect", "disconnect", "publish", "tick", "report_on", "report_off"]),
    st.sampled_from(DEVICES),
    st.sampled_from(CLIENTS),
    st.floats(min_value=0, max_value=40, allow_nan=False),
    st.sampled_from(["client_disconnect", "keepalive", "socket_closed", "taken_over"]),
)


def _event(kind: str, device: str, client: str, now: dt.datetime, reason: str) -> HubEvent:
    cid = f"{device}-{client}"
    if kind == "connect":
        return ClientConnected(now, cid, device, "t", "tls", 4, "p", None, None, True, 10)
    if kind == "disconnect":
        return ClientDisconnected(now, cid, device, "t", "tls", reason, None, False)
    return PublishAccepted(now, cid, device, "t", f"devices/{device}/x", 0, False, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=80))
def test_any_event_sequence_keeps_invariants(steps: list[tuple[str, str, str, float, str]]) -> None:
    tracker = PresenceTracker(PresenceRules(default_interval=15, max_sessions=MAX_SESSIONS))
    engine = AlertEngine(
        AlertRules(offline_after=30, site_window=10, site_min_devices=3, reconnect_count=3)
    )
    for i, d in enumerate(DEVICES):
        info = DeviceInfo(d, "t", "o", "s1" if i < 4 else "s2", (), T0)
        tracker.register(info)
        engine.register(info)
    now = T0
    open_keys: set[object] = set()
    for kind, device, client, delta, reason in steps:
        now += dt.timedelta(seconds=delta)
        if kind == "tick":
            changes = tracker.tick(now)
        elif kind.startswith("report"):
            gateway = DEVICES[(DEVICES.index(device) + 1) % len(DEVICES)]
            changes = tracker.child_report(gateway, device, online=kind == "report_on", now=now)
        else:
            event = _event(kind, device, client, now, reason)
            if kind == "connect":
                engine.connected(device, "t", now)
            changes = tracker.apply(event)
        signals = [s for c in changes for s in engine.observe(c)] + engine.tick(now)
        for c in changes:
            assert c.old is not c.new
            assert c.new is not PresenceStatus.NEVER_SEEN  # nobody goes back to never seen
        for s in signals:
            if s.action == "raise":
                open_keys.add(s.key)
            else:
                assert s.key in open_keys  # only what was raised can resolve
                open_keys.discard(s.key)
        assert set(engine.active()) == open_keys
    _check_snapshots(tracker)


def _check_snapshots(tracker: PresenceTracker) -> None:
    for p in tracker:
        assert len(p.sessions) <= MAX_SESSIONS
        open_sessions = [s for s in p.sessions if s.ended_at is None]
        online = p.status in (PresenceStatus.ONLINE, PresenceStatus.SILENT)
        if p.connection is not None:
            assert online  # a live connection is never offline
        if p.status is PresenceStatus.OFFLINE:
            assert p.connection is None
            assert p.via_gateway is None
        if not online:
            assert len(open_sessions) == 0 or p.status is PresenceStatus.NEVER_SEEN
