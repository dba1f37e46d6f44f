"""Key providers and their start-up refusals: where the key file lies, who may touch it,
its size; the environment KEK; and the ``[vault]`` settings."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from fleetward.config import load_settings
from fleetward.errors import ConfigError
from fleetward.vault import (
    EnvKeyProvider,
    FileKeyProvider,
    KekMismatchError,
    build_key_provider,
    create_key_file,
    default_key_file,
    key_file_path,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    d = tmp_path / "keys"
    d.mkdir(mode=0o700)
    return d


def _refused(path: Path, data_dir: Path, code: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        FileKeyProvider.load(path, data_dir)
    assert info.value.code == code
    assert str(path) in info.value.detail
    return info.value


def test_created_key_file_is_private_and_loads(key_dir: Path, data_dir: Path) -> None:
    path = key_dir / "sub" / "kek"
    create_key_file(path, data_dir)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_size == 32
    provider = FileKeyProvider.load(path, data_dir)
    assert provider.kek_id.startswith("aes-")
    assert FileKeyProvider.load(path, data_dir).kek_id == provider.kek_id
    wrapped = provider.wrap(b"k" * 32, b"ctx")
    assert provider.unwrap(wrapped, b"ctx") == b"k" * 32
    with pytest.raises(KekMismatchError):
        provider.unwrap(wrapped, b"other")
    assert path.read_bytes().hex() not in repr(provider)


def test_create_never_overwrites(key_dir: Path, data_dir: Path) -> None:
    path = key_dir / "kek"
    create_key_file(path, data_dir)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        create_key_file(path, data_dir)
    assert info.value.code == "vault.key_file_exists"
    assert path.read_bytes() == before


def test_key_file_inside_data_dir_is_refused(data_dir: Path) -> None:
    path = data_dir / "kek"
    with pytest.raises(ConfigError) as info:
        create_key_file(path, data_dir)
    assert info.value.code == "vault.key_file_inside_data_dir"
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    error = _refused(path, data_dir, "vault.key_file_inside_data_dir")
    assert "inside the data directory" in error.detail
    _refused(data_dir / "nested" / ".." / "kek", data_dir, "vault.key_file_inside_data_dir")


def test_symlink_into_data_dir_is_refused(tmp_path: Path, data_dir: Path, key_dir: Path) -> None:
    real = data_dir / "kek"
    real.write_bytes(os.urandom(32))
    real.chmod(0o600)
    link = key_dir / "kek"
    link.symlink_to(real)
    error = _refused(link, data_dir, "vault.key_file_inside_data_dir")
    assert "resolves to" in error.detail
    # a data directory reached through a symlink is the same directory
    alias = tmp_path / "data-alias"
    alias.symlink_to(data_dir)
    outside = key_dir / "kek2"
    create_key_file(outside, data_dir)
    FileKeyProvider.load(outside, alias)
    _refused(alias / "kek", data_dir, "vault.key_file_inside_data_dir")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
def test_key_file_open_to_others_is_refused(key_dir: Path, data_dir: Path, mode: int) -> None:
    path = key_dir / "kek"
    create_key_file(path, data_dir)
    path.chmod(mode)
    error = _refused(path, data_dir, "vault.key_file_permissions")
    assert f"{mode:04o}" in error.detail
    assert "chmod 600" in error.detail


def test_key_dir_writable_by_others_is_refused(key_dir: Path, data_dir: Path) -> None:
    path = key_dir / "kek"
    create_key_file(path, data_dir)
    key_dir.chmod(0o777)
    try:
        error = _refused(path, data_dir, "vault.key_file_permissions")
    finally:
        key_dir.chmod(0o700)
    assert "could be replaced" in error.detail


@pytest.mark.parametrize("size", [0, 16, 31, 33, 44])
def test_wrong_size_is_refused(key_dir: Path, data_dir: Path, size: int) -> None:
    path = key_dir / "kek"
    path.write_bytes(b"k" * size)
    path.chmod(0o600)
    error = _refused(path, data_dir, "vault.key_file_size")
    assert f"holds {size} bytes" in error.detail


def test_missing_and_non_regular_key_files_are_refused(key_dir: Path, data_dir: Path) -> None:
    _refused(key_dir / "absent", data_dir, "vault.key_file_missing")
    (key_dir / "dir").mkdir(mode=0o700)
    _refused(key_dir / "dir", data_dir, "vault.key_file_unreadable")


def test_default_key_file_is_a_sibling_of_the_data_dir(data_dir: Path) -> None:
    path = default_key_file(data_dir)
    assert path == data_dir.parent / "data.keys" / "kek"
    assert not path.is_relative_to(data_dir)
    assert default_key_file(Path(".")).parent.name.endswith(".keys")


def test_build_creates_the_default_key_file_once(tmp_path: Path) -> None:
    data = tmp_path / "hubdata"
    settings = load_settings(None, {"FLEETWARD_DATA_DIR": str(data)})
    first = build_key_provider(settings)
    path = key_file_path(settings)
    assert path == tmp_path / "hubdata.keys" / "kek"
    assert path.stat().st_mode & 0o777 == 0o600
    assert build_key_provider(settings).kek_id == first.kek_id
    # the same key file, once the data directory is moved up around it
    moved = load_settings(
        None, {"FLEETWARD_DATA_DIR": str(tmp_path), "FLEETWARD_VAULT__KEY_FILE": str(path)}
    )
    with pytest.raises(ConfigError) as info:
        build_key_provider(moved)
    assert info.value.code == "vault.key_file_inside_data_dir"


def test_build_without_create_needs_the_file(tmp_path: Path) -> None:
    settings = load_settings(None, {"FLEETWARD_DATA_DIR": str(tmp_path / "d")})
    with pytest.raises(ConfigError) as info:
        build_key_provider(settings, create_missing=False)
    assert info.value.code == "vault.key_file_missing"


def test_configured_key_file_inside_data_dir_stops_start(tmp_path: Path) -> None:
    data = tmp_path / "d"
    env = {
        "FLEETWARD_DATA_DIR": str(data),
        "FLEETWARD_VAULT__KEY_FILE": str(data / "keys" / "kek"),
    }
    with pytest.raises(ConfigError) as info:
        build_key_provider(load_settings(None, env))
    assert info.value.code == "vault.key_file_inside_data_dir"
    assert not (data / "keys").exists()


# -- the environment provider -------------------------------------------------------------


def test_env_provider_reads_its_secret_through_config() -> None:
    raw = os.urandom(32)
    for text in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        settings = load_settings(
            None, {"FLEETWARD_VAULT__PROVIDER": "env", "FLEETWARD_VAULT_KEK": text}
        )
        assert settings.vault.env_secret is not None
        assert text not in repr(settings)
        provider = build_key_provider(settings)
        assert provider.kek_id == EnvKeyProvider(raw).kek_id


def test_env_provider_names_the_variable_never_the_value() -> None:
    bad = base64.b64encode(b"too short").decode()
    settings = load_settings(
        None,
        {"FLEETWARD_VAULT__PROVIDER": "env", "FLEETWARD_VAULT__ENV_VAR": "MY_KEK", "MY_KEK": bad},
    )
    with pytest.raises(ConfigError) as info:
        build_key_provider(settings)
    assert info.value.code == "vault.env_key_invalid"
    assert "MY_KEK" in info.value.detail
    assert bad not in info.value.detail
    with pytest.raises(ConfigError) as info:
        EnvKeyProvider.from_base64("not base64!!", source="X")
    assert info.value.code == "vault.env_key_invalid"


def test_env_provider_without_the_variable_stops_start() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"FLEETWARD_VAULT__PROVIDER": "env"})
    assert info.value.code == "config.missing_secret"
    assert "FLEETWARD_VAULT_KEK" in info.value.detail


def test_env_secret_cannot_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('[vault]\nprovider = "env"\nenv_secret = "abc"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"FLEETWARD_VAULT_KEK": "x"})
    assert "vault.env_secret" in info.value.detail
    assert str(path) in info.value.detail


def test_pkcs11_needs_a_pin_and_hides_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"FLEETWARD_VAULT__PROVIDER": "pkcs11"})
    assert "vault.pkcs11_pin" in info.value.detail
    settings = load_settings(
        None, {"FLEETWARD_VAULT__PROVIDER": "pkcs11", "FLEETWARD_VAULT__PKCS11_PIN": "48213"}
    )
    assert settings.vault.pkcs11_pin is not None
    assert settings.vault.pkcs11_pin.get_secret_value() == "48213"
    assert "48213" not in repr(settings)
    assert "48213" not in str(settings.vault)


def test_vault_defaults() -> None:
    v = load_settings(None, {}).vault
    assert (v.provider, v.key_file, v.env_var, v.pkcs11_pin) == (
        "file",
        None,
        "FLEETWARD_VAULT_KEK",
        None,
    )
    assert (v.cache_size, v.cache_seconds) == (1024, 300)
