"""A small tenant for the E2E tests: a hub key, a directory, a device and two apps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fleetward.crypto.signing import SigningKey
from fleetward.e2e import E2EKeyPair, KeyDirectory, KeyOwner, OwnerKind, ReplayGuard, TrustedKeys

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TOPIC = "devices/d1/telemetry/temp"
TENANT = "t1"


@dataclass
class World:
    hub: SigningKey
    directory: KeyDirectory
    device: E2EKeyPair
    app: E2EKeyPair
    other_app: E2EKeyPair

    def trusted(self, *, tenant: str = TENANT, now: dt.datetime = NOW) -> TrustedKeys:
        """A client's view holding every entry the hub has published so far."""
        keys = TrustedKeys({self.hub.kid: self.hub.public}, tenant_id=tenant, max_age=DAY)
        for kid in (self.device.key_id, self.app.key_id, self.other_app.key_id):
            signed = self.directory.entry(kid)
            if signed is not None:
                keys.add(signed.to_bytes(), now=now)
        return keys


def owner(kind: OwnerKind, owner_id: str, tenant: str = TENANT) -> KeyOwner:
    return KeyOwner(tenant, kind, owner_id)


def make_world() -> World:
    hub = SigningKey.generate()
    directory = KeyDirectory(lifetime=30 * DAY, overlap=DAY)
    device = E2EKeyPair.generate(owner(OwnerKind.DEVICE, "d1"))
    app = E2EKeyPair.generate(owner(OwnerKind.APP, "a1"))
    other_app = E2EKeyPair.generate(owner(OwnerKind.APP, "a2"))
    for pair in (device, app, other_app):
        directory.publish(pair.record, now=NOW, signer=hub)
    return World(hub, directory, device, app, other_app)


def guard() -> ReplayGuard:
    return ReplayGuard(size=64, max_senders=8)
