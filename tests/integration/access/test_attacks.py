"""The attack catalogue (issue 4) against the real broker, with real MQTT clients.

Every attack is refused with a precise reason, and every refusal lands in the audit log.
Tokens are forged with the hub's own signing key where the point is a claim check, so
the test proves the claim is checked, not merely that a bad signature fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import queue
from pathlib import Path

import pytest

from fleetward.access.acl import Acl
from fleetward.access.tokens import TokenClaims, mint
from fleetward.registry import DeviceKind, Scope

from ._fleet import DeviceCreds, Fleet

BAD_CREDENTIALS = 0x86
NOT_AUTHORIZED = 0x87
BANNED = 0x8A


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(fleet: Fleet, creds: DeviceCreds, **overrides: object) -> TokenClaims:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    fields: dict[str, object] = {
        "iss": "fleetward",
        "aud": "fleetward",
        "sub": creds.device_id,
        "tenant": creds.tenant_id,
        "jti": f"forged-{now.timestamp()}",
        "iat": now - dt.timedelta(seconds=5),
        "nbf": now - dt.timedelta(seconds=5),
        "exp": now + dt.timedelta(minutes=5),
        "acl": Acl.of(publish=[f"devices/{creds.device_id}/#"]),
        "kind": "device",
    }
    fields.update(overrides)
    return TokenClaims(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def victim(fleet: Fleet) -> DeviceCreds:
    tenant = fleet.tenant()
    return fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))


def _refused_with_token(fleet: Fleet, creds: DeviceCreds, token: str, code: str) -> None:
    c = fleet.client(client_id=f"atk-{code}", username=creds.device_id, password=token)
    try:
        assert c.connect().reason == BAD_CREDENTIALS
    finally:
        c.close()
    assert fleet.refusals(code), f"no audited refusal with {code}"


def test_a_genuine_token_connects(fleet: Fleet, victim: DeviceCreds) -> None:
    c = fleet.client(client_id="genuine", username=victim.device_id, password=victim.token)
    try:
        assert c.connect().reason == 0
        topic = f"devices/{victim.device_id}/telemetry/t"
        assert c.publish(topic, b"ok", qos=1) in (0, 0x10)
    finally:
        c.close()


def test_alg_none_is_refused(fleet: Fleet, victim: DeviceCreds) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(fleet, victim).to_json()).encode())
    _refused_with_token(fleet, victim, f"{header}.{body}.", "token.algorithm")


def test_hs256_keyed_with_the_public_key_is_refused(fleet: Fleet, victim: DeviceCreds) -> None:
    ring = fleet.token_ring()
    kid = ring.active.kid
    public = base64.urlsafe_b64decode(ring.active.public.jwk()["x"] + "==")
    header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(fleet, victim).to_json()).encode())
    sig = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    _refused_with_token(fleet, victim, f"{header}.{body}.{_b64(sig)}", "token.algorithm")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": "past"}, "token.expired"),
        ({"nbf": "future"}, "token.not_yet_valid"),
        ({"aud": "someone-else"}, "token.audience"),
        ({"iss": "another-hub"}, "token.issuer"),
    ],
)
def test_claim_checks_refuse(
    fleet: Fleet, victim: DeviceCreds, overrides: dict[str, str], code: str
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    values: dict[str, object] = dict(overrides)
    if overrides.get("exp") == "past":
        values = {
            "iat": now - dt.timedelta(minutes=20),
            "nbf": now - dt.timedelta(minutes=20),
            "exp": now - dt.timedelta(minutes=10),
        }
    elif overrides.get("nbf") == "future":
        values = {
            "iat": now,
            "nbf": now + dt.timedelta(minutes=10),
            "exp": now + dt.timedelta(minutes=20),
        }
    token = mint(_claims(fleet, victim, **values), fleet.token_ring().active)
    _refused_with_token(fleet, victim, token, code)


def test_tampered_claims_are_refused(fleet: Fleet, victim: DeviceCreds) -> None:
    header, body, sig = victim.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["acl"]["publish"] = ["#"]
    forged = _b64(json.dumps(claims, separators=(",", ":")).encode())
    _refused_with_token(fleet, victim, f"{header}.{forged}.{sig}", "token.signature")


def test_a_revoked_jti_is_refused(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    issued = fleet.access.devices.device_token(creds.device_id, tenant)
    fleet.access.devices.revoke_token(tenant, issued.claims.jti, "test")
    _refused_with_token(fleet, creds, issued.token, "token.revoked")


def test_a_token_of_tenant_a_cannot_reach_tenant_b(fleet: Fleet, victim: DeviceCreds) -> None:
    """A valid tenant-A device token: tenant B's device topics stay closed both ways."""
    tenant_b = fleet.tenant()
    other = fleet.device(tenant_b, fleet.owner(tenant_b))
    c = fleet.client(client_id="cross", username=victim.device_id, password=victim.token)
    try:
        assert c.connect().reason == 0
        assert c.publish(f"devices/{other}/commands/open", b"x", qos=1) == NOT_AUTHORIZED
        assert c.subscribe(f"devices/{other}/telemetry/#", 1) == [NOT_AUTHORIZED]
    finally:
        c.close()
    refused = fleet.audit("mqtt.publish_refused")
    assert any(e.target == f"devices/{other}/commands/open" for e in refused)
    subs = fleet.audit("subscribe.refused")
    assert any(e.details.get("topic_filter") == f"devices/{other}/telemetry/#" for e in subs)


