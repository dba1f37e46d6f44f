"""``GET …/devices/{d}/telemetry`` and ``GET …/owners/{o}/export`` over real HTTPS."""

from __future__ import annotations

import base64
import datetime as dt

from fleetward.history import Pending

from ...support.api import assert_problem, make_owner, ok
from ...support.hub import LiveHub


def _store(hub: LiveHub, tenant_id: str, device_id: str, payloads: list[bytes]) -> None:
    now = hub.clock.now()
    hub.hub.data.history().store_batch(
        [
            Pending(
                tenant_id, device_id, "temp", now + dt.timedelta(seconds=i), dt.timedelta(days=1), p
            )
            for i, p in enumerate(payloads)
        ]
    )


def test_owner_reads_only_its_own_devices_history(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "acme")
        b = make_owner(hub, op, "acme", tenant_id=a.tenant_id)
        _store(hub, a.tenant_id, a.device_id, [b"a0", b"a1", b"a2"])
        _store(hub, b.tenant_id, b.device_id, [b"b0"])
        with hub.client(a.token) as alice:
            url = f"/v1/tenants/{a.tenant_id}/devices/{a.device_id}/telemetry"
            items = ok(alice.get(url))["items"]
            assert [base64.b64decode(i["payload_b64"]) for i in items] == [b"a0", b"a1", b"a2"]
            assert all(i["sealed"] is False and i["stream"] == "temp" for i in items)
            limited = ok(alice.get(url, params={"limit": 1, "since": items[1]["received_at"]}))
            assert [i["payload_b64"] for i in limited["items"]] == [items[1]["payload_b64"]]
            assert ok(alice.get(url, params={"stream": "rpm"}))["items"] == []
            other = f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}/telemetry"
            assert_problem(alice.get(other), 404)  # bob's device: like an unknown id
            assert_problem(alice.get(url, params={"limit": 0}), 422)
            # the export: the owner's own, not bob's
            mine = ok(alice.get(f"/v1/tenants/{a.tenant_id}/owners/{a.owner_id}/export"))
            assert mine["owner"]["id"] == a.owner_id
            assert len(mine["telemetry"]) == 3
            assert b.device_id not in str(mine)
            assert_problem(alice.get(f"/v1/tenants/{a.tenant_id}/owners/{b.owner_id}/export"), 404)
        # the operator reads either
        theirs = ok(op.get(f"/v1/tenants/{b.tenant_id}/owners/{b.owner_id}/export"))
        assert [base64.b64decode(r["payload_b64"]) for r in theirs["telemetry"]] == [b"b0"]
    with hub.client() as anonymous:
        assert_problem(anonymous.get(f"/v1/tenants/{a.tenant_id}/owners/{a.owner_id}/export"), 401)
