"""Export and erasure of everything the hub holds about one owner.

The export is one JSON bundle: the owner, their devices with credential metadata
(never a hash) and grants, their E2E public keys, their telemetry history (decrypted
from the vault; E2E-sealed payloads stay sealed, as only the owner's apps can open
them), their alerts and the audit entries about them or their devices.

Erasure is crypto-shredding first (NIST SP 800-88 r1 §2.6): the owner's vault data key
is destroyed, so every blob sealed for them, here or in any copy or backup, can no longer
be decrypted with anything the hub holds; then their rows are deleted. The audit
chain is append-only and keeps its entries (they hold ids and facts, never payloads);
the erasure itself is recorded there.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fleetward.access.assembly import AccessServices
from fleetward.audit import SqlAuditStore
from fleetward.audit.chain import AuditEntry
from fleetward.clock import Clock
from fleetward.history import HistoryService
from fleetward.keydir import KeyDirectoryService, entries_json
from fleetward.presence import SqlAlertStore
from fleetward.presence.records import AlertRecord
from fleetward.registry import Device, Owner, RegistryService, Scope
from fleetward.vault import OwnerRef, Vault

__all__ = ["EXPORT_FORMAT", "ErasureReport", "OwnerData"]

EXPORT_FORMAT = "fleetward-owner-export/1"
_PAGE = 200


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What an erasure destroyed."""

    tenant_id: str
    owner_id: str
    key_shredded: bool
    devices: int
    telemetry: int
    alerts: int
    e2e_keys: int = 0


