"""REST presence and alerts over real HTTPS: tenant and owner scoping, summary, ack/resolve."""

from __future__ import annotations

import asyncio
import datetime as dt

from fleetward.events import ClientConnected, ClientDisconnected
from fleetward.presence import PresenceMonitor

from ...support.api import assert_problem, make_owner, ok
from ...support.hub import LiveHub


def _connect(hub: LiveHub, device: str, at: dt.datetime) -> None:
    hub.hub.events.publish(
        ClientConnected(
            at, device, device, None, "tls", 5, "10.1.2.3:4444", "TLSv1.3", "7f", True, 60
        )
    )


def _drop(hub: LiveHub, device: str, at: dt.datetime) -> None:
    hub.hub.events.publish(
        ClientDisconnected(at, device, device, None, "tls", "keepalive", None, True)
    )


def _monitor(hub: LiveHub) -> PresenceMonitor:
    monitor = hub.hub.presence
    assert monitor is not None
    return monitor


def test_presence_summary_and_alert_lifecycle(hub: LiveHub) -> None:
    monitor = _monitor(hub)
    monitor.attach(hub.hub.events)  # the broker is not running here; events come by hand
    with hub.operator() as op:
        alice = make_owner(hub, op, "acme")
        bob = make_owner(hub, op, "globex")
        with hub.client(alice.token) as c:
            second = ok(
                c.post(f"/v1/tenants/{alice.tenant_id}/devices", json={"name": "d2", "site": "s2"}),
                201,
            )["id"]
    asyncio.run(monitor.refresh())
    t0 = hub.clock.now()
    _connect(hub, alice.device_id, t0)
    base = f"/v1/tenants/{alice.tenant_id}"
    with hub.client(alice.token) as c:
        body = ok(c.get(f"{base}/devices/{alice.device_id}/presence"))
        assert body["status"] == "online"
        assert body["connection"]["tls_version"] == "TLSv1.3"
        assert body["connection"]["cert_serial"] == "7f"
        assert body["sessions"][0]["ended_at"] is None
        assert ok(c.get(f"{base}/devices/{second}/presence"))["status"] == "never_seen"
        summary = ok(c.get(f"{base}/fleet/summary"))
        assert summary["total"] == 2
        assert summary["by_status"]["online"] == 1
        assert summary["by_site"]["s1"]["online"] == 1
        assert summary["by_site"]["s2"]["never_seen"] == 1

    # the device drops; after the hold-down and offline_after an offline alert is stored
    _drop(hub, alice.device_id, t0 + dt.timedelta(seconds=1))
    hub.clock.advance(dt.timedelta(seconds=400))
    asyncio.run(monitor.tick())
    with hub.client(alice.token) as c:
        alerts = ok(c.get(f"{base}/alerts", params={"state": "open"}))["items"]
        assert [(a["kind"], a["device_id"]) for a in alerts] == [("offline", alice.device_id)]
        alert_id = alerts[0]["id"]
        acked = ok(c.post(f"{base}/alerts/{alert_id}/ack"))
        assert acked["state"] == "acknowledged"
        assert acked["acknowledged_by"].startswith("key:")
        assert_problem(c.post(f"{base}/alerts/{alert_id}/ack"), 409, "alert.illegal_transition")
        resolved = ok(c.post(f"{base}/alerts/{alert_id}/resolve"))
        assert resolved["state"] == "resolved"
        assert_problem(c.post(f"{base}/alerts/{alert_id}/resolve"), 409)
        assert ok(c.get(f"{base}/alerts", params={"state": "open"}))["items"] == []

    # another tenant's owner sees none of it: 404, exactly like an unknown id
    with hub.client(bob.token) as c:
        assert_problem(c.get(f"{base}/devices/{alice.device_id}/presence"), 404)
        assert_problem(c.get(f"{base}/fleet/summary"), 404)
        assert_problem(c.get(f"{base}/alerts"), 404)
        other = f"/v1/tenants/{bob.tenant_id}"
        assert_problem(c.post(f"{other}/alerts/{alert_id}/ack"), 404, "alert.not_found")
        assert_problem(c.get(f"{other}/devices/{alice.device_id}/presence"), 404)
        assert ok(c.get(f"{other}/alerts"))["items"] == []

    # a deleted device is forgotten at the next registry refresh
    with hub.client(alice.token) as c:
        ok(c.delete(f"{base}/devices/{second}"), 204)
    assert monitor.get(second) is not None
    asyncio.run(monitor.refresh())
    assert monitor.get(second) is None
    assert monitor.get(alice.device_id) is not None


def test_metrics_count_devices_by_status_without_labels_that_identify(hub: LiveHub) -> None:
    monitor = _monitor(hub)
    monitor.attach(hub.hub.events)
    _connect(hub, "m1", hub.clock.now())
    _connect(hub, "m2", hub.clock.now())
    _drop(hub, "m2", hub.clock.now())
    with hub.client() as c:
        text = c.get("/metrics").text
    assert 'fleetward_presence_devices{status="online"} 1.0' in text
    assert 'fleetward_presence_devices{status="offline"} 1.0' in text
    assert "m1" not in text


def test_presence_needs_a_key(hub: LiveHub) -> None:
    with hub.client() as c:
        assert_problem(c.get("/v1/tenants/x/fleet/summary"), 401)
