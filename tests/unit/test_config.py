"""Settings: defaults, the TOML file, the ``FLEETWARD_*`` overlay and every refusal.

A refusal must name the dotted key and where its value came from (the file's path or
the environment variable's name), because that is all an operator has to go on when
the hub will not start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fleetward.config import Settings, load_settings
from fleetward.errors import ConfigError, FleetwardError


def _write(tmp_path: Path, text: str, name: str = "fleetward.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path: Path | None = None, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ)
    return info.value


# -- defaults and sources ---------------------------------------------------------------


def test_defaults_are_safe_and_complete() -> None:
    s = load_settings(None, {})
    assert s == load_settings()
    assert s.data_dir == Path("data")
    assert (s.api.host, s.api.port, s.api.tls) == ("127.0.0.1", 8443, True)
    assert s.api.max_body_bytes == 1 << 20
    (listener,) = s.mqtt.listeners
    assert (listener.kind, listener.host, listener.port) == ("tls", "127.0.0.1", 8883)
    assert not listener.allow_anonymous
    assert (s.tls.cert_file, s.tls.key_file, s.tls.server_names) == (None, None, ("localhost",))
    assert s.database.url is None
    assert (s.log.level, s.log.format) == ("info", "text")
    assert (s.security.argon2_time_cost, s.security.argon2_memory_kib) == (3, 64 * 1024)
    assert s.database_url == f"sqlite:///{(Path('data') / 'fleetward.db').resolve()}"


def test_settings_are_frozen() -> None:
    s = load_settings(None, {})
    with pytest.raises(ValidationError):
        s.api.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        s.data_dir = Path("/elsewhere")  # type: ignore[misc]


def test_toml_file_values_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
data_dir = "{tmp_path / "hub"}"

[api]
host = "10.0.0.1"
port = 9443
max_page_size = 50

[tls]
server_names = ["hub.example", "10.0.0.2"]

[database]
url = "postgresql+psycopg://fleet@db/fleet"

[log]
level = "debug"
format = "json"

[security]
argon2_memory_kib = 16384
""",
    )
    s = load_settings(path, {})
    assert s.data_dir == tmp_path / "hub"
    assert (s.api.host, s.api.port, s.api.max_page_size) == ("10.0.0.1", 9443, 50)
    assert s.api.tls is True  # keys the file leaves out keep their defaults
    assert s.tls.server_names == ("hub.example", "10.0.0.2")
    assert s.database_url == "postgresql+psycopg://fleet@db/fleet"
    assert (s.log.level, s.log.format) == ("debug", "json")
    assert s.security.argon2_memory_kib == 16384


def test_environment_overrides_the_file_key_by_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '[api]\nhost = "10.0.0.1"\nport = 9000\n[log]\nlevel = "debug"\n')
    s = load_settings(
        path,
        {
            "FLEETWARD_API__PORT": "9443",
            "FLEETWARD_DATA_DIR": str(tmp_path / "env-data"),
            "FLEETWARD_TLS__SERVER_NAMES": '["a","b"]',
            "FLEETWARD_API__TLS": "false",
            "FLEETWARD_SECURITY__ARGON2_TIME_COST": "1",
        },
    )
    assert s.api.port == 9443  # environment wins over the file
    assert s.api.host == "10.0.0.1"  # a file key the environment does not touch stays
    assert s.log.level == "debug"
    assert s.data_dir == tmp_path / "env-data"
    assert s.database_url == f"sqlite:///{(tmp_path / 'env-data' / 'fleetward.db').resolve()}"
    assert s.tls.server_names == ("a", "b")
    assert s.api.tls is False
    assert s.security.argon2_time_cost == 1


@pytest.mark.parametrize(
    "name",
    [
        "FLEETWARD_CONFIG",
        "FLEETWARD_REQUIRE_SERVICES",
        "FLEETWARD_TEST_PG_URL",
        "FLEETWARD_TEST_API__PORT",
        "FLEETWARD_TOKEN",  # the banner tells operators to export this for curl
        "OTHER_API__PORT",
        "fleetward_api__port",
    ],
)
def test_variables_that_are_not_settings_are_ignored(name: str) -> None:
    assert load_settings(None, {name: "not-a-port"}) == load_settings(None, {})


