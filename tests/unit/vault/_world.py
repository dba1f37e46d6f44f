"""Owners and KEKs the vault unit tests share."""

from __future__ import annotations

import base64
import datetime as dt
import os

from fleetward.vault import EnvKeyProvider, OwnerRef

ALICE = OwnerRef("tenant-1", "alice")
BOB = OwnerRef("tenant-1", "bob")
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def new_kek() -> EnvKeyProvider:
    """A fresh random KEK, as the environment would provide it."""
    return EnvKeyProvider.from_base64(base64.b64encode(os.urandom(32)).decode(), source="test")
