"""Building the configured key provider and vault (called once, from the composition root).

The start-up checks live here, so they run wherever a hub or a CLI opens the vault:
a key file inside the data directory, open to others or of the wrong size stops the
start with a :class:`~fleetward.errors.ConfigError` naming the path and the problem.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from sqlalchemy.engine import Engine

from fleetward.clock import Clock
from fleetward.config import Settings
from fleetward.errors import ConfigError
from fleetward.vault.pkcs11 import Pkcs11KeyProvider, find_pkcs11_module
from fleetward.vault.ports import KekMismatchError
from fleetward.vault.providers import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    create_key_file,
    default_key_file,
)
from fleetward.vault.service import Vault
from fleetward.vault.sql import SqlDataKeys

__all__ = ["build_key_provider", "build_vault", "key_file_path"]

log = logging.getLogger("fleetward.vault")


def key_file_path(settings: Settings) -> Path:
    """The configured key file, or ``<data_dir>.keys/kek``."""
    return settings.vault.key_file or default_key_file(settings.data_dir)


def build_key_provider(settings: Settings, *, create_missing: bool = True) -> KeyProvider:
    """The KEK provider ``settings.vault`` asks for, checked.

    ``create_missing`` makes a missing key file (0600, in a new 0700 directory) or a
    missing HSM key on first start; the CLI passes ``False`` so it never mints a KEK.
    Raises :class:`ConfigError` for every refusal.
    """
    v = settings.vault
    if v.provider == "env":
        if v.env_secret is None:
            raise ConfigError(
                f"vault.env_var: {v.env_var} is not set", code="config.missing_secret"
            )
        return EnvKeyProvider.from_base64(
            v.env_secret.get_secret_value(), source=f"environment variable {v.env_var}"
        )
    if v.provider == "pkcs11":
        if v.pkcs11_pin is None:
            raise ConfigError("vault.pkcs11_pin: required", code="config.missing_secret")
        return Pkcs11KeyProvider(
            find_pkcs11_module(v.pkcs11_module),
            token_label=v.pkcs11_token_label,
            key_label=v.pkcs11_key_label,
            pin=v.pkcs11_pin.get_secret_value(),
            create_missing=create_missing,
        )
    path = key_file_path(settings)
    if create_missing and not path.exists() and not path.is_symlink():
        create_key_file(path, settings.data_dir)
        log.warning(
            "created a new key-encryption key at %s; back it up apart from the data directory "
            "(without it, encrypted data cannot be read)",
            path,
        )
    return FileKeyProvider.load(path, settings.data_dir)


def build_vault(settings: Settings, engine: Engine, clock: Clock, provider: KeyProvider) -> Vault:
    """A :class:`Vault` on the registry's engine; checks the KEK wraps the stored keys."""
    v = settings.vault
    vault = Vault(
        SqlDataKeys(engine),
        provider,
        clock,
        cache_size=v.cache_size,
        cache_ttl=dt.timedelta(seconds=v.cache_seconds),
    )
    try:
        vault.check()
    except KekMismatchError as e:
        raise ConfigError(f"vault: {e.detail}", code="vault.kek_mismatch") from None
    return vault
