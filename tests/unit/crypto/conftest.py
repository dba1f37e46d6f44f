"""Fixtures for the crypto tests: one hub CA and one maker CA per test module."""

from __future__ import annotations

import pytest

from ._certs import Issued, make_cert


@pytest.fixture(scope="module")
def hub_ca() -> Issued:
    return make_cert("Fleetward hub CA", ca=True)


@pytest.fixture(scope="module")
def maker() -> Issued:
    return make_cert("Acme Devices Root CA", ca=True)