ESCAPES = ("#", "+/+/#", "$fleet/#", "devices/+/commands/#", "devices/#", "$share/g/devices/+/#")


def test_wildcard_escapes_from_a_device_are_refused(fleet: Fleet, victim: DeviceCreds) -> None:
    c = fleet.device_client(victim, client_id="wildcards")
    try:
        for topic_filter in ESCAPES:
            assert c.subscribe(topic_filter, 0) == [NOT_AUTHORIZED], topic_filter
        assert c.subscribe(f"devices/{victim.device_id}/commands/#", 1) == [1]
    finally:
        c.close()
    refused = {e.details.get("topic_filter") for e in fleet.audit("subscribe.refused")}
    assert refused >= set(ESCAPES)


def test_devices_never_write_fleet_topics(fleet: Fleet, victim: DeviceCreds) -> None:
    c = fleet.device_client(victim, client_id="dollar-writer")
    try:
        for topic in (f"$fleet/presence/{victim.device_id}", "$fleet/broker/uptime"):
            assert c.publish(topic, b"forged", qos=1) == NOT_AUTHORIZED
    finally:
        c.close()


def test_client_id_takeover_by_another_identity_is_refused(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    owner = fleet.owner(tenant)
    alice = fleet.enroll(tenant, fleet.device(tenant, owner))
    mallory = fleet.enroll(tenant, fleet.device(tenant, owner))
    first = fleet.device_client(alice, client_id="shared-id")
    thief = fleet.client(client_id="shared-id", cert=(mallory.cert, mallory.key))
    try:
        assert thief.connect().reason == NOT_AUTHORIZED
        first.assert_silent(0.2)
        assert first.disconnects.empty()  # the rightful session stays up
    finally:
        thief.close()
        first.close()
    assert fleet.refusals("mqtt.client_id_taken")


def test_an_enrolment_code_works_once(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    code = fleet.code(tenant, device)
    fleet.enroll(tenant, device, code=code)
    again = fleet.client(client_id=device, username=device, password=code)
    try:
        assert again.connect().reason == BAD_CREDENTIALS
    finally:
        again.close()
    assert fleet.refusals("enrollment.reused")


def test_a_wrong_enrolment_code_is_refused(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    fleet.code(tenant, device)
    c = fleet.client(client_id=device, username=device, password="not-the-code-4Qz9!")
    try:
        assert c.connect().reason == BAD_CREDENTIALS
    finally:
        c.close()
    assert fleet.refusals("enrollment.bad_code")


def test_an_enrolling_device_is_confined(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    code = fleet.code(tenant, device)
    c = fleet.client(client_id=device, username=device, password=code)
    try:
        c.connected()
        assert c.publish(f"devices/{device}/telemetry/t", b"x", qos=1) == NOT_AUTHORIZED
        assert c.subscribe(f"devices/{device}/commands/#", 1) == [NOT_AUTHORIZED]
        assert c.subscribe("$fleet/enroll/someone-else/result", 1) == [NOT_AUTHORIZED]
        assert c.publish("$fleet/enroll/someone-else/csr", b"x", qos=1) == NOT_AUTHORIZED
    finally:
        c.close()


def test_a_certificate_from_an_unregistered_ca_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    """A maker CA nobody registered: the TLS handshake itself refuses the certificate."""
    from ...unit.crypto._certs import make_cert

    now = dt.datetime.now(dt.UTC)
    window = {"not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=30)}
    rogue_ca = make_cert("rogue maker", ca=True, **window)
    leaf = make_cert("device-serial-1", issuer=rogue_ca, **window)
    from cryptography.hazmat.primitives import serialization

    cert, key = tmp_path / "rogue.pem", tmp_path / "rogue.key"
    cert.write_bytes(leaf.pem)
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tenant = fleet.tenant()
    device = fleet.device(tenant, fleet.owner(tenant))
    c = fleet.client(client_id=device, username=device, cert=(cert, key))
    try:
        # TLS 1.2 fails the handshake; with TLS 1.3 the client learns it after its Finished
        # message, so paho sees the connection die instead of a CONNACK.
        try:
            refused = c.connect().reason != 0
        except (OSError, queue.Empty):
            refused = True
        assert refused
    finally:
        c.close()
    assert not fleet.lb.call(lambda: device in fleet.lb.broker.sessions)


def test_a_revoked_device_certificate_is_refused(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    fleet.access.devices.revoke_device(Scope(tenant), creds.device_id, "test")
    c = fleet.client(client_id="after-revoke", cert=(creds.cert, creds.key))
    try:
        assert c.connect().reason == BAD_CREDENTIALS
    finally:
        c.close()
    assert fleet.refusals("cert.revoked")


def test_a_gateway_acts_only_for_its_children(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    owner = fleet.owner(tenant)
    gateway = fleet.enroll(tenant, fleet.device(tenant, owner, kind=DeviceKind.GATEWAY))
    child = fleet.device(tenant, owner)
    stranger = fleet.device(tenant, owner)
    fleet.access.rules.add_child(Scope(tenant), gateway.device_id, child, "test")
    c = fleet.device_client(gateway)
    try:
        assert c.publish(f"devices/{child}/telemetry/t", b"ok", qos=1) in (0, 0x10)
        assert c.publish(f"devices/{child}/presence", b"online", qos=1) in (0, 0x10)
        assert c.publish(f"devices/{stranger}/telemetry/t", b"x", qos=1) == NOT_AUTHORIZED
        assert c.subscribe(f"devices/{stranger}/commands/#", 1) == [NOT_AUTHORIZED]
    finally:
        c.close()
    assert any(
        e.target == f"devices/{stranger}/telemetry/t" for e in fleet.audit("mqtt.publish_refused")
    )


def test_a_denied_device_cannot_connect(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    row = fleet.access.rules.add_list_entry(
        tenant, "test", mode="deny", kind="device", value=creds.device_id, reason="stolen"
    )
    c = fleet.client(client_id="denied", cert=(creds.cert, creds.key))
    try:
        assert c.connect().reason == BANNED
    finally:
        c.close()
    fleet.access.rules.delete_list_entry(tenant, row.id, "test")
    fleet.device_client(creds, client_id="forgiven").close()
    assert fleet.refusals("access.listed")


def test_a_device_that_reconnects_in_a_loop_is_banned(fleet: Fleet) -> None:
    tenant = fleet.tenant()
    creds = fleet.enroll(tenant, fleet.device(tenant, fleet.owner(tenant)))
    codes = []
    for i in range(10):
        c = fleet.client(client_id=f"loop-{i}", cert=(creds.cert, creds.key))
        try:
            codes.append(c.connect().reason)
        finally:
            c.close()
    # the enrolment was the first connect: the eighth within the window is banned
    assert codes[:6] == [0] * 6
    assert codes[6:] == [BANNED] * 4
    assert fleet.audit("access.ban")