# -- refusals name the key and the source ------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[bogus]\nx = 1\n", "bogus"),
        ("bogus = 1\n", "bogus"),
        ("[api]\nprot = 9443\n", "api.prot"),
        ("[security]\nargon2_memory = 8192\n", "security.argon2_memory"),
    ],
)
def test_unknown_keys_in_the_file_are_refused(tmp_path: Path, toml: str, key: str) -> None:
    path = _write(tmp_path, toml)
    err = _refusal(path)
    assert err.detail.startswith(f"{key}: ")
    assert str(path) in err.detail
    assert err.code == "config.invalid_value"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("FLEETWARD_API__PROT", "api.prot"),
        ("FLEETWARD_BOGUS__X", "bogus"),
        ("FLEETWARD_API__TLS__ENABLED", "api.tls"),
    ],
)
def test_unknown_keys_in_the_environment_are_refused(name: str, key: str) -> None:
    err = _refusal(**{name: "1"})
    assert err.detail.startswith(f"{key}: ")
    assert f"environment variable {name}" in err.detail


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[api]\nport = "abc"\n', "api.port"),
        ('[log]\nlevel = "verbose"\n', "log.level"),
        ("[api]\ntls = [1]\n", "api.tls"),
        ('[tls]\nserver_names = "hub.example"\n', "tls.server_names"),
        ('[tls]\nserver_names = ["ok", 2]\n', "tls.server_names"),
        ("[security]\nargon2_time_cost = 1.5\n", "security.argon2_time_cost"),
        ("api = 1\n", "api"),
    ],
)
def test_bad_types_in_the_file_name_key_and_file(tmp_path: Path, toml: str, key: str) -> None:
    path = _write(tmp_path, toml)
    err = _refusal(path)
    assert err.detail.startswith(key)
    assert f"(from {path})" in err.detail


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("FLEETWARD_API__PORT", "abc", "api.port"),
        ("FLEETWARD_LOG__FORMAT", "xml", "log.format"),
        ("FLEETWARD_API__TLS", "maybe", "api.tls"),
        ("FLEETWARD_TLS__SERVER_NAMES", '["ok", 2]', "tls.server_names"),
        ("FLEETWARD_TLS__SERVER_NAMES", "[not json", "tls.server_names"),
        ("FLEETWARD_SECURITY__ARGON2_MEMORY_KIB", "lots", "security.argon2_memory_kib"),
    ],
)
def test_bad_types_in_the_environment_name_key_and_variable(
    name: str, value: str, key: str
) -> None:
    err = _refusal(**{name: value})
    assert err.detail.startswith(key)
    assert f"(from environment variable {name})" in err.detail


def test_the_source_of_a_bad_value_is_the_one_that_set_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "[api]\nport = 9443\n[mqtt]\nmax_inflight = 0\n")
    err = _refusal(path, FLEETWARD_API__PORT="70000")
    assert "api.port" in err.detail
    assert "environment variable FLEETWARD_API__PORT" in err.detail
    assert str(path) not in err.detail

    err = _refusal(path, FLEETWARD_API__PORT="9000")
    assert "mqtt.max_inflight" in err.detail
    assert str(path) in err.detail


