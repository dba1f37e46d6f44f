"""Typed, frozen settings: a TOML file overlaid by ``FLEETWARD_*`` environment variables.

Loaded once, in the composition root, and passed down; nothing else reads the
environment. Every value is validated at start-up and a bad one stops the hub with a
message naming the key and where it came from. No secret has a default: secrets are
generated on first start (the operator key) or supplied by the operator.

Environment variables map onto keys with a double underscore between section and key:
``FLEETWARD_API__PORT=9443`` sets ``[api] port``; ``FLEETWARD_DATA_DIR`` sets the
top-level ``data_dir``. A value that starts with ``[`` is read as a JSON list.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from fleetward.errors import ConfigError

__all__ = [
    "ApiSettings",
    "DatabaseSettings",
    "HistorySettings",
    "HistoryStreamSettings",
    "ListenerSettings",
    "LogSettings",
    "MqttSettings",
    "MqttUserSettings",
    "PresenceSettings",
    "SecuritySettings",
    "Settings",
    "TlsSettings",
    "VaultSettings",
    "WebhookSettings",
    "load_settings",
]

ENV_PREFIX = "FLEETWARD_"
_NOT_SETTINGS = frozenset({"CONFIG", "REQUIRE_SERVICES"})
Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiSettings(_Section):
    """The REST API listener."""

    host: str = "127.0.0.1"
    port: Port = 8443
    tls: bool = True
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    max_page_size: int = Field(default=200, ge=1, le=1000)


class ListenerSettings(_Section):
    """One broker listener: ``tls`` (MQTT over TLS), ``wss`` (MQTT over secure WebSocket),
    or, only when the operator asks for them, plain ``tcp`` and ``ws``."""

    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    kind: Literal["tls", "tcp", "wss", "ws"] = "tls"
    host: str = "127.0.0.1"
    port: Port = 8883
    allow_anonymous: bool = False
    force_anonymous_on_public_address: bool = False
    client_certificates: Literal["none", "optional", "required"] = "none"
    """mTLS on ``tls``/``wss`` listeners: ask for a client certificate, or insist on one."""
    client_ca_file: Path | None = None
    """CA bundle that client certificates must chain to; the hub CA when unset."""

    @model_validator(mode="after")
    def _client_certificates_need_tls(self) -> ListenerSettings:
        if self.client_certificates != "none" and self.kind not in ("tls", "wss"):
            raise ValueError("client_certificates needs a tls or wss listener")
        return self


class MqttUserSettings(_Section):
    """A config-defined broker user (until device identities take over).

    ``password_hash`` is an argon2id PHC string (``fleetward mqtt hash-password``);
    patterns may use ``{username}`` and ``{client_id}``.
    """

    name: str = Field(min_length=1, max_length=128)
    password_hash: str = Field(pattern=r"^\$argon2id\$")
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


class MqttSettings(_Section):
    """The embedded broker: listeners, input bounds and session limits."""

    enabled: bool = True
    # Devices enrolled by the hub connect with their certificate; others with a password or
    # a token on the same port (optional mTLS).
    listeners: tuple[ListenerSettings, ...] = (
        ListenerSettings(name="tls", client_certificates="optional"),
    )
    users: tuple[MqttUserSettings, ...] = ()
    max_packet_size: int = Field(default=256 * 1024, ge=64, le=256 << 20)
    max_topic_levels: int = Field(default=32, ge=1, le=1024)
    receive_maximum: int = Field(default=1024, ge=1, le=65535)
    max_inflight: int = Field(default=64, ge=1, le=65535)
    max_queued_messages: int = Field(default=1000, ge=0, le=1_000_000)
    max_session_expiry: int = Field(default=7 * 24 * 3600, ge=0, le=0xFFFFFFFF)
    max_keep_alive: int = Field(default=600, ge=0, le=65535)
    topic_alias_maximum: int = Field(default=64, ge=0, le=65535)
    write_buffer_high_water: int = Field(default=1 << 20, ge=16 * 1024, le=1 << 30)
    persistence: bool = True
    stats_interval: float = Field(default=10.0, ge=0, le=3600)
    """Seconds between ``$fleet/broker/…`` statistics updates; 0 turns them off."""
    durable_fsync: bool = False


class TlsSettings(_Section):
    """Server certificate. Both files unset means: generate a hub CA and certificate."""

    cert_file: Path | None = None
    key_file: Path | None = None
    server_names: tuple[str, ...] = ("localhost",)


class DatabaseSettings(_Section):
    """Registry storage. No URL means SQLite inside the data directory."""

    url: str | None = None
    echo: bool = False


class LogSettings(_Section):
    """Structured logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class SecuritySettings(_Section):
    """Secret hashing cost and credential lifetimes (bounded so a typo cannot disable them)."""

    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8 * 1024, le=4 << 20)
    argon2_parallelism: int = Field(default=2, ge=1, le=16)
    api_key_max_ttl_days: int = Field(default=365, ge=1, le=3650)
    api_key_cache_seconds: int = Field(default=60, ge=0, le=3600)
    token_ttl_seconds: int = Field(default=600, ge=1, le=3600)
    token_max_lifetime_seconds: int = Field(default=3600, ge=60, le=86400)
    token_leeway_seconds: int = Field(default=30, ge=0, le=300)
    token_issuer: str = Field(default="fleetward", min_length=1, max_length=128)
    connect_rate: float = Field(default=10_000.0, gt=0, le=1_000_000)
    """Hub-wide CONNECTs per second (token bucket); past it, 0x9F."""
    connect_burst: int = Field(default=20_000, ge=1, le=10_000_000)
    flap_threshold: int = Field(default=10, ge=1, le=10_000)
    """A device connecting this often within ``flap_window_seconds`` is banned."""
    flap_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    flap_ban_seconds: float = Field(default=60.0, gt=0, le=86400)


