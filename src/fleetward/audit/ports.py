"""What the audit service needs from storage, as a port the SQL adapter implements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from fleetward.audit.chain import GENESIS_HASH, AuditEntry, Checkpoint
from fleetward.errors import ConflictError

__all__ = ["AuditStorage", "Batch", "ChainHead", "HeadMovedError"]


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the stored chain ends, and where it was last anchored."""

    seq: int = 0
    hash: str = GENESIS_HASH
    checkpoint_seq: int = 0
    checkpoint_at: dt.datetime | None = None


class HeadMovedError(ConflictError):
    """Another writer took the seq numbers a batch was built for.

    Only possible when the write lock was bypassed (its row deleted); the writer
    re-reads the head and builds its batch again.
    """

    code = "audit.head_moved"


Batch = tuple[Sequence[AuditEntry], Sequence[Checkpoint]]


class AuditStorage(Protocol):
    """Append-only storage of entries and checkpoints."""

    def head(self) -> ChainHead:
        """The last stored entry and the last checkpoint (zeros for an empty log)."""
        ...

    def append(self, build: Callable[[ChainHead], Batch]) -> Batch:
        """Under the log's write lock, in one transaction: read the head, store ``build(head)``.

        Holding the lock while the batch is built onto the head it just read is what
        keeps several writers (the hub, the CLI, replicas) on one chain. Returns what was
        stored. Raises :class:`StorageError` when the database fails and
        :class:`HeadMovedError` when another writer got in regardless.
        """
        ...

    def tail(self, n: int, *, tenant_id: str | None = None) -> list[AuditEntry]:
        """The last ``n`` entries (of one tenant, if given), oldest first."""
        ...

    def iter_entries(self) -> Iterator[AuditEntry]:
        """Every entry in ``seq`` order, streamed."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in ``seq`` order."""
        ...
