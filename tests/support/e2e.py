"""E2E test helpers that stand for what an app or device holds outside the hub."""

from __future__ import annotations

import datetime as dt

from fleetward.e2e import PublicKeyRecord


class TrustedSenders:
    """Trusted sender keys by id (what a verified key-directory view gives)."""

    def __init__(self, *records: PublicKeyRecord) -> None:
        self._by_id = {r.key_id: r for r in records}

    def sender_key(self, key_id: bytes, *, now: dt.datetime) -> PublicKeyRecord | None:
        return self._by_id.get(key_id)
