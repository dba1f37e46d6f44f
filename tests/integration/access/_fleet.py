"""A live hub broker with real device identities, and real clients that use them.

The broker runs on its own loop thread (``tests/support/broker.py``) with an extra TLS
listener ``mtls`` that asks for client certificates. Devices are enrolled the way a
real one is: a one-time code over MQTT, a CSR for a key made here, the hub's answer on
``$fleet/enroll/{id}/result``.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from fleetward.access.assembly import AccessServices
from fleetward.audit import AuditEntry, SqlAuditStore
from fleetward.crypto import KeyRing, new_device_key_and_csr
from fleetward.registry import DeviceKind, Scope

from ...support.broker import LiveBroker
from ..broker._clients import Paho

MTLS = [{"name": "mtls", "kind": "tls", "client_certificates": "optional"}]


@dataclass
class DeviceCreds:
    """What an enrolled device keeps: its id, tenant, certificate and key files, first token."""

    device_id: str
    tenant_id: str
    cert: Path
    key: Path
    token: str


@dataclass
class Fleet:
    """Helpers over one live broker."""

    lb: LiveBroker
    workdir: Path
    _n: list[int] = field(default_factory=lambda: [0])

    @property
    def access(self) -> AccessServices:
        return self.lb.hub.access()

    def _name(self, prefix: str) -> str:
        self._n[0] += 1
        return f"{prefix}-{self._n[0]}"

    def tenant(self) -> str:
        return self.lb.hub.registry.create_tenant(self._name("tenant")).id

    def owner(self, tenant_id: str) -> str:
        return self.lb.hub.registry.create_owner(Scope(tenant_id), self._name("owner")).id

    def device(self, tenant_id: str, owner_id: str, *, kind: DeviceKind = DeviceKind.DEVICE) -> str:
        device = self.lb.hub.registry.create_device(
            Scope(tenant_id), owner_id=owner_id, name=self._name("dev"), kind=kind
        )
        return device.id

    def code(self, tenant_id: str, device_id: str) -> str:
        return self.access.devices.create_enrollment_code(Scope(tenant_id), device_id, "test").code

    # -- clients ------------------------------------------------------------------------

    def client(
        self,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        cert: tuple[Path, Path] | None = None,
        v5: bool = True,
    ) -> Paho:
        """A paho client on the ``mtls`` listener (a certificate is optional there)."""
        p = Paho(self.lb, v5=v5, client_id=client_id)
        ctx = ssl.create_default_context(cafile=str(self.lb.ca_file))
        if cert is not None:
            ctx.load_cert_chain(cert[0], cert[1])
        p.client.tls_set_context(ctx)
        p.tls = True
        if username is not None:
            p.client.username_pw_set(username, password)
        p.port_override = self.lb.ports["mtls"]
        return p

    def enroll(self, tenant_id: str, device_id: str, *, code: str | None = None) -> DeviceCreds:
        """Enrol ``device_id`` over MQTT with a fresh (or given) one-time code."""
        code = code or self.code(tenant_id, device_id)
        key_pem, csr_pem = new_device_key_and_csr(device_id)
        c = self.client(client_id=device_id, username=device_id, password=code)
        try:
            c.connected()
            assert c.subscribe(f"$fleet/enroll/{device_id}/result", 1) == [1]
            c.publish(f"$fleet/enroll/{device_id}/csr", csr_pem, qos=1)
            answer = json.loads(c.get(timeout=10).payload)
        finally:
            c.close()
        assert "certificate" in answer, answer
        cert = self.workdir / f"{device_id}.pem"
        key = self.workdir / f"{device_id}.key"
        cert.write_text(answer["certificate"])
        key.write_bytes(key_pem)
        return DeviceCreds(device_id, tenant_id, cert, key, answer["token"])

    def device_client(self, creds: DeviceCreds, *, client_id: str | None = None) -> Paho:
        """A connected client that speaks for ``creds`` with its certificate."""
        return self.client(
            client_id=client_id or creds.device_id, cert=(creds.cert, creds.key)
        ).connected()

    # -- audit and keys -----------------------------------------------------------------

    def audit(self, action: str | None = None) -> list[AuditEntry]:
        """Entries stored so far (the log is flushed first), optionally one action only."""
        self.lb.hub.audit_log().flush()
        entries = SqlAuditStore(self.lb.hub.store.engine).tail(5000)
        return [e for e in entries if action is None or e.action == action]

    def refusals(self, code: str) -> list[AuditEntry]:
        """Audited CONNECT refusals with ``code``."""
        return [e for e in self.audit("auth.refused") if e.details.get("reason") == code]

    def token_ring(self) -> KeyRing:
        """The hub's own token signing ring (to forge tokens that only fail on their claims)."""
        return KeyRing.open(
            self.lb.hub.settings.data_dir / "keys" / "tokens",
            now=dt.datetime.now(dt.UTC),
            overlap=dt.timedelta(hours=2),
        )
