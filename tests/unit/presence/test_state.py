"""The presence state machine: its table, connection facts, silence, history, gateways."""

from __future__ import annotations

import pytest

from fleetward.presence import (
    DeviceInfo,
    IllegalTransitionError,
    PresenceRules,
    PresenceStatus,
    PresenceTracker,
    Trigger,
    transition,
)

from ._events import T0, at, connected, disconnected, published

S = PresenceStatus


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [
        (S.NEVER_SEEN, Trigger.CONNECT, S.ONLINE),
        (S.OFFLINE, Trigger.CONNECT, S.ONLINE),
        (S.SILENT, Trigger.DATA, S.ONLINE),
        (S.ONLINE, Trigger.SILENCE, S.SILENT),
        (S.ONLINE, Trigger.LAST_DISCONNECT, S.OFFLINE),
        (S.SILENT, Trigger.LAST_DISCONNECT, S.OFFLINE),
    ],
)
def test_table_allows(status: S, trigger: Trigger, expected: S) -> None:
    assert transition(status, trigger) is expected


@pytest.mark.parametrize(
    ("status", "trigger"),
    [
        (S.NEVER_SEEN, Trigger.DATA),
        (S.NEVER_SEEN, Trigger.LAST_DISCONNECT),
        (S.OFFLINE, Trigger.DATA),
        (S.OFFLINE, Trigger.SILENCE),
        (S.SILENT, Trigger.SILENCE),
        (S.OFFLINE, Trigger.LAST_DISCONNECT),
    ],
)
def test_table_refuses(status: S, trigger: Trigger) -> None:
    with pytest.raises(IllegalTransitionError) as e:
        transition(status, trigger)
    assert e.value.code == "presence.illegal_transition"


def test_registered_device_starts_never_seen_and_connect_records_facts() -> None:
    t = PresenceTracker(PresenceRules())
    t.register(DeviceInfo("d1", "t1", "o1", "plant-1", ("hvac",), T0))
    assert t.get("d1").status is S.NEVER_SEEN  # type: ignore[union-attr]
    changes = t.apply(connected("d1", 5))
    assert [(c.old, c.new, c.reason) for c in changes] == [(S.NEVER_SEEN, S.ONLINE, "connect")]
    p = t.get("d1")
    assert p is not None
    assert p.status is S.ONLINE
    assert p.since == at(5)
    assert p.site == "plant-1"
    assert p.connection is not None
    assert (p.connection.listener, p.connection.tls_version, p.connection.cert_serial) == (
        "tls",
        "TLSv1.3",
        "0a1b",
    )
    assert p.connection.peer == "10.0.0.9:50000"


def test_disconnect_marks_offline_and_closes_the_session_record() -> None:
    t = PresenceTracker(PresenceRules())
    t.apply(connected("d1", 0))
    changes = t.apply(disconnected("d1", 7, "client_disconnect"))
    assert [(c.new, c.reason) for c in changes] == [(S.OFFLINE, "client_disconnect")]
    p = t.get("d1")
    assert p is not None
    assert p.connection is None
    assert p.sessions[-1].ended_at == at(7)
    assert p.sessions[-1].end_reason == "client_disconnect"


def test_device_with_two_connections_stays_online_until_the_last_goes() -> None:
    t = PresenceTracker(PresenceRules())
    t.apply(connected("d1", 0, client="a"))
    t.apply(connected("d1", 1, client="b"))
    assert t.apply(disconnected("d1", 2, client="a")) == []
    assert t.get("d1").status is S.ONLINE  # type: ignore[union-attr]
    assert [c.new for c in t.apply(disconnected("d1", 3, client="b"))] == [S.OFFLINE]


def test_take_over_order_disconnect_then_connect_ends_online() -> None:
    t = PresenceTracker(PresenceRules())
    t.apply(connected("d1", 0))
    t.apply(disconnected("d1", 1, "taken_over"))
    t.apply(connected("d1", 1))
    assert t.get("d1").status is S.ONLINE  # type: ignore[union-attr]


def test_silence_by_tag_then_data_brings_it_back() -> None:
    rules = PresenceRules(default_interval=600, interval_by_tag={"meter": 10, "slow": 60})
    t = PresenceTracker(rules)
    t.register(DeviceInfo("d1", "t1", tags=("meter", "slow")))
    t.apply(connected("d1", 0))
    assert t.tick(at(10)) == []  # exactly the interval is not yet silence
    assert [c.new for c in t.tick(at(10.5))] == [S.SILENT]
    assert t.tick(at(20)) == []  # no repeat
    assert [c.new for c in t.apply(published("d1", 21))] == [S.ONLINE]
    assert t.tick(at(30)) == []


def test_device_interval_overrides_tags_and_none_means_never_silent() -> None:
    rules = PresenceRules(interval_by_tag={"meter": 10}, interval_by_device={"d1": 100})
    assert rules.interval_for("d1", ("meter",)) == 100
    assert rules.interval_for("d2", ("meter",)) == 10
    assert rules.interval_for("d3", ()) is None
    t = PresenceTracker(rules)
    t.apply(connected("d3", 0))
    assert t.tick(at(10_000)) == []


def test_history_is_bounded() -> None:
    t = PresenceTracker(PresenceRules(max_sessions=3))
    for i in range(10):
        t.apply(connected("d1", 2 * i))
        t.apply(disconnected("d1", 2 * i + 1))
    p = t.get("d1")
    assert p is not None
    assert len(p.sessions) == 3
    assert p.sessions[0].started_at == at(14)


def test_stray_events_are_counted_not_applied() -> None:
    t = PresenceTracker(PresenceRules())
    assert t.apply(published("ghost", 1)) == []
    assert t.apply(disconnected("ghost", 2)) == []
    assert t.stray_events == 2
    assert t.get("ghost") is None


def test_device_bound_refuses_new_devices() -> None:
    t = PresenceTracker(PresenceRules(max_devices=2))
    for d in ("a", "b", "c"):
        t.apply(connected(d, 0))
    assert len(t) == 2
    assert t.get("c") is None


def test_gateway_children_follow_reports_and_the_gateway() -> None:
    t = PresenceTracker(PresenceRules())
    assert t.child_report("gw", "c1", online=True, now=at(0)) == []  # gateway not connected
    t.apply(connected("gw", 1))
    assert [c.new for c in t.child_report("gw", "c1", online=True, now=at(2))] == [S.ONLINE]
    t.child_report("gw", "c2", online=True, now=at(2))
    assert [c.new for c in t.child_report("gw", "c2", online=False, now=at(3))] == [S.OFFLINE]
    assert t.get("c1").via_gateway == "gw"  # type: ignore[union-attr]
    changes = t.apply(disconnected("gw", 4))
    assert [(c.device_id, c.new, c.reason) for c in changes] == [
        ("gw", S.OFFLINE, "keepalive"),
        ("c1", S.OFFLINE, "gateway_offline"),
    ]


def test_bad_rules_are_refused() -> None:
    with pytest.raises(Exception, match="positive") as e:
        PresenceRules(interval_by_tag={"x": 0})
    assert getattr(e.value, "code", None) == "presence.bad_interval"


def test_anonymous_clients_are_not_devices() -> None:
    t = PresenceTracker(PresenceRules())
    assert t.apply(connected("anonymous", 0)) == []
    assert len(t) == 0


def test_data_events_are_only_needed_when_silence_is_watched() -> None:
    assert not PresenceRules().watches_data
    assert PresenceRules(interval_by_tag={"meter": 5}).watches_data
    assert PresenceRules(default_interval=60).watches_data
