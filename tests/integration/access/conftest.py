"""One live broker per module for the access tests (enrolment costs an MQTT round trip)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...support.broker import live_broker
from ._fleet import MTLS, Fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    with live_broker(
        root / "hub",
        extra_listeners=MTLS,
        FLEETWARD_SECURITY__FLAP_THRESHOLD="8",
        FLEETWARD_SECURITY__FLAP_WINDOW_SECONDS="30",
    ) as lb:
        yield Fleet(lb, root)
