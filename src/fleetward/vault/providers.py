"""Key providers: where the key-encryption key (KEK) lives, always apart from the database.

A provider wraps and unwraps data keys and names its KEK (``kek_id``) so the vault can
tell which KEK wrapped each stored key. Three exist: a key file kept outside the data
directory (this module), the environment (this module) and a PKCS#11 token
(:mod:`fleetward.vault.pkcs11`).

The key file is refused, with a message naming the path and the problem, when it lies
inside the data directory (following symlinks: a copy or backup of the data directory
must never carry the key that opens it), when group or others may read or write it or
its directory, or when it is not exactly 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from typing import Protocol

from fleetward.crypto import AeadError, key_fingerprint, new_key, unwrap_key, wrap_key
from fleetward.crypto.aead import KEY_BYTES, RandomBytes
from fleetward.errors import ConfigError
from fleetward.vault.ports import KekMismatchError

__all__ = [
    "EnvKeyProvider",
    "FileKeyProvider",
    "KeyProvider",
    "create_key_file",
    "default_key_file",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with a KEK the database never sees."""

    @property
    def kek_id(self) -> str:
        """A stable public name of the KEK (stored next to every key it wraps)."""
        ...

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        """``dek`` encrypted under the KEK and bound to ``context``."""
        ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The data key inside ``wrapped``; raises :class:`KekMismatchError` if this KEK did
        not wrap it for ``context``, :class:`KeyProviderError` if the provider failed."""
        ...


class _LocalKek:
    """A KEK held in this process's memory (file and environment providers)."""

    __slots__ = ("_kek", "_kek_id", "_random")

    def __init__(self, kek: bytes, *, random: RandomBytes = os.urandom) -> None:
        if len(kek) != KEY_BYTES:
            raise ValueError(f"a KEK is {KEY_BYTES} bytes")
        self._kek = kek
        self._kek_id = "aes-" + key_fingerprint(kek, "fleetward/kek-id/v1")
        self._random = random

    @property
    def kek_id(self) -> str:
        """``aes-`` and a keyed fingerprint of the KEK."""
        return self._kek_id

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        """AES-256-GCM wrap (see :mod:`fleetward.crypto.aead` for why not RFC 3394)."""
        return wrap_key(self._kek, dek, context, random=self._random)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Unwrap, or :class:`KekMismatchError` (opaque about the cause)."""
        try:
            return unwrap_key(self._kek, wrapped, context)
        except AeadError:
            raise KekMismatchError(f"data key does not unwrap with KEK {self._kek_id}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kek_id={self._kek_id!r})"


class FileKeyProvider(_LocalKek):
    """The KEK read from a 32-byte key file kept outside the data directory."""

    __slots__ = ()

    @classmethod
    def load(
        cls, path: Path, data_dir: Path, *, random: RandomBytes = os.urandom
    ) -> FileKeyProvider:
        """Check where the key file lies and who may touch it, then read it.

        Raises :class:`ConfigError` (codes ``vault.key_file_*``) naming the path and the
        problem.
        """
        real = _outside_data_dir(path, data_dir)
        try:
            fd = os.open(real, os.O_RDONLY | _NOFOLLOW)
        except FileNotFoundError:
            raise ConfigError(
                f"vault.key_file: {path} does not exist", code="vault.key_file_missing"
            ) from None
        except OSError as e:
            raise ConfigError(
                f"vault.key_file: cannot open {path}: {e.strerror}",
                code="vault.key_file_unreadable",
            ) from e
        try:
            _check_modes(path, os.fstat(fd), real.parent)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size != KEY_BYTES:
                raise ConfigError(
                    f"vault.key_file: {path} holds {st.st_size} bytes; a key file holds exactly "
                    f"{KEY_BYTES} random bytes",
                    code="vault.key_file_size",
                )
            kek = fh.read(KEY_BYTES + 1)
        if len(kek) != KEY_BYTES:
            raise ConfigError(
                f"vault.key_file: {path} changed while being read", code="vault.key_file_size"
            )
        return cls(kek, random=random)


class EnvKeyProvider(_LocalKek):
    """The KEK given as base64 in an environment variable (read by config, not here)."""

    __slots__ = ()

    @classmethod
    def from_base64(
        cls, value: str, *, source: str, random: RandomBytes = os.urandom
    ) -> EnvKeyProvider:
        """Decode a standard or URL-safe base64 KEK; the error names ``source``, never the value."""
        text = value.strip().replace("-", "+").replace("_", "/").rstrip("=")
        try:
            kek = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            kek = b""
        if len(kek) != KEY_BYTES:
            raise ConfigError(
                f"vault.env_var: {source} must hold {KEY_BYTES} random bytes in base64 "
                "(e.g. the output of `openssl rand -base64 32`)",
                code="vault.env_key_invalid",
            )
        return cls(kek, random=random)


def default_key_file(data_dir: Path) -> Path:
    """``<data_dir>.keys/kek``: a sibling of the data directory, never inside it."""
    real = data_dir.resolve()
    return real.parent / f"{real.name}.keys" / "kek"


def create_key_file(path: Path, data_dir: Path, *, random: RandomBytes = os.urandom) -> None:
    """Write a new random KEK to ``path`` (mode 0600; a new directory gets 0700).

    Refuses a path inside ``data_dir`` and never overwrites an existing file: losing a
    KEK loses every owner's data.
    """
    _outside_data_dir(path, data_dir)
    directory = path.parent
    if not directory.exists():
        try:
            directory.mkdir(parents=True, mode=0o700)
            os.chmod(directory, 0o700)
        except OSError as e:
            raise ConfigError(
                f"vault.key_file: cannot create {directory}: {e.strerror}",
                code="vault.key_file_unwritable",
            ) from e
    key = new_key(random)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"vault.key_file: {path} already exists; refusing to overwrite a KEK",
            code="vault.key_file_exists",
        ) from None
    except OSError as e:
        raise ConfigError(
            f"vault.key_file: cannot create {path}: {e.strerror}", code="vault.key_file_unwritable"
        ) from e
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())


def _outside_data_dir(path: Path, data_dir: Path) -> Path:
    """``path`` with symlinks resolved, after refusing any placement inside ``data_dir``."""
    literal = Path(os.path.abspath(path))
    real = path.resolve()
    data_literal = Path(os.path.abspath(data_dir))
    data_real = data_dir.resolve()
    for candidate in (literal, real):
        for data in (data_literal, data_real):
            if candidate == data or candidate.is_relative_to(data):
                via = "" if candidate == literal else f" (it resolves to {real})"
                raise ConfigError(
                    f"vault.key_file: {path} lies inside the data directory {data_dir}{via}; "
                    "keep the key-encryption key apart from the data it protects",
                    code="vault.key_file_inside_data_dir",
                )
    return real


def _check_modes(path: Path, st: os.stat_result, directory: Path) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"vault.key_file: {path} is not a regular file", code="vault.key_file_unreadable"
        )
    if st.st_mode & 0o077:
        raise ConfigError(
            f"vault.key_file: {path} is open to group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path}",
            code="vault.key_file_permissions",
        )
    try:
        dir_mode = os.stat(directory).st_mode
    except OSError as e:
        raise ConfigError(
            f"vault.key_file: cannot inspect {directory}: {e.strerror}",
            code="vault.key_file_unreadable",
        ) from e
    if dir_mode & 0o022:
        raise ConfigError(
            f"vault.key_file: {path}: its directory {directory} is writable by group or "
            f"others (mode {stat.S_IMODE(dir_mode):04o}), so the key could be replaced; run "
            f"chmod go-w {directory}",
            code="vault.key_file_permissions",
        )
