"""Data keys in memory: the storage port for unit tests and simulators (no owners table,
so every owner exists)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Mapping, Sequence

from fleetward.vault.ports import DataKeyRecord, OwnerRef

__all__ = ["MemoryDataKeys"]


class MemoryDataKeys:
    """Implements :class:`~fleetward.vault.ports.DataKeyStorage` in a dict."""

    __slots__ = ("_by_owner", "_lock")

    def __init__(self) -> None:
        self._by_owner: dict[OwnerRef, DataKeyRecord] = {}
        self._lock = threading.Lock()

    def for_owner(self, owner: OwnerRef) -> DataKeyRecord | None:
        """The owner's key record, live or shredded."""
        with self._lock:
            return self._by_owner.get(owner)

    def insert(self, record: DataKeyRecord) -> DataKeyRecord:
        """Store ``record`` unless the owner has a key; the stored one."""
        with self._lock:
            return self._by_owner.setdefault(record.owner, record)

    def rewrap(self, dek_id: str, old_kek_id: str, wrapped_key: bytes, kek_id: str) -> bool:
        """Compare-and-set a live key's wrapping."""
        with self._lock:
            for owner, r in self._by_owner.items():
                if r.dek_id == dek_id and r.kek_id == old_kek_id and r.shredded_at is None:
                    self._by_owner[owner] = dataclasses.replace(
                        r, wrapped_key=wrapped_key, kek_id=kek_id
                    )
                    return True
            return False

    def shred(self, owner: OwnerRef, dek_id: str, now: dt.datetime) -> bool:
        """Drop the wrapped key (or leave a tombstone)."""
        with self._lock:
            r = self._by_owner.get(owner)
            if r is None:
                self._by_owner[owner] = DataKeyRecord(dek_id, owner, None, "", now, now)
                return False
            if r.shredded_at is not None:
                return False
            self._by_owner[owner] = dataclasses.replace(r, wrapped_key=None, shredded_at=now)
            return True

    def live_keys(self, *, after: str | None, limit: int) -> Sequence[DataKeyRecord]:
        """A page of live keys in ``dek_id`` order."""
        with self._lock:
            live = sorted(
                (r for r in self._by_owner.values() if r.shredded_at is None),
                key=lambda r: r.dek_id,
            )
        return [r for r in live if after is None or r.dek_id > after][: max(limit, 0)]

    def kek_counts(self) -> Mapping[str, int]:
        """Live keys per KEK id."""
        with self._lock:
            return dict(Counter(r.kek_id for r in self._by_owner.values() if r.shredded_at is None))
