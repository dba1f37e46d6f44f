"""Building the history service and recorder from ``[history]`` (the composition root's call)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from fleetward.clock import Clock
from fleetward.config import HistorySettings
from fleetward.history.model import StreamRule
from fleetward.history.recorder import HistoryRecorder, RecorderLimits
from fleetward.history.service import HistoryService, OwnerLookup
from fleetward.history.sql import SqlHistory
from fleetward.vault import Vault

__all__ = ["build_history", "build_recorder"]


def build_history(engine: Engine, vault: Vault, owner_of: OwnerLookup) -> HistoryService:
    """The history service on the registry's engine (reads work with recording off)."""
    return HistoryService(SqlHistory(engine), vault, owner_of)


def build_recorder(
    settings: HistorySettings, service: HistoryService, clock: Clock
) -> HistoryRecorder | None:
    """The recorder, or ``None`` when no stream is opted in (the broker then has no tap)."""
    if not settings.streams:
        return None
    rules = tuple(
        StreamRule(s.pattern, dt.timedelta(days=s.retention_days)) for s in settings.streams
    )
    limits = RecorderLimits(
        max_payload=settings.max_payload,
        queue_max=settings.queue_max,
        batch_max=settings.batch_max,
        flush_interval=settings.flush_interval,
        purge_interval=settings.purge_interval,
    )
    return HistoryRecorder(rules, service, clock, limits)
