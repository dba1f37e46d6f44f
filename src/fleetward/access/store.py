"""SQL storage of the access layer: what the hub's live access state is built from.

Two kinds of reads live here. Tenant-scoped reads and writes (grants, list entries,
maker CAs of one tenant) take ``tenant_id`` like every registry call. The hub-wide
reads (:meth:`AccessStore.snapshot_rows`, :meth:`AccessStore.device_row`) exist because
authentication happens before anyone knows the tenant: a CONNECT names a device id, and
the device row is what tells the tenant (the same reason the API key lookup is by id).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from fleetward.access.lists import AccessListEntry
from fleetward.access.policy import DeviceLimits, Grant
from fleetward.access.records import (
    CredentialRow,
    DeviceRow,
    GrantRow,
    ListRow,
    MakerRow,
    device_select,
    read_credential,
    read_device,
    read_grant,
    read_limits,
    read_list_entry,
    read_maker,
)
from fleetward.access.revocations import note
from fleetward.access.tables import (
    access_changes,
    access_list_entries,
    device_limits,
    gateway_children,
    grants,
    maker_cas,
    revoked_tokens,
)
from fleetward.registry.sql.tables import device_credentials, devices
from fleetward.registry.sql.tx import transaction

__all__ = ["AccessStore", "CredentialRow", "DeviceRow", "GrantRow", "ListRow", "MakerRow"]


class AccessStore:
    """Reads and writes of access records; each method is one transaction."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The database (for writes that span layers in one transaction: ``revocations``)."""
        return self._engine

    def _tx(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)

    # -- devices (hub-wide, pre-authentication) ------------------------------------------

    def device_row(self, device_id: str) -> DeviceRow | None:
        """The device named ``device_id`` (in whatever tenant), for authentication."""
        with self._tx() as conn:
            r = conn.execute(device_select().where(devices.c.id == device_id)).mappings()
            row = r.first()
        return read_device(row) if row is not None else None

    def device_rows(self) -> list[DeviceRow]:
        """Every device (the live state's starting point)."""
        with self._tx() as conn:
            return [read_device(r) for r in conn.execute(device_select()).mappings()]

    # -- credentials ----------------------------------------------------------------------

    def add_credential(self, row: CredentialRow) -> None:
        """Store a credential (hash or fingerprint only)."""
        with self._tx() as conn:
            values = {name: getattr(row, name) for name in row.__slots__}
            conn.execute(insert(device_credentials).values(**values))

    def credentials(
        self, *, tenant_id: str | None = None, device_id: str | None = None, kind: str | None = None
    ) -> list[CredentialRow]:
        """Credentials filtered by tenant, device and kind (all of them when unfiltered)."""
        query = select(device_credentials).order_by(device_credentials.c.id)
        if tenant_id is not None:
            query = query.where(device_credentials.c.tenant_id == tenant_id)
        if device_id is not None:
            query = query.where(device_credentials.c.device_id == device_id)
        if kind is not None:
            query = query.where(device_credentials.c.kind == kind)
        with self._tx() as conn:
            return [read_credential(r) for r in conn.execute(query).mappings()]

    def fingerprint_used(self, kind: str, fingerprint: str) -> CredentialRow | None:
        """A credential of ``kind`` with ``fingerprint`` (any tenant): reuse detection."""
        query = select(device_credentials).where(
            device_credentials.c.kind == kind, device_credentials.c.fingerprint == fingerprint
        )
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return read_credential(row) if row is not None else None

    def revoke_credentials(
        self,
        tenant_id: str,
        device_id: str,
        now: dt.datetime,
        *,
        kinds: tuple[str, ...] | None = None,
        credential_id: str | None = None,
    ) -> list[CredentialRow]:
        """Revoke a device's live credentials (of ``kinds``, or one by id); returns them."""
        c = device_credentials.c
        where = [c.tenant_id == tenant_id, c.device_id == device_id, c.revoked_at.is_(None)]
        if kinds is not None:
            where.append(c.kind.in_(kinds))
        if credential_id is not None:
            where.append(c.id == credential_id)
        with self._tx() as conn:
            rows = [
                read_credential(r)
                for r in conn.execute(select(device_credentials).where(*where)).mappings()
            ]
            if rows:
                conn.execute(update(device_credentials).where(*where).values(revoked_at=now))
        return rows

    def set_device_status(
        self, tenant_id: str, device_id: str, status: str, now: dt.datetime
    ) -> None:
        """Change a device's status (callers check the transition)."""
        query = (
            update(devices)
            .where(devices.c.tenant_id == tenant_id, devices.c.id == device_id)
            .values(status=status, updated_at=now)
        )
        with self._tx() as conn:
            conn.execute(query)

    # -- grants ---------------------------------------------------------------------------

    def add_grant(self, device_id: str, grant: Grant, now: dt.datetime) -> None:
        """Store a grant widening ``device_id``'s door."""
        with self._tx() as conn:
            conn.execute(
                insert(grants).values(
                    id=grant.id,
                    tenant_id=grant.tenant_id,
                    device_id=device_id,
                    publish=list(grant.publish),
                    subscribe=list(grant.subscribe),
                    issued_by=grant.issued_by,
                    created_at=now,
                    expires_at=grant.expires_at,
                )
            )

    def revoke_grant(self, tenant_id: str, grant_id: str, now: dt.datetime) -> str | None:
        """Revoke a grant of this tenant; the device whose door shrank, or None."""
        where = (
            grants.c.tenant_id == tenant_id,
            grants.c.id == grant_id,
            grants.c.revoked_at.is_(None),
        )
        with self._tx() as conn:
            device_id = conn.execute(select(grants.c.device_id).where(*where)).scalar()
            if device_id is not None:
                conn.execute(update(grants).where(*where).values(revoked_at=now))
        return device_id

    def grants(
        self, *, tenant_id: str | None = None, device_id: str | None = None
    ) -> list[GrantRow]:
        """Grants (all tenants when ``tenant_id`` is None: the live state's load)."""
        query = select(grants).order_by(grants.c.id)
        if tenant_id is not None:
            query = query.where(grants.c.tenant_id == tenant_id)
        if device_id is not None:
            query = query.where(grants.c.device_id == device_id)
        with self._tx() as conn:
            return [read_grant(r) for r in conn.execute(query).mappings()]

    # -- deny and allow lists -------------------------------------------------------------

    def add_list_entry(
        self, entry_id: str, entry: AccessListEntry, by: str, now: dt.datetime
    ) -> None:
        """Store a list entry (``entry.scope`` None: hub-wide)."""
        with self._tx() as conn:
            conn.execute(
                insert(access_list_entries).values(
                    id=entry_id,
                    tenant_id=entry.scope,
                    mode=entry.mode,
                    kind=entry.kind,
                    value=entry.value,
                    reason=entry.reason,
                    created_by=by,
                    created_at=now,
                    expires_at=entry.expires_at,
                )
            )

    def delete_list_entry(self, scope: str | None, entry_id: str) -> bool:
        """Delete one entry of ``scope`` (a tenant, or None for hub-wide)."""
        t = access_list_entries.c
        scoped = t.tenant_id.is_(None) if scope is None else t.tenant_id == scope
        with self._tx() as conn:
            return (
                conn.execute(delete(access_list_entries).where(scoped, t.id == entry_id)).rowcount
                > 0
            )

    def list_entries(self, scope: str | None = None, *, every: bool = False) -> list[ListRow]:
        """Entries of one scope, or of all scopes with ``every``."""
        query = select(access_list_entries).order_by(access_list_entries.c.id)
        if not every:
            t = access_list_entries.c
            query = query.where(t.tenant_id.is_(None) if scope is None else t.tenant_id == scope)
        with self._tx() as conn:
            return [read_list_entry(r) for r in conn.execute(query).mappings()]

    # -- revoked tokens -------------------------------------------------------------------

    def revoked_token_ids(self, now: dt.datetime) -> set[str]:
        """Every revoked ``jti`` whose token could still be presented at ``now``."""
        query = select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at > now)
        with self._tx() as conn:
            return set(conn.execute(query).scalars())

    # -- maker CAs ------------------------------------------------------------------------

    def add_maker(self, row: MakerRow) -> None:
        """Register a maker CA for its tenant."""
        with self._tx() as conn:
            conn.execute(insert(maker_cas).values({n: getattr(row, n) for n in row.__slots__}))

    def makers(self, tenant_id: str | None = None) -> list[MakerRow]:
        """Maker CAs of one tenant, or of all tenants."""
        query = select(maker_cas).order_by(maker_cas.c.id)
        if tenant_id is not None:
            query = query.where(maker_cas.c.tenant_id == tenant_id)
        with self._tx() as conn:
            return [read_maker(r) for r in conn.execute(query).mappings()]

    def revoke_maker(self, tenant_id: str, maker_id: str, now: dt.datetime) -> bool:
        """Stop trusting one maker CA of this tenant."""
        t = maker_cas.c
        query = (
            update(maker_cas)
            .where(t.tenant_id == tenant_id, t.id == maker_id, t.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with self._tx() as conn:
            return conn.execute(query).rowcount > 0

    # -- gateways -------------------------------------------------------------------------

    def add_child(self, tenant_id: str, gateway_id: str, child_id: str, now: dt.datetime) -> None:
        """Register ``child_id`` behind ``gateway_id`` (a child has one gateway)."""
        with self._tx() as conn:
            conn.execute(
                insert(gateway_children).values(
                    tenant_id=tenant_id, gateway_id=gateway_id, child_id=child_id, created_at=now
                )
            )

    def remove_child(self, tenant_id: str, gateway_id: str, child_id: str) -> bool:
        """Unregister a child."""
        t = gateway_children.c
        query = delete(gateway_children).where(
            t.tenant_id == tenant_id, t.gateway_id == gateway_id, t.child_id == child_id
        )
        with self._tx() as conn:
            return conn.execute(query).rowcount > 0

    def children(self, tenant_id: str | None = None) -> dict[str, set[str]]:
        """Gateway id -> child ids (of one tenant, or all)."""
        query = select(gateway_children.c.gateway_id, gateway_children.c.child_id)
        if tenant_id is not None:
            query = query.where(gateway_children.c.tenant_id == tenant_id)
        out: dict[str, set[str]] = {}
        with self._tx() as conn:
            for gateway_id, child_id in conn.execute(query):
                out.setdefault(gateway_id, set()).add(child_id)
        return out

    # -- per-device limits ----------------------------------------------------------------

    def set_limits(
        self, tenant_id: str, device_id: str, limits: DeviceLimits, now: dt.datetime
    ) -> None:
        """Store (replace) one device's limits."""
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "max_payload": limits.max_payload,
            "publish_rate": limits.publish_rate,
            "publish_burst": limits.publish_burst,
            "allowed_listeners": (
                sorted(limits.allowed_listeners) if limits.allowed_listeners is not None else None
            ),
            "allowed_cidrs": (
                [str(n) for n in limits.allowed_cidrs] if limits.allowed_cidrs is not None else None
            ),
            "updated_at": now,
        }
        t = device_limits.c
        with self._tx() as conn:
            conn.execute(
                delete(device_limits).where(t.tenant_id == tenant_id, t.device_id == device_id)
            )
            conn.execute(insert(device_limits).values(device_id=device_id, **values))

    def limits(self) -> dict[str, DeviceLimits]:
        """Device id -> its limits, for every device that has its own."""
        with self._tx() as conn:
            return {
                r["device_id"]: read_limits(r)
                for r in conn.execute(select(device_limits)).mappings()
            }

    # -- the change feed ------------------------------------------------------------------

    def note_change(
        self, tenant_id: str | None, what: str, target: str | None, now: dt.datetime
    ) -> int:
        """Append to the change feed; returns its sequence number."""
        with self._tx() as conn:
            return note(conn, tenant_id, what, target, now)

    def last_change(self) -> int:
        """The newest change's sequence number (0 when none)."""
        with self._tx() as conn:
            return int(conn.execute(select(func.max(access_changes.c.seq))).scalar() or 0)

    def changes_since(self, seq: int, limit: int) -> list[tuple[int, str, str | None]]:
        """Up to ``limit`` change-feed entries after ``seq``: (seq, what, target), in order."""
        t = access_changes.c
        query = select(t.seq, t.what, t.target).where(t.seq > seq).order_by(t.seq).limit(limit)
        with self._tx() as conn:
            return [(int(s), w, tg) for s, w, tg in conn.execute(query)]
