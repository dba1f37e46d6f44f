"""Revocation finds the subject's sessions through the broker's index (issue 4).

The index must follow every way a session changes hands: a persistent session without a
connection, a client id taken over by a connection with another token, several client
ids of one device. Each test revokes through the real access services and watches real
clients and the broker's own session table.
"""

from __future__ import annotations

from fleetward.registry import Scope

from ..broker._clients import connect_props, wait_until
from ._fleet import Fleet

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86
HOUR = 3600


def _sessions(fleet: Fleet) -> set[str]:
    broker = fleet.lb.broker
    return fleet.lb.call(lambda: set(broker.sessions))


def _indexed(fleet: Fleet, subject: str) -> set[str]:
    broker = fleet.lb.broker
    return fleet.lb.call(lambda: {s.client_id for s in broker.subjects.of(subject)})


def test_a_persistent_session_without_a_connection_ends_with_its_device(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    c = fleet.client(client_id=creds.device_id, cert=(creds.cert, creds.key))
    c.connected(clean_start=False, properties=connect_props(SessionExpiryInterval=HOUR))
    assert c.subscribe(f"devices/{creds.device_id}/commands/#", 1) == [1]
    c.disconnect()
    c.close()
    sessions = fleet.lb.broker.sessions
    wait_until(lambda: fleet.lb.call(lambda: sessions[creds.device_id].conn is None))
    assert creds.device_id in _indexed(fleet, creds.device_id)  # kept while it may resume

    fleet.access.devices.revoke_device(Scope(tenant), creds.device_id, "test")

    assert creds.device_id not in _sessions(fleet)  # nothing is kept for it
    assert _indexed(fleet, creds.device_id) == set()
    again = fleet.client(client_id=creds.device_id, cert=(creds.cert, creds.key))
    try:
        ack = again.connect(clean_start=False, properties=connect_props(SessionExpiryInterval=HOUR))
        assert ack.reason == BAD_CREDENTIALS
    finally:
        again.close()


def test_every_client_id_of_a_device_is_cut(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    ids = [f"{creds.device_id}-{i}" for i in range(3)]
    clients = [fleet.device_client(creds, client_id=client_id) for client_id in ids]
    try:
        assert _indexed(fleet, creds.device_id) == set(ids)
        fleet.access.devices.revoke_device(Scope(tenant), creds.device_id, "test")
        assert [c.wait_disconnect() for c in clients] == [NOT_AUTHORIZED] * 3
        assert not set(ids) & _sessions(fleet)
    finally:
        for c in clients:
            c.close()


def test_a_taken_over_session_answers_for_its_new_token_only(fleet: Fleet) -> None:
    """Client id ``dash`` resumes with a second token: revoking the first spares it."""
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    rules = fleet.access.rules
    acl = {"subscribe": (f"devices/{device}/telemetry/#",)}
    first = rules.mint_app_token(Scope(tenant), "panel", "test", **acl)
    second = rules.mint_app_token(Scope(tenant), "panel", "test", **acl)
    persistent = connect_props(SessionExpiryInterval=HOUR)
    old = fleet.client(client_id="panel-1", username="panel", password=first.token)
    old.connected(clean_start=False, properties=persistent)
    new = fleet.client(client_id="panel-1", username="panel", password=second.token)
    try:
        assert new.connect(clean_start=False, properties=persistent).reason == 0
        assert old.wait_disconnect() == 0x8E  # session taken over
        assert _indexed(fleet, first.claims.jti) == set()
        assert _indexed(fleet, second.claims.jti) == {"panel-1"}

        fleet.access.devices.revoke_token(tenant, first.claims.jti, "test")
        new.assert_silent(0.3)
        assert new.disconnects.empty()
        assert "panel-1" in _sessions(fleet)

        fleet.access.devices.revoke_token(tenant, second.claims.jti, "test")
        assert new.wait_disconnect() == NOT_AUTHORIZED
        assert "panel-1" not in _sessions(fleet)
    finally:
        old.close()
        new.close()
