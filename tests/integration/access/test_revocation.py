"""Revocation that really cuts (issue 4): live sessions lose their rights at once.

The central test floods a subscribed device and revokes it mid-flood: once ``revoke``
returns, not one message published after that moment reaches it, its connection is
closed (0x87 for MQTT 5), and it cannot come back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from fleetward.access.policy import DeviceLimits
from fleetward.errors import NotFoundError, StorageError
from fleetward.registry import EntityStatus, Scope

from ...support.broker import live_broker
from ..broker._clients import wait_until
from ._fleet import MTLS, Fleet

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


def _flood(pub: object, topic: str, stop: threading.Event, sent: list[float]) -> None:
    """Publish numbered messages as fast as paho takes them; note each one's send time."""
    n = 0
    while not stop.is_set():
        sent.append(time.monotonic())
        pub.client.publish(topic, str(n).encode(), qos=0)  # type: ignore[attr-defined]
        n += 1
        if n % 200 == 0:
            time.sleep(0.001)


def test_revoking_a_device_under_a_flood_stops_delivery_and_cuts_it(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    owner = fleet.owner(tenant)
    target = fleet.enroll(tenant, fleet.device(tenant, owner))
    app = fleet.access.rules.mint_app_token(
        Scope(tenant), "console-app", "test", publish=(f"devices/{target.device_id}/commands/#",)
    )
    sub = fleet.device_client(target)
    assert sub.subscribe(f"devices/{target.device_id}/commands/#", 0) == [0]
    pub = fleet.client(client_id="flooder", username="console-app", password=app.token).connected()
    stop, sent = threading.Event(), []
    flooder = threading.Thread(
        target=_flood, args=(pub, f"devices/{target.device_id}/commands/go", stop, sent)
    )
    flooder.start()
    try:
        first = sub.get(timeout=10)  # deliveries are flowing
        assert first.payload
        time.sleep(0.2)
        fleet.access.devices.revoke_device(Scope(tenant), target.device_id, "test")
        returned = time.monotonic()
        sent_before = sum(1 for t in sent if t <= returned)
        time.sleep(0.5)  # the flood goes on after the revoke
    finally:
        stop.set()
        flooder.join(5)
    assert len(sent) > sent_before  # messages were published after the revoke returned
    assert sub.wait_disconnect() == NOT_AUTHORIZED
    # Every message the device got was published before the revoke returned.
    got = []
    while not sub.messages.empty():
        got.append(int(sub.messages.get().payload))
    assert all(n < sent_before for n in got), (max(got), sent_before)
    assert not fleet.lb.call(lambda: target.device_id in fleet.lb.broker.sessions)
    again = fleet.client(client_id="comeback", cert=(target.cert, target.key))
    try:
        assert again.connect().reason == BAD_CREDENTIALS
    finally:
        again.close()
        pub.close()
        sub.close()
    assert fleet.audit("device.revoked")


def test_revoking_an_app_token_cuts_its_session(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    app = fleet.access.rules.mint_app_token(
        Scope(tenant), "dashboard", "test", subscribe=(f"devices/{device}/telemetry/#",)
    )
    c = fleet.client(client_id="dash", username="dashboard", password=app.token).connected()
    try:
        assert c.subscribe(f"devices/{device}/telemetry/#", 0) == [0]
        fleet.access.devices.revoke_token(tenant, app.claims.jti, "test")
        assert c.wait_disconnect() == NOT_AUTHORIZED
    finally:
        c.close()
    again = fleet.client(client_id="dash2", username="dashboard", password=app.token)
    try:
        assert again.connect().reason == BAD_CREDENTIALS
    finally:
        again.close()


def test_an_attenuated_grant_dies_with_its_parent(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    parent = fleet.access.rules.mint_app_token(
        Scope(tenant), "phone", "test", subscribe=(f"devices/{device}/#",)
    )
    child = fleet.access.rules.attenuate(
        parent.token, "test", subscribe=(f"devices/{device}/telemetry/#",), sub="widget"
    )
    c = fleet.client(client_id="widget", username="widget", password=child.token).connected()
    try:
        assert c.subscribe(f"devices/{device}/commands/#", 0) == [NOT_AUTHORIZED]
        fleet.access.devices.revoke_token(tenant, parent.claims.jti, "test")
        assert c.wait_disconnect() == NOT_AUTHORIZED
    finally:
        c.close()


def test_revoking_a_grant_drops_the_subscription_it_allowed(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    owner = fleet.owner(tenant)
    watcher = fleet.enroll(tenant, fleet.device(tenant, owner))
    watched = fleet.device(tenant, owner)
    grant = fleet.access.rules.add_grant(
        Scope(tenant), watcher.device_id, "test", subscribe=(f"devices/{watched}/telemetry/#",)
    )
    c = fleet.device_client(watcher)
    try:
        assert c.subscribe(f"devices/{watched}/telemetry/#", 0) == [0]
        assert c.subscribe(f"devices/{watcher.device_id}/commands/#", 0) == [0]
        fleet.access.rules.revoke_grant(Scope(tenant), grant.id, "test")
        sessions = fleet.lb.broker.sessions
        subs = fleet.lb.call(lambda: sorted(sessions[watcher.device_id].subscriptions))
        assert subs == [f"devices/{watcher.device_id}/commands/#"]  # the rest stays
        fleet.lb.hub.broker.publish(f"devices/{watched}/telemetry/t", b"private")  # type: ignore[union-attr]
        c.assert_silent(0.3)
        assert c.disconnects.empty()
    finally:
        c.close()


def test_suspending_the_owner_cuts_its_devices(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    owner = fleet.owner(tenant)
    creds = fleet.enroll(tenant, fleet.device(tenant, owner))
    c = fleet.device_client(creds)
    try:
        fleet.lb.hub.registry.update_owner(Scope(tenant), owner, status=EntityStatus.SUSPENDED)
        fleet.access.devices.resync(tenant, "test", "owner.suspended")
        assert c.wait_disconnect() == NOT_AUTHORIZED
    finally:
        c.close()
    again = fleet.client(client_id="suspended", cert=(creds.cert, creds.key))
    try:
        assert again.connect().reason == NOT_AUTHORIZED
    finally:
        again.close()


def test_a_deny_entry_cuts_a_live_session(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    c = fleet.device_client(creds)
    try:
        fleet.access.rules.add_list_entry(
            None, "test", mode="deny", kind="device", value=creds.device_id, reason="stolen"
        )
        assert c.wait_disconnect() == NOT_AUTHORIZED
    finally:
        c.close()


def test_publish_rate_and_size_limits_apply_per_device(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    limits = DeviceLimits(max_payload=64, publish_rate=1.0, publish_burst=3)
    fleet.access.rules.set_limits(Scope(tenant), creds.device_id, limits, "test")
    c = fleet.device_client(creds)
    topic = f"devices/{creds.device_id}/telemetry/t"
    try:
        assert c.publish(topic, b"x" * 65, qos=1) == 0x97  # over the payload limit
        codes = [c.publish(topic, b"ok", qos=1) for _ in range(5)]
        assert codes[:2] == [0x10] * 2  # no subscribers, but accepted (the burst is 3)
        assert 0x97 in codes[2:]  # over the rate
        assert c.disconnects.empty()  # refused messages, not a refused connection
    finally:
        c.close()


def test_a_change_made_by_another_process_reaches_live_sessions(fleet: Fleet) -> None:
    """The CLI writes the database and the change feed; the running hub follows it."""
    from fleetward.access.assembly import TokenSettings, build_access
    from fleetward.access.static_policy import StaticPolicy

    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    c = fleet.device_client(creds)
    hub = fleet.lb.hub
    console = build_access(  # a second, independent access stack: the CLI's
        store=hub.store,
        registry=hub.registry,
        hasher=hub.hasher,
        clock=hub.clock,
        data_dir=hub.settings.data_dir,
        static=StaticPolicy([], hub.hasher),
        audit=hub.audit_log().record,
        hub_ca=None,
        tokens=TokenSettings(),
    )
    app = fleet.access.rules.mint_app_token(
        Scope(tenant), "console-watch", "test", subscribe=(f"devices/{creds.device_id}/#",)
    )
    watcher = fleet.client(client_id="watch", username="console-watch", password=app.token)
    watcher.connected()
    runtime = fleet.access.runtime
    wait_until(lambda: runtime._seen == runtime.store.last_change())
    state = fleet.access.hub.state
    try:
        console.devices.revoke_device(Scope(tenant), creds.device_id, "console")
        assert c.wait_disconnect(timeout=5) == NOT_AUTHORIZED
        console.devices.revoke_token(tenant, app.claims.jti, "console")
        assert watcher.wait_disconnect(timeout=5) == NOT_AUTHORIZED
    finally:
        c.close()
        watcher.close()
    wait_until(lambda: creds.device_id not in fleet.access.hub.state.certificates.values())
    # Applied to the device and the token alone, not by reloading every device.
    assert fleet.access.hub.state is state
    assert app.claims.jti in state.revoked_tokens
    # An entry that is not about one subject still reloads everything.
    console.rules.add_list_entry(
        tenant,
        "test",
        mode="deny",
        kind="client",
        value="nobody-at-all",
    )
    wait_until(lambda: fleet.access.hub.state is not state)


def test_a_session_ends_when_its_token_expires(tmp_path: Path) -> None:
    """A token bounds the life of the session it opened, not just of the CONNECT."""
    with live_broker(
        tmp_path / "hub",
        extra_listeners=MTLS,
        FLEETWARD_SECURITY__TOKEN_TTL_SECONDS="1",
        FLEETWARD_SECURITY__TOKEN_LEEWAY_SECONDS="0",
    ) as lb:
        fleet = Fleet(lb, tmp_path)
        tenant = fleet.tenant()
        device = fleet.device(tenant, fleet.owner(tenant))
        app = fleet.access.rules.mint_app_token(
            Scope(tenant), "short-lived", "test", subscribe=(f"devices/{device}/telemetry/#",)
        )
        c = fleet.client(client_id="brief", username="short-lived", password=app.token)
        try:
            assert c.connect().reason == 0
            assert c.wait_disconnect(timeout=8) == NOT_AUTHORIZED
        finally:
            c.close()


def test_only_the_devices_tenant_and_owner_can_revoke_it(fleet: Fleet) -> None:
    """The scope check happens before the cut: another tenant or owner cuts nothing."""
    tenant, other_tenant = fleet.tenant(), fleet.tenant()
    owner, other_owner = fleet.owner(tenant), fleet.owner(tenant)
    target = fleet.enroll(tenant, fleet.device(tenant, owner))
    c = fleet.device_client(target)
    try:
        for scope in (Scope(other_tenant), Scope(tenant, other_owner)):
            with pytest.raises(NotFoundError):
                fleet.access.devices.revoke_device(scope, target.device_id, "intruder")
        c.assert_silent(0.2)
        assert c.disconnects.empty()  # still connected
        fleet.access.devices.revoke_device(Scope(tenant, owner), target.device_id, "test")
        assert c.wait_disconnect() == NOT_AUTHORIZED
    finally:
        c.close()


def test_a_certificate_revocation_whose_write_fails_still_cuts(fleet: Fleet) -> None:
    """Cut first, then write: the session on the certificate ends and the certificate stays
    refused in this process even when the database refuses the revocation."""
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    (cert,) = [
        c
        for c in fleet.access.devices.credentials(Scope(tenant), creds.device_id)
        if c.fingerprint is not None and c.revoked_at is None
    ]
    c = fleet.client(client_id="on-cert", cert=(creds.cert, creds.key)).connected()
    engine = fleet.lb.hub.store.engine
    with engine.begin() as conn:  # credential rows can be read but no longer changed
        conn.execute(
            text(
                "CREATE TRIGGER refuse_revoke BEFORE UPDATE ON device_credentials "
                "BEGIN INSERT INTO nowhere VALUES (1); END"  # fails when it runs
            )
        )
    try:
        with pytest.raises(StorageError):
            fleet.access.devices.revoke_certificate(Scope(tenant), creds.device_id, cert.id, "t")
        assert c.wait_disconnect() in (0x87, 0x8A)
    finally:
        c.close()
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_revoke"))
    again = fleet.client(client_id="on-cert-again", cert=(creds.cert, creds.key))
    try:
        assert again.connect().reason != 0
    finally:
        again.close()
    (unsaved,) = [e for e in fleet.audit("credential.revoked") if e.target == creds.device_id]
    assert unsaved.outcome == "unsaved"  # the cut took effect; the log says it was not stored
    # the token credential still works: only the certificate was taken away
    fleet.client(
        client_id="by-token", username=creds.device_id, password=creds.token
    ).connected().close()
