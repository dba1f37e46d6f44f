"""The registry: tenants, owners, devices, credentials and API keys (SQL, tenant-scoped)."""

from fleetward.registry.models import (
    ApiKey,
    Device,
    DeviceCredential,
    DeviceKind,
    DeviceStatus,
    EntityStatus,
    Owner,
    Page,
    Role,
    Tenant,
)
from fleetward.registry.service import RegistryService, Scope
from fleetward.registry.sql.store import Store, Unit

__all__ = [
    "ApiKey",
    "Device",
    "DeviceCredential",
    "DeviceKind",
    "DeviceStatus",
    "EntityStatus",
    "Owner",
    "Page",
    "RegistryService",
    "Role",
    "Scope",
    "Store",
    "Tenant",
    "Unit",
]
