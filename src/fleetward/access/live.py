"""The hub's live access state: every fact a CONNECT, PUBLISH or SUBSCRIBE decision needs.

Built from the database at start (:func:`load_state`) and kept current by the access
service, which changes the database first and this state second, so a decision never
allows what the database no longer does. Lookups are dict hits: the broker asks on
every CONNECT and on the first PUBLISH per topic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from fleetward.access.lists import AccessList
from fleetward.access.policy import DeviceLimits, DevicePolicy, Grant
from fleetward.access.ratelimit import TokenBucket
from fleetward.access.store import AccessStore, DeviceRow

__all__ = ["AccessState", "DeviceState", "load_state"]

ACTIVE = "active"


@dataclass(slots=True)
class DeviceState:
    """One device: whether it may connect, and its door."""

    row: DeviceRow
    policy: DevicePolicy
    bucket: TokenBucket | None = None
    """The publish-rate bucket, shared by every connection of the device."""

    @property
    def usable(self) -> bool:
        """Active, and neither its owner nor its tenant is suspended."""
        r = self.row
        return r.status == ACTIVE and r.owner_status == ACTIVE and r.tenant_status == ACTIVE

    def take(self, now: float) -> bool:
        """Take one publish from the device's bucket (made on first use)."""
        bucket = self.bucket
        if bucket is None:
            limits = self.policy.limits
            bucket = self.bucket = TokenBucket(limits.publish_rate, limits.publish_burst)
        return bucket.take(now)


@dataclass(slots=True)
class AccessState:
    """Everything the authenticator and authorizer read."""

    devices: dict[str, DeviceState] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)
    """Fingerprint of a live hub-issued certificate -> its device id."""
    revoked_tokens: set[str] = field(default_factory=set)
    lists: AccessList = field(default_factory=AccessList)
    makers: dict[str, tuple[bytes, ...]] = field(default_factory=dict)
    """Tenant id -> PEMs of its live maker CAs."""
    tenants: dict[str, str] = field(default_factory=dict)
    """Tenant id -> status (for token holders, who are not devices)."""

    def device(self, device_id: str) -> DeviceState | None:
        """The device, if known."""
        return self.devices.get(device_id)

    def put_row(self, row: DeviceRow) -> None:
        """Record a device's new status (or a new device), keeping its door."""
        self.tenants[row.tenant_id] = row.tenant_status
        current = self.devices.get(row.id)
        if current is None:
            policy = DevicePolicy(row.id, row.tenant_id, row.owner_id, kind=row.kind)
            self.devices[row.id] = DeviceState(row, policy)
        else:
            current.row = row

    def set_policy(self, device_id: str, **changes: object) -> None:
        """Replace parts of one device's policy (grants, children, limits)."""
        state = self.devices.get(device_id)
        if state is not None:
            state.policy = replace(state.policy, **changes)  # type: ignore[arg-type]
            if "limits" in changes:
                state.bucket = None


def load_state(store: AccessStore, now: dt.datetime) -> AccessState:
    """Build the whole state from the database (at start, and when another process changed it)."""
    state = AccessState()
    grants: dict[str, list[Grant]] = {}
    for g in store.grants():
        if g.revoked_at is None and (g.grant.expires_at is None or g.grant.expires_at > now):
            grants.setdefault(g.device_id, []).append(g.grant)
    children = store.children()
    limits = store.limits()
    for row in store.device_rows():
        policy = DevicePolicy(
            row.id,
            row.tenant_id,
            row.owner_id,
            kind=row.kind,
            children=frozenset(children.get(row.id, ())),
            grants=tuple(grants.get(row.id, ())),
            limits=limits.get(row.id, DeviceLimits()),
        )
        state.devices[row.id] = DeviceState(row, policy)
        state.tenants[row.tenant_id] = row.tenant_status
    for cred in store.credentials(kind="certificate"):
        if cred.revoked_at is None and cred.fingerprint is not None:
            state.certificates[cred.fingerprint] = cred.device_id
    state.revoked_tokens = store.revoked_token_ids(now)
    state.lists = AccessList(r.entry for r in store.list_entries(every=True))
    makers: dict[str, list[bytes]] = {}
    for m in store.makers():
        if m.revoked_at is None:
            makers.setdefault(m.tenant_id, []).append(m.pem.encode())
    state.makers = {t: tuple(p) for t, p in makers.items()}
    return state
