"""How the hub wires the vault and the history: refusals at start, no tap when off."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetward.app import Hub
from fleetward.errors import ConfigError

from ...support.broker import LiveBroker
from ...support.hub import hub_settings


def test_start_refuses_a_key_file_inside_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = hub_settings(data, FLEETWARD_VAULT__KEY_FILE=str(data / "kek"))
    hub = Hub(settings)
    try:
        with pytest.raises(ConfigError, match="inside the data directory"):
            hub.prepare()
    finally:
        hub.close()


def test_no_opted_in_stream_means_no_publish_tap(mqtt_broker: LiveBroker) -> None:
    assert mqtt_broker.broker.router.tap is None
    assert mqtt_broker.hub.data.recorder is None
