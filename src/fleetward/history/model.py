"""Telemetry history, the pure part: which publishes are kept, for how long, and bound to what.

A device's telemetry arrives on ``devices/{device_id}/telemetry/{stream}``
(ARCHITECTURE.md, topic layout). A stream is kept only when an operator opted it in
with a rule; the first matching rule gives its retention. Every stored payload is
vault-encrypted with associated data naming the tenant, device, stream, time and
whether it was E2E-sealed, so a blob moved to another row does not open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from fleetward.mqtt import matches

__all__ = [
    "StreamRule",
    "TelemetryRecord",
    "aad_prefix",
    "looks_sealed",
    "record_aad",
    "retention_for",
    "row_aad",
    "telemetry_stream",
]

_PREFIX = "devices/"
_MIDDLE = "/telemetry/"
_E2E_VERSION = 0x01
_E2E_SUITES = (0x01, 0x02, 0x03)  # single, multi, stream (docs/e2e-format.md)
_E2E_MIN = 2 + 8 + 8  # version, suite, two key ids (docs/e2e-format.md)
_TABLE = b"telemetry_history"
_EIGHT = (8).to_bytes(4, "big")
_SEALED = (1).to_bytes(4, "big") + b"\x01"
_PLAIN = (1).to_bytes(4, "big") + b"\x00"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class StreamRule:
    """Streams matching ``pattern`` (an MQTT filter over the stream name) are kept."""

    pattern: str
    retention: dt.timedelta


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """One stored publish, as an owner reads it back (``payload`` decrypted at rest)."""

    id: int
    tenant_id: str
    owner_id: str
    device_id: str
    stream: str
    received_at: dt.datetime
    expires_at: dt.datetime
    sealed: bool
    """The payload is still an E2E envelope: only the app holding the key can open it."""
    payload: bytes


def telemetry_stream(topic: str) -> tuple[str, str] | None:
    """``(device_id, stream)`` of a telemetry topic, else ``None``."""
    if not topic.startswith(_PREFIX):
        return None
    cut = topic.find(_MIDDLE, len(_PREFIX))
    if cut <= len(_PREFIX):
        return None
    device_id = topic[len(_PREFIX) : cut]
    stream = topic[cut + len(_MIDDLE) :]
    if "/" in device_id or not stream:
        return None
    return device_id, stream


def retention_for(rules: Sequence[StreamRule], stream: str) -> dt.timedelta | None:
    """The retention of the first rule matching ``stream``; ``None``: not kept."""
    for rule in rules:
        if matches(rule.pattern, stream):
            return rule.retention
    return None


def looks_sealed(payload: bytes) -> bool:
    """Whether ``payload`` carries the E2E envelope header (version 1, suite 1, 2 or 3).

    Only a label for readers: sealed or not, the hub stores and treats the bytes alike.
    """
    return len(payload) >= _E2E_MIN and payload[0] == _E2E_VERSION and payload[1] in _E2E_SUITES


def aad_prefix(tenant_id: str, device_id: str, stream: str) -> bytes:
    """The part of :func:`record_aad` shared by every row of one stream."""
    return b"".join(
        _lp(f) for f in (_TABLE, tenant_id.encode(), device_id.encode(), stream.encode())
    )


def record_aad(
    tenant_id: str, device_id: str, stream: str, received_at: dt.datetime, sealed: bool
) -> bytes:
    """The vault associated data of one history row (length-prefixed fields)."""
    return row_aad(aad_prefix(tenant_id, device_id, stream), received_at, sealed)


def row_aad(prefix: bytes, received_at: dt.datetime, sealed: bool) -> bytes:
    """:func:`record_aad` from a stream's :func:`aad_prefix` (the ingest's fast path)."""
    return (
        prefix
        + _EIGHT
        + _micros(received_at).to_bytes(8, "big", signed=True)
        + (_SEALED if sealed else _PLAIN)
    )


def _lp(field: bytes) -> bytes:
    return len(field).to_bytes(4, "big") + field


def _micros(at: dt.datetime) -> int:
    delta = at.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
