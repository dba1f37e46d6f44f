"""Presence with a real broker and real paho clients over TLS.

A device that vanishes is offline within 1.5x its keepalive and its will goes out; a
socket killed under the client and a clean DISCONNECT are offline at once; a device that
stays connected but sends nothing is flagged silent. Owners read all of it from the
retained ``$fleet/presence/{device_id}`` topic (olivia's grant).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetward.events import ClientDisconnected

from ...support.broker import LiveBroker, live_broker
from ..broker._clients import ALICE, Paho, wait_event, wait_until

OLIVIA = ("olivia", "olivia-pw")


@pytest.fixture
def presence_broker(tmp_path: Path) -> Iterator[LiveBroker]:
    """A live broker whose presence monitor ticks fast and expects data every 1.5 s."""
    with live_broker(
        tmp_path / "broker",
        FLEETWARD_PRESENCE__TICK_INTERVAL="0.1",
        FLEETWARD_PRESENCE__EXPECTED_INTERVAL="1.5",
    ) as b:
        yield b


def _owner(lb: LiveBroker, device: str) -> Paho:
    watcher = Paho(lb, user=OLIVIA, client_id="olivia-dash").connected()
    assert watcher.subscribe(f"$fleet/presence/{device}", qos=1) == [1]
    return watcher


def _next_status(watcher: Paho, status: str, timeout: float = 5.0) -> dict[str, Any]:
    """Read presence messages until one says ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        message = watcher.get(max(0.01, deadline - time.monotonic()))
        body: dict[str, Any] = json.loads(message.payload)
        if body["status"] == status:
            return body


def _will_watcher(lb: LiveBroker) -> Paho:
    w = Paho(lb).connected()  # anonymous, on the plain listener
    w.subscribe("devices/alice/status", qos=1)
    return w


def test_online_message_carries_the_connection_facts(presence_broker: LiveBroker) -> None:
    owner = _owner(presence_broker, "alice")
    alice = Paho(presence_broker, user=ALICE, client_id="alice-1").connected()
    try:
        body = _next_status(owner, "online")
        c = body["connection"]
        assert (c["client_id"], c["listener"], c["protocol_version"]) == ("alice-1", "tls", 5)
        assert c["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert c["peer"].startswith("127.0.0.1")
        assert body["online"] is True
    finally:
        alice.close()
        owner.close()


def test_vanished_client_is_offline_within_one_and_a_half_keepalives(
    presence_broker: LiveBroker,
) -> None:
    owner = _owner(presence_broker, "alice")
    wills = _will_watcher(presence_broker)
    alice = Paho(presence_broker, user=ALICE, client_id="alice-ka")
    alice.connected(keepalive=2, will=("devices/alice/status", b"gone", 1, False, None))
    _next_status(owner, "online")
    try:
        # the network goes away: no DISCONNECT, no FIN, no more PINGREQ
        alice.client.loop_stop()
        t0 = time.monotonic()
        body = _next_status(owner, "offline", timeout=6)
        elapsed = time.monotonic() - t0
        assert elapsed <= 1.5 * 2 + 1, elapsed  # the scheduling slack of the broker test
        assert wills.get().payload == b"gone"
        event = wait_event(presence_broker, ClientDisconnected, client_id="alice-ka")
        assert (event.reason, event.will_pending) == ("keepalive", True)
        assert body["connection"] is None
        p = presence_broker.hub.presence.get("alice")  # type: ignore[union-attr]
        assert p is not None
        assert p.sessions[-1].end_reason == "keepalive"
    finally:
        alice.client.socket().close()  # type: ignore[union-attr]
        wills.close()
        owner.close()


def test_killed_socket_is_offline_at_once_and_its_will_is_published(
    presence_broker: LiveBroker,
) -> None:
    owner = _owner(presence_broker, "alice")
    wills = _will_watcher(presence_broker)
    alice = Paho(presence_broker, user=ALICE, client_id="alice-kill")
    alice.connected(keepalive=30, will=("devices/alice/status", b"killed", 1, False, None))
    _next_status(owner, "online")
    try:
        alice.kill()
        body = _next_status(owner, "offline", timeout=1.5 * 30)
        assert wills.get().payload == b"killed"
        assert body["last_seen"] is not None
        # well inside 1.5 x keepalive (45 s): the broker saw the socket end
        p = presence_broker.hub.presence.get("alice")  # type: ignore[union-attr]
        assert p is not None
        assert p.sessions[-1].end_reason != "client_disconnect"
    finally:
        wills.close()
        owner.close()


def test_clean_disconnect_is_offline_at_once(tmp_path: Path) -> None:
    # a tick of a minute: only the event path can report the change in time
    with live_broker(tmp_path / "b", FLEETWARD_PRESENCE__TICK_INTERVAL="60") as lb:
        owner = _owner(lb, "alice")
        alice = Paho(lb, user=ALICE, client_id="alice-bye").connected()
        _next_status(owner, "online")
        alice.disconnect()
        body = _next_status(owner, "offline", timeout=2)
        assert body["connection"] is None
        p = lb.hub.presence.get("alice")  # type: ignore[union-attr]
        assert p is not None
        assert p.sessions[-1].end_reason == "client_disconnect"
        owner.close()


def test_connected_but_silent_device_is_flagged_and_data_clears_it(
    presence_broker: LiveBroker,
) -> None:
    owner = _owner(presence_broker, "alice")
    alice = Paho(presence_broker, user=ALICE, client_id="alice-quiet").connected(keepalive=1)
    try:
        alice.publish("devices/alice/telemetry/t", b"21.5", qos=1)
        _next_status(owner, "online")
        body = _next_status(owner, "silent", timeout=5)  # PINGREQs are not data
        assert body["online"] is True  # connected, just quiet
        wait_until(
            lambda: presence_broker.hub.presence.get("alice").status.value == "silent",  # type: ignore[union-attr]
            what="silent",
        )
        alice.publish("devices/alice/telemetry/t", b"21.6", qos=1)
        _next_status(owner, "online", timeout=3)
    finally:
        alice.close()
        owner.close()


def test_presence_topic_is_only_for_granted_readers(presence_broker: LiveBroker) -> None:
    bob = Paho(presence_broker, user=("bob", "bob-pw"), client_id="bob-peek").connected()
    try:
        assert bob.subscribe("$fleet/presence/alice", qos=1) == [0x87]
        bob.assert_silent(0.3)
    finally:
        bob.close()


def test_anonymous_clients_leave_no_presence_state(presence_broker: LiveBroker) -> None:
    """Open-policy clients are not devices: no presence, no reconnect-loop history.

    (Each of their CONNECTs used to add a timestamp to an ``anonymous`` pseudo-device.)
    A user's connect is still counted.
    """
    monitor = presence_broker.hub.presence
    assert monitor is not None
    for i in range(5):
        c = Paho(presence_broker, client_id=f"anon-{i}").connected()
        c.disconnect()
        wait_event(presence_broker, ClientDisconnected, client_id=f"anon-{i}")
    alice = Paho(presence_broker, user=ALICE, client_id="alice-1").connected()
    wait_until(lambda: monitor.get("alice") is not None, what="alice's presence")
    engine_devices = presence_broker.call(lambda: set(monitor.engine._devices))
    assert "anonymous" not in engine_devices
    assert "alice" in engine_devices
    assert monitor.get("anonymous") is None
    alice.disconnect()
