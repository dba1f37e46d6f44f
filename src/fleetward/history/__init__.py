"""Telemetry history: opted-in device telemetry, stored encrypted under the owner's data key.

The broker hands accepted publishes to :class:`HistoryRecorder` (its publish tap), which
batches them off the loop; :class:`HistoryService` vault-encrypts on write (E2E-sealed
payloads stay sealed inside), decrypts on read for the owner, purges by retention and
erases an owner's rows. See ``docs/history.md``.
"""

from fleetward.history.factory import build_history, build_recorder
from fleetward.history.model import (
    StreamRule,
    TelemetryRecord,
    aad_prefix,
    looks_sealed,
    record_aad,
    retention_for,
    row_aad,
    telemetry_stream,
)
from fleetward.history.recorder import HistoryRecorder, RecorderLimits
from fleetward.history.service import HistoryService, OwnerLookup, Pending, RowSealer
from fleetward.history.sql import SqlHistory, StoredRow
from fleetward.history.tables import telemetry_history

__all__ = [
    "HistoryRecorder",
    "HistoryService",
    "OwnerLookup",
    "Pending",
    "RecorderLimits",
    "RowSealer",
    "SqlHistory",
    "StoredRow",
    "StreamRule",
    "TelemetryRecord",
    "aad_prefix",
    "build_history",
    "build_recorder",
    "looks_sealed",
    "record_aad",
    "retention_for",
    "row_aad",
    "telemetry_history",
    "telemetry_stream",
]