def test_a_refused_value_is_not_echoed() -> None:
    # Values may be secrets (a mistyped password in the wrong variable); the detail is
    # shown to whoever runs the hub and lands in logs.
    err = _refusal(FLEETWARD_API__PORT="hunter2-s3cret")
    assert "hunter2-s3cret" not in err.detail


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLEETWARD_API__PORT", "0"),
        ("FLEETWARD_API__PORT", "70000"),
        ("FLEETWARD_API__PORT", "-1"),
        ("FLEETWARD_MQTT__TLS_PORT", "65536"),
        ("FLEETWARD_API__MAX_BODY_BYTES", "1023"),
        ("FLEETWARD_API__MAX_PAGE_SIZE", "0"),
        ("FLEETWARD_MQTT__MAX_PACKET_SIZE", "63"),
        ("FLEETWARD_SECURITY__ARGON2_MEMORY_KIB", "8191"),
        ("FLEETWARD_SECURITY__ARGON2_TIME_COST", "0"),
        ("FLEETWARD_SECURITY__ARGON2_PARALLELISM", "0"),
        ("FLEETWARD_SECURITY__API_KEY_MAX_TTL_DAYS", "0"),
        ("FLEETWARD_SECURITY__API_KEY_CACHE_SECONDS", "-1"),
    ],
)
def test_out_of_bounds_values_are_refused(name: str, value: str) -> None:
    err = _refusal(**{name: value})
    key = name.removeprefix("FLEETWARD_").replace("__", ".").lower()
    assert err.detail.startswith(f"{key}: ")
    assert f"environment variable {name}" in err.detail


@pytest.mark.parametrize(
    ("name", "value", "attribute"),
    [
        ("FLEETWARD_API__PORT", "1", ("api", "port")),
        ("FLEETWARD_API__PORT", "65535", ("api", "port")),
        ("FLEETWARD_SECURITY__ARGON2_MEMORY_KIB", "8192", ("security", "argon2_memory_kib")),
        ("FLEETWARD_SECURITY__ARGON2_TIME_COST", "1", ("security", "argon2_time_cost")),
    ],
)
def test_bounds_are_inclusive(name: str, value: str, attribute: tuple[str, str]) -> None:
    section, key = attribute
    s = load_settings(None, {name: value})
    assert getattr(getattr(s, section), key) == int(value)


# -- the file itself -----------------------------------------------------------------------


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    err = _refusal(path)
    assert err.code == "config.missing"
    assert str(path) in err.detail
    assert isinstance(err, FleetwardError)


@pytest.mark.parametrize(
    "content",
    [b"[api\nport = 1\n", b"port = \n", b"[api]\nport = 1\nport = 2\n", b"\xff\xfe[api]\n"],
    ids=["unclosed-table", "missing-value", "duplicate-key", "not-utf8"],
)
def test_unreadable_toml_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    err = _refusal(path)
    assert err.code == "config.syntax"
    assert err.detail.startswith(f"{path}: not valid TOML")


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    err = _refusal(tmp_path)
    assert err.code == "config.unreadable"
    assert str(tmp_path) in err.detail


# -- cross-field rules ---------------------------------------------------------------------


def test_cert_file_without_key_file_is_refused(tmp_path: Path) -> None:
    err = _refusal(FLEETWARD_TLS__CERT_FILE=str(tmp_path / "hub.pem"))
    assert err.detail.startswith("tls.key_file: required")


def test_key_file_without_cert_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[tls]\nkey_file = "{tmp_path / "hub.key"}"\n')
    err = _refusal(path)
    assert err.detail.startswith("tls.cert_file: required")


def test_cert_and_key_file_together_are_accepted(tmp_path: Path) -> None:
    s = load_settings(
        None,
        {
            "FLEETWARD_TLS__CERT_FILE": str(tmp_path / "hub.pem"),
            "FLEETWARD_TLS__KEY_FILE": str(tmp_path / "hub.key"),
        },
    )
    assert (s.tls.cert_file, s.tls.key_file) == (tmp_path / "hub.pem", tmp_path / "hub.key")


def test_a_file_scalar_where_the_environment_expects_a_section_is_refused(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "api = 1\n")
    err = _refusal(path, FLEETWARD_API__PORT="9443")
    assert "api.port" in err.detail
    assert "FLEETWARD_API__PORT" in err.detail


def test_settings_model_refuses_unknown_fields_directly() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"api": {"port": 9443, "prot": 1}})
