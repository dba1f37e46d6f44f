"""What the REST edge needs from the hub, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from fleetward.access import ApiKeyService
from fleetward.access.assembly import AccessServices
from fleetward.audit import AuditLog
from fleetward.dataexport import OwnerData
from fleetward.history import HistoryService
from fleetward.keydir import KeyDirectoryService
from fleetward.presence import PresenceMonitor
from fleetward.registry import RegistryService, Store

__all__ = ["ApiContext"]


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Services and bounds used by the routes."""

    registry: RegistryService
    api_keys: ApiKeyService
    store: Store
    access: AccessServices
    audit: AuditLog
    max_page_size: int = 200
    max_body_bytes: int = 1 << 20
    presence: PresenceMonitor | None = None
    history: HistoryService | None = None
    owner_data: OwnerData | None = None
    keydir: KeyDirectoryService | None = None