class OwnerData:
    """Builds an owner's export bundle and erases an owner."""

    __slots__ = (
        "_access",
        "_alerts",
        "_audit",
        "_clock",
        "_history",
        "_keydir",
        "_registry",
        "_vault",
    )

    def __init__(
        self,
        *,
        registry: RegistryService,
        access: AccessServices,
        vault: Vault,
        history: HistoryService,
        alerts: SqlAlertStore,
        audit: SqlAuditStore,
        clock: Clock,
        keydir: KeyDirectoryService | None = None,
    ) -> None:
        self._registry = registry
        self._access = access
        self._vault = vault
        self._history = history
        self._alerts = alerts
        self._audit = audit
        self._clock = clock
        self._keydir = keydir

    def export(self, scope: Scope, owner_id: str) -> dict[str, Any]:
        """The bundle; raises :class:`~fleetward.errors.NotFoundError` for an owner not in
        ``scope`` (another tenant's or another owner's)."""
        owner = self._registry.get_owner(scope, owner_id)
        devices = self._devices(scope, owner_id)
        device_ids = [d.id for d in devices]
        inner = Scope(scope.tenant_id, owner_id)
        alerts = self._owner_alerts(owner.tenant_id, owner_id, device_ids)
        return {
            "format": EXPORT_FORMAT,
            "exported_at": self._clock.now().isoformat(),
            "tenant_id": owner.tenant_id,
            "owner": _owner(owner),
            "devices": [self._device(inner, d) for d in devices],
            "e2e_keys": self._e2e_keys(owner.tenant_id, owner_id),
            "telemetry": [
                {
                    "id": r.id,
                    "device_id": r.device_id,
                    "stream": r.stream,
                    "received_at": r.received_at.isoformat(),
                    "expires_at": r.expires_at.isoformat(),
                    "sealed": r.sealed,
                    "payload_b64": base64.b64encode(r.payload).decode(),
                }
                for r in self._history.for_owner(owner.tenant_id, owner_id)
            ],
            "alerts": [_alert(a) for a in alerts],
            "audit": [
                _audit(e) for e in self._audit_about(owner.tenant_id, {owner_id, *device_ids})
            ],
        }

    def erase(self, scope: Scope, owner_id: str, actor: str) -> ErasureReport:
        """Shred the owner's data key, then delete their telemetry, alerts, devices and
        keys. Raises :class:`~fleetward.errors.NotFoundError` for an owner not in scope."""
        owner = self._registry.get_owner(scope, owner_id)
        tenant_id = owner.tenant_id
        device_ids = [d.id for d in self._devices(scope, owner_id)]
        shredded = self._vault.shred(OwnerRef(tenant_id, owner_id))  # first: nothing reopens
        telemetry = self._history.erase_owner(tenant_id, owner_id)
        alerts = self._alerts.delete_owner(tenant_id, owner_id, device_ids)
        keys = self._keydir.delete_owner(tenant_id, owner_id) if self._keydir else 0
        self._registry.delete_owner(Scope(tenant_id), owner_id)  # devices, credentials, keys
        self._access.devices.resync(tenant_id, actor, "owner.erased")  # live sessions end
        report = ErasureReport(
            tenant_id, owner_id, shredded, len(device_ids), telemetry, alerts, keys
        )
        self._access.runtime.audit(
            actor,
            "owner.erased",
            target=owner_id,
            tenant_id=tenant_id,
            details={
                "key_shredded": shredded,
                "devices": report.devices,
                "telemetry": telemetry,
                "alerts": alerts,
                "e2e_keys": keys,
            },
        )
        return report

    def _e2e_keys(self, tenant_id: str, owner_id: str) -> list[str]:
        """Signed directory entries (base64) of the owner's devices and apps."""
        if self._keydir is None:
            return []
        return entries_json(self._keydir.entries(tenant_id, owner_id=owner_id))

    def _devices(self, scope: Scope, owner_id: str) -> list[Device]:
        out: list[Device] = []
        cursor: str | None = None
        while True:
            page = self._registry.list_devices(scope, limit=_PAGE, cursor=cursor, owner_id=owner_id)
            out.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return out

    def _device(self, scope: Scope, d: Device) -> dict[str, Any]:
        devices = self._access.devices
        return {
            "id": d.id,
            "name": d.name,
            "kind": d.kind.value,
            "site": d.site,
            "tags": list(d.tags),
            "status": d.status.value,
            "created_at": d.created_at.isoformat(),
            "credentials": [
                {  # metadata only: a secret hash never leaves the hub
                    "id": c.id,
                    "kind": c.kind,
                    "fingerprint": c.fingerprint,
                    "expires_at": _iso(c.expires_at),
                    "revoked_at": _iso(c.revoked_at),
                }
                for c in devices.credentials(scope, d.id)
            ],
            "grants": [
                {
                    "id": g.grant.id,
                    "publish": list(g.grant.publish),
                    "subscribe": list(g.grant.subscribe),
                    "issued_by": g.grant.issued_by,
                    "created_at": g.created_at.isoformat(),
                    "expires_at": _iso(g.grant.expires_at),
                    "revoked_at": _iso(g.revoked_at),
                }
                for g in self._access.rules.grants(scope, d.id)
            ],
        }

    def _owner_alerts(
        self, tenant_id: str, owner_id: str, device_ids: list[str]
    ) -> list[AlertRecord]:
        seen: dict[str, AlertRecord] = {}
        filters: list[tuple[str | None, str | None]] = [(owner_id, None)]
        filters += [(None, d) for d in device_ids]
        for by_owner, by_device in filters:
            cursor: str | None = None
            while True:
                page = self._alerts.list(
                    tenant_id, owner_id=by_owner, device_id=by_device, limit=_PAGE, cursor=cursor
                )
                seen.update((a.id, a) for a in page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return sorted(seen.values(), key=lambda a: a.id)

    def _audit_about(self, tenant_id: str, ids: set[str]) -> Iterator[AuditEntry]:
        for entry in self._audit.iter_entries():
            if entry.tenant_id != tenant_id:
                continue
            if entry.target in ids or any(
                isinstance(v, str) and v in ids for v in entry.details.values()
            ):
                yield entry


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _owner(o: Owner) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "email": o.email,
        "status": o.status.value,
        "created_at": o.created_at.isoformat(),
        "updated_at": o.updated_at.isoformat(),
    }


def _alert(a: AlertRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "device_id": a.device_id,
        "kind": a.kind,
        "subject": a.subject,
        "state": a.state.value,
        "first_seen": a.first_seen.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "count": a.count,
        "details": dict(a.details),
        "resolution": a.resolution,
    }


def _audit(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome,
        "details": dict(e.details),
        "hash": e.hash,
    }
