"""A tenant, owners, devices, tokens and proxied clients on a live broker, for history tests."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fleetward.e2e import E2EKeyPair, KeyOwner, OwnerKind
from fleetward.registry import DeviceStatus, Scope

from ...support.broker import LiveBroker
from ..broker._clients import Paho

HISTORY_ENV = {
    "FLEETWARD_HISTORY__STREAMS": json.dumps(
        [{"pattern": "temp", "retention_days": 1}, {"pattern": "sealed/#", "retention_days": 2}]
    ),
    "FLEETWARD_HISTORY__FLUSH_INTERVAL": "0.05",
}


@dataclass
class Device:
    """A registered device and the token it connects with."""

    tenant_id: str
    owner_id: str
    device_id: str
    token: str


def add_device(lb: LiveBroker, tenant_id: str, owner_id: str, name: str) -> Device:
    """Register a device for ``owner_id`` and mint its MQTT token."""
    hub = lb.hub
    scope = Scope(tenant_id)
    device = hub.registry.create_device(scope, owner_id=owner_id, name=name)
    hub.registry.update_device(scope, device.id, status=DeviceStatus.ACTIVE)
    hub.access().devices.resync(tenant_id, "test", "device.activated")
    issued = hub.access().devices.issue_device_token(Scope(tenant_id), device.id, "test")
    return Device(tenant_id, owner_id, device.id, issued.token)


def world(lb: LiveBroker, tenant: str = "acme") -> tuple[str, str, Device]:
    """A tenant, an owner and one device."""
    hub = lb.hub
    t = hub.registry.create_tenant(tenant)
    o = hub.registry.create_owner(Scope(t.id), "alice")
    return t.id, o.id, add_device(lb, t.id, o.id, "thermo")


def sealed_meter(lb: LiveBroker) -> tuple[str, str, Device, E2EKeyPair, E2EKeyPair]:
    """Tenant, owner, a "meter" device, and the E2E key pairs of that device and "app-1"."""
    hub = lb.hub
    t = hub.registry.create_tenant("acme").id
    o = hub.registry.create_owner(Scope(t), "alice").id
    dev = add_device(lb, t, o, "meter")
    device_key = e2e_pair(t, OwnerKind.DEVICE, dev.device_id)  # on the device only
    app_key = e2e_pair(t, OwnerKind.APP, "app-1")  # in the app only
    return t, o, dev, device_key, app_key


def app_token(lb: LiveBroker, tenant_id: str, owner_id: str, device_id: str) -> str:
    """An owner's app token that may read the device's telemetry."""
    issued = lb.hub.access().rules.mint_app_token(
        Scope(tenant_id, owner_id),
        "app-1",
        "test",
        subscribe=(f"devices/{device_id}/telemetry/#",),
    )
    return issued.token


def e2e_pair(tenant_id: str, kind: OwnerKind, who: str) -> E2EKeyPair:
    """A fresh E2E key pair held by a device or an app (never by the hub)."""
    return E2EKeyPair.generate(KeyOwner(tenant_id, kind, who))


class ViaProxy(Paho):
    """A paho client on the plain listener via a recording proxy's ``port``, with credentials."""

    def __init__(self, lb: LiveBroker, port: int, client_id: str, user: tuple[str, str]) -> None:
        super().__init__(lb, client_id=client_id)
        self._proxy_port = port
        self.client.username_pw_set(*user)

    @property
    def port(self) -> int:
        return self._proxy_port
