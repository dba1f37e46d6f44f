"""The hub's data at rest: the vault, telemetry history and owners' export and erasure.

Kept apart from :mod:`fleetward.app` so the composition root stays small; the hub owns
one :class:`DataServices` and calls it at prepare, broker start and stop, and close.
"""

from __future__ import annotations

from fleetward.access.assembly import AccessServices
from fleetward.audit import SqlAuditStore
from fleetward.broker import Broker
from fleetward.clock import Clock
from fleetward.config import Settings
from fleetward.dataexport import OwnerData
from fleetward.errors import FleetwardError
from fleetward.history import HistoryRecorder, HistoryService, build_history, build_recorder
from fleetward.keydir import KeyDirectoryService, open_directory_ring
from fleetward.presence import SqlAlertStore
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import (
    KeyProvider,
    Pkcs11KeyProvider,
    Vault,
    build_key_provider,
    build_vault,
)

__all__ = ["DataServices"]


class DataServices:
    """Vault, history and owner data, built on first use from one :class:`Settings`."""

    __slots__ = (
        "_clock",
        "_history",
        "_keydir",
        "_provider",
        "_recorder",
        "_registry",
        "_settings",
        "_store",
        "_vault",
        "mint_kek",
    )

    def __init__(
        self, settings: Settings, store: Store, registry: RegistryService, clock: Clock
    ) -> None:
        self._settings = settings
        self._store = store
        self._registry = registry
        self._clock = clock
        self._vault: Vault | None = None
        self._provider: KeyProvider | None = None
        self._history: HistoryService | None = None
        self._recorder: HistoryRecorder | None = None
        self._keydir: KeyDirectoryService | None = None
        self.mint_kek = True
        """Create a missing key file or HSM key on first use (the CLI never does)."""

    def vault(self) -> Vault:
        """The at-rest vault; refuses (ConfigError) a KEK file inside ``data_dir``, open to
        others, or one that does not wrap the stored data keys."""
        if self._vault is None:
            self._provider = build_key_provider(self._settings, create_missing=self.mint_kek)
            self._vault = build_vault(
                self._settings, self._store.engine, self._clock, self._provider
            )
        return self._vault

    def history(self) -> HistoryService:
        """Telemetry history (reads work whether or not recording is configured)."""
        if self._history is None:
            self._history = build_history(self._store.engine, self.vault(), self._owner_of)
        return self._history

    def keydir(self) -> KeyDirectoryService:
        """The E2E key directory (signing ring under ``data_dir/keys/e2e-directory``)."""
        if self._keydir is None:
            ring = open_directory_ring(self._settings.data_dir, self._clock.now())
            self._keydir = KeyDirectoryService(self._store.engine, ring, self._clock)
        return self._keydir

    def bind(self, access: AccessServices) -> None:
        """Revoking a device retires its E2E keys."""
        access.devices.on_revoked.append(self.keydir().retire_device_in)

    @property
    def recorder(self) -> HistoryRecorder | None:
        """The running recorder (``None`` when no stream is opted in or it is stopped)."""
        return self._recorder

    def owner_data(self, access: AccessServices) -> OwnerData:
        """An owner's export bundle and erasure."""
        return OwnerData(
            registry=self._registry,
            access=access,
            vault=self.vault(),
            history=self.history(),
            alerts=SqlAlertStore(self._store.engine),
            audit=SqlAuditStore(self._store.engine),
            clock=self._clock,
            keydir=self.keydir(),
        )

    def start(self, broker: Broker) -> None:
        """Tap the broker for opted-in telemetry (no tap at all when none is)."""
        self._recorder = build_recorder(self._settings.history, self.history(), self._clock)
        if self._recorder is not None:
            self._recorder.start()
            broker.router.tap = self._recorder.tap

    async def stop(self, broker: Broker | None) -> None:
        """Untap the broker and store what the last publishes left queued."""
        if self._recorder is None:
            return
        if broker is not None:
            broker.router.tap = None
        await self._recorder.stop()
        self._recorder = None

    def close(self) -> None:
        """Log out of a PKCS#11 token."""
        if isinstance(self._provider, Pkcs11KeyProvider):
            self._provider.close()
        self._provider = None
        self._vault = None

    def _owner_of(self, tenant_id: str, device_id: str) -> str | None:
        try:
            return self._registry.get_device(Scope(tenant_id), device_id).owner_id
        except FleetwardError:
            return None
