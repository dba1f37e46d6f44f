"""Access control: who is calling (authentication) and what they may do (authorization)."""

from fleetward.access.apikeys import TOKEN_PREFIX, ApiKeyService
from fleetward.access.principal import ALL_PERMISSIONS, OWNER_PERMISSIONS, Permission, Principal

__all__ = [
    "ALL_PERMISSIONS",
    "OWNER_PERMISSIONS",
    "TOKEN_PREFIX",
    "ApiKeyService",
    "Permission",
    "Principal",
]
