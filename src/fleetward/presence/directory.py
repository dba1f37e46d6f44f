"""Registry facts for presence: every device's tenant, owner, site, tags and birth time.

The monitor is a hub-internal service, so it walks every tenant, but only through the
registry's scoped API (one :class:`Scope` per tenant): there is still no unscoped query.
"""

from __future__ import annotations

from fleetward.presence.model import DeviceInfo
from fleetward.registry import RegistryService, Scope

__all__ = ["RegistryDirectory"]

_PAGE = 500


class RegistryDirectory:
    """:class:`~fleetward.presence.monitor.DeviceDirectory` over the registry service."""

    __slots__ = ("_limit", "_registry")

    def __init__(self, registry: RegistryService, *, limit: int = 1_000_000) -> None:
        self._registry = registry
        self._limit = limit

    def devices(self) -> list[DeviceInfo]:
        """Every device, up to ``limit`` (the tracker's own bound)."""
        out: list[DeviceInfo] = []
        tenant_cursor: str | None = None
        while True:
            tenants = self._registry.list_tenants(limit=_PAGE, cursor=tenant_cursor)
            for tenant in tenants.items:
                cursor: str | None = None
                while len(out) < self._limit:
                    page = self._registry.list_devices(Scope(tenant.id), limit=_PAGE, cursor=cursor)
                    out += [
                        DeviceInfo(d.id, d.tenant_id, d.owner_id, d.site, d.tags, d.created_at)
                        for d in page.items
                    ]
                    cursor = page.next_cursor
                    if cursor is None:
                        break
            tenant_cursor = tenants.next_cursor
            if tenant_cursor is None or len(out) >= self._limit:
                return out[: self._limit]