class VaultSettings(_Section):
    """Encryption at rest: where the key-encryption key (KEK) lives; never in the database.

    ``file``: a 32-byte key file outside ``data_dir`` (default ``<data_dir>.keys/kek``,
    created on first start). ``env``: a base64 KEK in the environment variable named by
    ``env_var``, read here at load time into ``env_secret``. ``pkcs11``: an AES key on a
    token (SoftHSM2 or a real HSM) that never leaves it; the PIN has no default.
    """

    provider: Literal["file", "env", "pkcs11"] = "file"
    key_file: Path | None = None
    env_var: str = Field(default="FLEETWARD_VAULT_KEK", pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")
    env_secret: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """Filled by :func:`load_settings` from ``env_var``; refused when set in a file."""
    pkcs11_module: Path | None = None
    """The PKCS#11 library; SoftHSM2's usual paths are tried when unset."""
    pkcs11_token_label: str = Field(default="fleetward", min_length=1, max_length=32)
    pkcs11_key_label: str = Field(default="fleetward-kek", min_length=1, max_length=64)
    pkcs11_pin: SecretStr | None = None
    cache_size: int = Field(default=1024, ge=0, le=1_000_000)
    """Unwrapped data keys kept in memory (0: unwrap on every use)."""
    cache_seconds: int = Field(default=300, ge=0, le=86400)
    """How long a cached data key is trusted before storage is asked again (bounds how long
    another replica may still decrypt after an owner is shredded)."""


class WebhookSettings(_Section):
    """An alert webhook: HMAC-SHA256-signed POSTs (``docs/presence.md``)."""

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    secret: str = Field(min_length=16, max_length=256, repr=False)
    tenant_id: str | None = None
    """Only this tenant's alerts; unset: every tenant's (an operator's endpoint)."""


class PresenceSettings(_Section):
    """Presence tracking and alert rules (seconds unless said otherwise)."""

    enabled: bool = True
    tick_interval: float = Field(default=1.0, gt=0, le=60)
    refresh_interval: float = Field(default=60.0, ge=0.1, le=3600)
    expected_interval: float | None = Field(default=None, gt=0)
    """Silence after this long without data; per tag below; unset: never silent."""
    expected_interval_by_tag: dict[str, float] = Field(default_factory=dict)
    expected_interval_by_device: dict[str, float] = Field(default_factory=dict)
    max_sessions: int = Field(default=20, ge=1, le=1000)
    offline_after: float | None = Field(default=300.0, ge=0)
    never_connected_after: float | None = Field(default=86400.0, ge=0)
    reconnect_count: int = Field(default=5, ge=2, le=1000)
    reconnect_window: float = Field(default=300.0, gt=0)
    site_window: float = Field(default=60.0, gt=0, le=3600)
    site_share: float = Field(default=0.5, gt=0, le=1)
    site_min_devices: int = Field(default=5, ge=2)
    healthy_share: float = Field(default=0.8, gt=0, le=1)
    webhooks: tuple[WebhookSettings, ...] = ()
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_base_delay: float = Field(default=1.0, gt=0, le=600)


class HistoryStreamSettings(_Section):
    """One opt-in rule: streams matching ``pattern`` are kept for ``retention_days``."""

    pattern: str = Field(min_length=1, max_length=128, pattern=r"^[^#]*#?$")
    """An MQTT topic filter over the stream name (``temperature``, ``power/+``, ``#``)."""
    retention_days: float = Field(default=30.0, gt=0, le=3660)


class HistorySettings(_Section):
    """Telemetry history: opt-in per stream, stored encrypted under the owner's data key."""

    streams: tuple[HistoryStreamSettings, ...] = ()
    """Empty: history is off and the broker's hot path does not look at payloads."""
    max_payload: int = Field(default=64 << 10, ge=16, le=16 << 20)
    queue_max: int = Field(default=100_000, ge=1, le=10_000_000)
    batch_max: int = Field(default=500, ge=1, le=100_000)
    flush_interval: float = Field(default=0.2, gt=0, le=60)
    purge_interval: float = Field(default=3600.0, gt=0, le=86400)
    max_query: int = Field(default=1000, ge=1, le=100_000)


class Settings(_Section):
    """Every setting of the hub."""

    data_dir: Path = Path("data")
    # The standard loop is the default. uvloop's fan-in stall (libuv reads a busy socket
    # 32 times per turn) is fixed, as the broker yields after each read; whether uvloop
    # is faster is still to be measured on a quiet machine (docs/benchmarks.md).
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    api: ApiSettings = ApiSettings()
    mqtt: MqttSettings = MqttSettings()
    tls: TlsSettings = TlsSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    security: SecuritySettings = SecuritySettings()
    vault: VaultSettings = VaultSettings()
    presence: PresenceSettings = PresenceSettings()
    history: HistorySettings = HistorySettings()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to SQLite in the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'fleetward.db').resolve()}"


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (optional TOML), overlay ``FLEETWARD_*`` variables, validate.

    Raises :class:`ConfigError` naming the offending key and its source.
    """
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path is not None:
        raw = _read_toml(path)
        for dotted in _dotted_keys(raw):
            origin[dotted] = str(path)
    for name, value in sorted((environ or {}).items()):
        env_key = _env_key(name)
        if env_key is None:
            continue
        _set_dotted(raw, env_key, _env_value(value), name)
        origin[env_key] = f"environment variable {name}"
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for p in first["loc"]]
        key = ".".join(loc)
        # The value may sit below the key that was set (tls.server_names.0), or above it.
        prefixes = (".".join(loc[:n]) for n in range(len(loc), 0, -1))
        where = next((origin[k] for k in prefixes if k in origin), None) or next(
            (src for k, src in origin.items() if k.startswith(key + ".")), "defaults"
        )
        raise ConfigError(
            f"{key}: {first['msg']} (from {where})", code="config.invalid_value"
        ) from None
    if settings.tls.cert_file is None and settings.tls.key_file is not None:
        raise ConfigError("tls.cert_file: required when tls.key_file is set")
    if settings.tls.key_file is None and settings.tls.cert_file is not None:
        raise ConfigError("tls.key_file: required when tls.cert_file is set")
    return _with_vault_secrets(settings, origin, environ or {})


def _with_vault_secrets(
    settings: Settings, origin: Mapping[str, str], environ: Mapping[str, str]
) -> Settings:
    """Check the vault's secrets and read the ``env`` provider's KEK from the environment."""
    vault = settings.vault
    if "vault.env_secret" in origin:
        raise ConfigError(
            f"vault.env_secret: cannot be configured (from {origin['vault.env_secret']}); "
            f"put the key in the environment variable named by vault.env_var ({vault.env_var})",
            code="config.invalid_value",
        )
    if vault.provider == "pkcs11" and vault.pkcs11_pin is None:
        raise ConfigError(
            "vault.pkcs11_pin: required for provider pkcs11 "
            "(set FLEETWARD_VAULT__PKCS11_PIN; it has no default)",
            code="config.missing_secret",
        )
    if vault.provider != "env":
        return settings
    value = environ.get(vault.env_var, "")
    if not value:
        raise ConfigError(
            f"vault.env_var: provider env needs the key in environment variable "
            f"{vault.env_var}, which is not set",
            code="config.missing_secret",
        )
    secret = vault.model_copy(update={"env_secret": SecretStr(value)})
    return settings.model_copy(update={"vault": secret})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", code="config.missing") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", code="config.syntax") from None
    except UnicodeDecodeError:  # TOML is UTF-8; tomllib lets the decode error through
        raise ConfigError(f"{path}: not valid TOML: not UTF-8", code="config.syntax") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}", code="config.unreadable") from e


def _env_key(name: str) -> str | None:
    if not name.startswith(ENV_PREFIX):
        return None
    rest = name[len(ENV_PREFIX) :]
    if rest in _NOT_SETTINGS or rest.startswith("TEST_"):
        return None
    if "__" in rest:
        return ".".join(part.lower() for part in rest.split("__"))
    if rest.lower() in Settings.model_fields:
        return rest.lower()
    return None


def _env_value(value: str) -> Any:
    if value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    *sections, leaf = dotted.split(".")
    node = raw
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {section} is not a section (from {source})")
        node = child
    node[leaf] = value


def _dotted_keys(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            keys.extend(_dotted_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys
