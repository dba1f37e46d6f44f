"""Where a device keeps what proves it: a credentials directory of ``0600`` files.

Layout (all written atomically, ``0600``, in a ``0700`` directory)::

    device.json   {"device_id": ...}
    device.key    the private key made on the device (PKCS#8 PEM); it never leaves
    device.crt    the hub-issued certificate (PEM)
    ca.pem        the hub CA the device pins for every later connection
    token.json    {"token": ..., "expires_at": ISO 8601}: the current short-lived token
    e2e-replay    the E2E replay bounds of sealed commands (``docs/e2e-format.md`` §8a),
                  created empty at enrolment, so that losing it is an error, not a reset

The token file is rewritten on every refresh; the key only at enrolment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from fleetward.clock import utc
from fleetward.e2e.replay_file import FileReplayJournal
from fleetward.errors import ConfigError, InvalidInputError
from fleetward.files import write_private_atomically

__all__ = ["CredentialStore", "Endpoint", "Token"]

_MAX_FILE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The hub's MQTT/TLS listener and the CA that must have signed its certificate."""

    host: str
    port: int
    ca_file: Path

    def tls_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A TLS 1.2+ client context pinned to :attr:`ca_file`, with a client cert if given."""
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if cert is not None:
                ctx.load_cert_chain(certfile=str(cert[0]), keyfile=str(cert[1]))
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"device TLS material unusable: {e}") from e
        return ctx


@dataclass(frozen=True, slots=True)
class Token:
    """A device token and when it stops being accepted."""

    token: str
    expires_at: dt.datetime

    def remaining(self, now: dt.datetime) -> float:
        """Seconds until expiry (negative once expired)."""
        return (self.expires_at - now).total_seconds()


class CredentialStore:
    """Reads and writes one device's credentials directory."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def key_file(self) -> Path:
        """The device's private key."""
        return self.root / "device.key"

    @property
    def cert_file(self) -> Path:
        """The hub-issued certificate."""
        return self.root / "device.crt"

    @property
    def ca_file(self) -> Path:
        """The hub CA learnt at enrolment."""
        return self.root / "ca.pem"

    @property
    def replay_file(self) -> Path:
        """The E2E replay state of sealed commands (see :class:`SealedChannel`)."""
        return self.root / "e2e-replay"

    def has_certificate(self) -> bool:
        """Whether the device has enrolled (a key and a certificate are on disk)."""
        return self.key_file.is_file() and self.cert_file.is_file()

    def cert_pair(self) -> tuple[Path, Path]:
        """``(certificate, key)`` for an mTLS context."""
        return self.cert_file, self.key_file

    def device_id(self) -> str:
        """The enrolled device id."""
        return str(json.loads(self._read("device.json"))["device_id"])

    def token(self) -> Token | None:
        """The last token stored, or None."""
        if not (self.root / "token.json").is_file():
            return None
        try:
            data = json.loads(self._read("token.json"))
            return Token(str(data["token"]), utc(dt.datetime.fromisoformat(data["expires_at"])))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(
                "the stored token is unreadable", code="device.token_file"
            ) from e

    def save_enrollment(
        self, device_id: str, key_pem: bytes, cert_pem: bytes, ca_pem: bytes, token: Token
    ) -> None:
        """Store everything enrolment produced (the key first: it is the hardest to redo)."""
        self._write("device.key", key_pem)
        self._write("device.crt", cert_pem)
        self._write("ca.pem", ca_pem)
        self._write("device.json", json.dumps({"device_id": device_id}).encode())
        self.save_token(token)
        FileReplayJournal(self.replay_file, create=True)  # a fresh device accepted nothing

    def save_token(self, token: Token) -> None:
        """Replace the stored token."""
        body = {"token": token.token, "expires_at": token.expires_at.isoformat()}
        self._write("token.json", json.dumps(body).encode())

    def _read(self, name: str) -> bytes:
        path = self.root / name
        try:
            with path.open("rb") as f:
                data = f.read(_MAX_FILE + 1)
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}") from e
        if len(data) > _MAX_FILE:
            raise InvalidInputError(f"{path} is too large", code="device.credential_file")
        return data

    def _write(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically and durably with mode 0600 (a crash leaves the old file)."""
        path = self.root / name
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o700)
            write_private_atomically(path, data)
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror}") from e
