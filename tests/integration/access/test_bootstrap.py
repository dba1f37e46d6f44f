"""Enrolment with a maker's bootstrap certificate over mTLS (issue 4, flow b).

The tenant registers its maker's CA; a pending device presents the certificate its maker
put on it, with its device id as user name, and is confined to enrolment; it sends a CSR
for a fresh key and gets a hub certificate. The bootstrap certificate then never works
again, for any device, and a maker registered by another tenant vouches for nobody here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from fleetward.crypto import new_device_key_and_csr
from fleetward.registry import Scope

from ...unit.crypto._certs import Issued, make_cert
from ._fleet import Fleet

BAD_CREDENTIALS = 0x86
NOT_AUTHORIZED = 0x87


def _window() -> dict[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return {"not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=365)}


def _files(leaf: Issued, where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / f"{name}.pem", where / f"{name}.key"
    cert.write_bytes(leaf.pem)
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_a_device_enrols_once_with_its_makers_certificate(fleet: Fleet, tmp_path: Path) -> None:
    tenant = fleet.tenant()
    maker = make_cert("Acme Sensors CA", ca=True, **_window())
    fleet.access.rules.register_maker(tenant, "acme", maker.pem, "test")
    device = fleet.device(tenant, fleet.owner(tenant))
    bootstrap = _files(make_cert("SN-0001", issuer=maker, **_window()), tmp_path, "boot")

    c = fleet.client(client_id=device, username=device, cert=bootstrap)
    key_pem, csr_pem = new_device_key_and_csr(device)
    try:
        c.connected()
        assert c.publish(f"devices/{device}/telemetry/t", b"x", qos=1) == NOT_AUTHORIZED
        assert c.subscribe(f"$fleet/enroll/{device}/result", 1) == [1]
        c.publish(f"$fleet/enroll/{device}/csr", csr_pem, qos=1)
        answer = json.loads(c.get(timeout=10).payload)
    finally:
        c.close()
    assert "certificate" in answer, answer
    cert = tmp_path / "op.pem"
    key = tmp_path / "op.key"
    cert.write_text(answer["certificate"])
    key.write_bytes(key_pem)
    op = fleet.client(client_id=f"{device}-op", cert=(cert, key)).connected()
    try:
        assert op.publish(f"devices/{device}/telemetry/t", b"ok", qos=1) in (0, 0x10)
    finally:
        op.close()
    enrolled = [e for e in fleet.audit("device.enrolled") if e.target == device]
    assert enrolled
    assert enrolled[0].details["via"] == "bootstrap"

    # the same bootstrap certificate, again: refused and audited (for another device too)
    other = fleet.device(tenant, fleet.owner(tenant))
    for who in (device, other):
        again = fleet.client(client_id=f"again-{who}", username=who, cert=bootstrap)
        try:
            assert again.connect().reason in (BAD_CREDENTIALS, NOT_AUTHORIZED)
        finally:
            again.close()
    assert fleet.refusals("enrollment.reused")


def test_another_tenants_maker_vouches_for_nobody_here(fleet: Fleet, tmp_path: Path) -> None:
    tenant_a, tenant_b = fleet.tenant(), fleet.tenant()
    maker = make_cert("Globex CA", ca=True, **_window())
    fleet.access.rules.register_maker(tenant_a, "globex", maker.pem, "test")
    victim = fleet.device(tenant_b, fleet.owner(tenant_b))
    fleet.code(tenant_b, victim)  # tenant B expects its own enrolment, not Globex's
    bootstrap = _files(make_cert("SN-0666", issuer=maker, **_window()), tmp_path, "boot")
    c = fleet.client(client_id=victim, username=victim, cert=bootstrap)
    try:
        assert c.connect().reason == BAD_CREDENTIALS
    finally:
        c.close()
    assert fleet.lb.hub.registry.get_device(Scope(tenant_b), victim).status.value == "pending"
