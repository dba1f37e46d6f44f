"""A vault on in-memory key storage and a manual clock, for the vault unit tests."""

from __future__ import annotations

import pytest

from fleetward.clock import ManualClock
from fleetward.vault import MemoryDataKeys, Vault

from ._world import START, new_kek


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def storage() -> MemoryDataKeys:
    return MemoryDataKeys()


@pytest.fixture
def vault(storage: MemoryDataKeys, clock: ManualClock) -> Vault:
    return Vault(storage, new_kek(), clock)
