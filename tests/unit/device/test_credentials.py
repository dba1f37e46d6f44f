"""The credentials directory: 0600 files in a 0700 directory, atomic, bounded, checked."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from fleetward.device import CredentialStore, Token
from fleetward.errors import ConfigError, InvalidInputError

T = Token("eyJ.a.b", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_round_trip_and_modes(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "c")
    assert not store.has_certificate()
    assert store.token() is None
    store.save_enrollment("dev-1", b"KEY", b"CERT", b"CA", T)
    assert store.has_certificate()
    assert store.device_id() == "dev-1"
    assert store.token() == T
    assert store.cert_pair() == (store.cert_file, store.key_file)
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    for f in store.root.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not list(store.root.glob(".*.tmp"))  # nothing half-written is left behind


def test_a_new_token_replaces_the_old(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save_token(T)
    later = Token("eyJ.c.d", T.expires_at + dt.timedelta(minutes=10))
    store.save_token(later)
    assert store.token() == later


def test_a_world_readable_directory_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    CredentialStore(root).save_token(T)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_corrupt_token_file_is_a_precise_error(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    (tmp_path / "token.json").write_text('{"token": "x"}')
    with pytest.raises(InvalidInputError) as e:
        store.token()
    assert e.value.code == "device.token_file"


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    (tmp_path / "device.json").write_bytes(b" " * 70_000)
    with pytest.raises(InvalidInputError) as e:
        store.device_id()
    assert e.value.code == "device.credential_file"


def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError):
        CredentialStore(blocker / "c").save_token(T)


def test_a_client_needs_an_enrolled_device(tmp_path: Path) -> None:
    from fleetward.device import DeviceClient, Endpoint

    with pytest.raises(ConfigError, match="enrol first"):
        DeviceClient(Endpoint("127.0.0.1", 1, tmp_path / "ca.pem"), CredentialStore(tmp_path))
