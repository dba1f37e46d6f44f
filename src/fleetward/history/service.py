"""Telemetry history service: encrypt on write, decrypt on read, purge, erase.

Payloads are sealed with the owner's vault data key (ADR 0006) and associated data
binding tenant, device, stream, time and the sealed flag (:func:`record_aad`). An
E2E-sealed payload is stored as it came, still sealed, and vault-encrypted again: the
hub can undo only its own layer, never the device's. Runs on worker threads.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetward.errors import FleetwardError
from fleetward.history.model import (
    TelemetryRecord,
    aad_prefix,
    looks_sealed,
    record_aad,
    row_aad,
)
from fleetward.history.sql import SqlHistory, StoredRow
from fleetward.vault import OwnerRef

__all__ = ["HistoryService", "OwnerLookup", "Pending", "RowSealer"]

log = logging.getLogger("fleetward.history")

OwnerLookup = Callable[[str, str], str | None]
"""``owner_of(tenant_id, device_id)``: the device's owner id, ``None`` if unknown."""

_EXPORT_PAGE = 500


class RowSealer(Protocol):
    """What the service needs of :class:`~fleetward.vault.Vault` (the hub always passes the
    vault; the ingest benchmark passes a pass-through to measure what the vault costs)."""

    def encrypt_many(self, owner: OwnerRef, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """Seal each ``(plaintext, aad)`` for ``owner``; raises a :class:`FleetwardError`."""
        ...

    def decrypt(self, owner: OwnerRef, blob: bytes, aad: bytes = b"") -> bytes:
        """Open what :meth:`encrypt_many` sealed with the same ``aad``."""
        ...


@dataclass(frozen=True, slots=True)
class Pending:
    """A publish waiting to be stored (held in memory only until the next batch)."""

    tenant_id: str
    device_id: str
    stream: str
    received_at: dt.datetime
    retention: dt.timedelta
    payload: bytes


class HistoryService:
    """What the recorder, the REST edge and the export call."""

    __slots__ = ("_owner_of", "_store", "_vault", "skipped")

    def __init__(self, store: SqlHistory, vault: RowSealer, owner_of: OwnerLookup) -> None:
        self._store = store
        self._vault = vault
        self._owner_of = owner_of
        self.skipped = 0
        """Publishes not stored: device without an owner, or an owner shredded."""

    def store_batch(self, batch: Sequence[Pending]) -> int:
        """Encrypt and store ``batch`` in one transaction; returns how many were stored.

        One data-key lookup per owner in the batch; each row its own nonce and AAD.
        """
        owners: dict[tuple[str, str], OwnerRef | None] = {}
        prefixes: dict[tuple[str, str, str], bytes] = {}
        by_owner: dict[OwnerRef, list[tuple[Pending, bool, bytes]]] = {}
        for p in batch:
            key = (p.tenant_id, p.device_id)
            if key not in owners:
                owner_id = self._owner_of(p.tenant_id, p.device_id)
                owners[key] = None if owner_id is None else OwnerRef(p.tenant_id, owner_id)
            owner = owners[key]
            if owner is None:
                self.skipped += 1
                continue
            stream_key = (p.tenant_id, p.device_id, p.stream)
            prefix = prefixes.get(stream_key)
            if prefix is None:
                prefix = prefixes[stream_key] = aad_prefix(*stream_key)
            sealed = looks_sealed(p.payload)
            by_owner.setdefault(owner, []).append(
                (p, sealed, row_aad(prefix, p.received_at, sealed))
            )
        rows: list[StoredRow] = []
        for owner, items in by_owner.items():
            try:
                blobs = self._vault.encrypt_many(owner, [(p.payload, aad) for p, _s, aad in items])
            except FleetwardError as e:  # a shredded or deleted owner: nothing to keep
                log.warning("telemetry of owner %s not stored: %s", owner.owner_id, e.code)
                self.skipped += len(items)
                continue
            rows.extend(
                StoredRow(
                    0,
                    p.tenant_id,
                    owner.owner_id,
                    p.device_id,
                    p.stream,
                    p.received_at,
                    p.received_at + p.retention,
                    sealed,
                    blob,
                )
                for (p, sealed, _aad), blob in zip(items, blobs, strict=True)
            )
        self._store.insert_many(rows)
        return len(rows)

    def query(
        self,
        tenant_id: str,
        device_id: str,
        *,
        stream: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[TelemetryRecord]:
        """A device's history, oldest first, decrypted (sealed ones still E2E-sealed).

        The caller checks the device is visible to it first. Raises
        :class:`~fleetward.vault.UndecryptableError` for a damaged row.
        """
        rows = self._store.for_device(tenant_id, device_id, stream=stream, since=since, limit=limit)
        return [self._open(r) for r in rows]

    def for_owner(self, tenant_id: str, owner_id: str) -> Iterator[TelemetryRecord]:
        """Every row of an owner, decrypted, page by page (for the export)."""
        after: int | None = None
        while True:
            page = self._store.for_owner(tenant_id, owner_id, after=after, limit=_EXPORT_PAGE)
            for row in page:
                yield self._open(row)
            if len(page) < _EXPORT_PAGE:
                return
            after = page[-1].id

    def purge(self, now: dt.datetime) -> int:
        """Delete the rows past their retention."""
        return self._store.purge(now)

    def erase_owner(self, tenant_id: str, owner_id: str) -> int:
        """Delete every row of an owner (after the vault shredded their key)."""
        return self._store.delete_owner(tenant_id, owner_id)

    def _open(self, row: StoredRow) -> TelemetryRecord:
        aad = record_aad(row.tenant_id, row.device_id, row.stream, row.received_at, row.sealed)
        payload = self._vault.decrypt(OwnerRef(row.tenant_id, row.owner_id), row.blob, aad)
        return TelemetryRecord(
            row.id,
            row.tenant_id,
            row.owner_id,
            row.device_id,
            row.stream,
            row.received_at,
            row.expires_at,
            row.sealed,
            payload,
        )
