"""A file that stores a receiver's replay bounds (:class:`~fleetward.e2e.durable.ReplayJournal`).

The one module of ``fleetward.e2e`` that does I/O (plain files, no event loop), so that
the device SDK and apps persist replay state the same way. Layout (``docs/e2e-format.md``
§8a)::

    "FWE2ERPL" || 0x01 || has_floor (1) || floor (8) || count (4)
    || count x (key id (8) || bound (8) || headroom (4)) || SHA-256 of everything before (32)

Written atomically (temporary file, fsync, rename, fsync of the directory) with mode
``0600``. A missing file is an error unless the caller creates it (``create=True``: the
first start of a receiver, e.g. at device enrolment): a file that vanished must not look
like a receiver that never accepted anything. A file that does not parse or whose
checksum does not match is an error too; both raise :class:`ReplayStateError`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from fleetward.e2e.durable import MAX_MARGIN, ReplayBounds
from fleetward.e2e.errors import ReplayStateError
from fleetward.e2e.replay import MAX_SEQ
from fleetward.files import write_private_atomically

__all__ = ["FileReplayJournal", "decode_bounds", "encode_bounds"]

_MAGIC: Final = b"FWE2ERPL\x01"
_HEAD: Final = len(_MAGIC) + 13
_ENTRY: Final = 20
_DIGEST: Final = 32
MAX_ENTRIES: Final = 1_000_000


def encode_bounds(bounds: ReplayBounds) -> bytes:
    """The file's bytes for ``bounds`` (key ids of 8 bytes, bounds in 0..2^64-1,
    headroom in 0..2^32-1)."""
    if not -1 <= bounds.floor <= MAX_SEQ or len(bounds.senders) > MAX_ENTRIES:
        raise ValueError("replay bounds out of range")
    has_floor = bounds.floor >= 0
    parts = [
        _MAGIC,
        bytes([has_floor]),
        max(bounds.floor, 0).to_bytes(8, "big"),
        len(bounds.senders).to_bytes(4, "big"),
    ]
    for kid, bound in bounds.senders.items():
        headroom = bounds.headroom.get(kid, 0)
        if len(kid) != 8 or not 0 <= bound <= MAX_SEQ or not 0 <= headroom <= MAX_MARGIN:
            raise ValueError("replay bound entry out of range")
        parts.append(kid + bound.to_bytes(8, "big") + headroom.to_bytes(4, "big"))
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def decode_bounds(data: bytes) -> ReplayBounds:
    """Parse :func:`encode_bounds` output; ``ValueError`` for anything else."""
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < _HEAD + _DIGEST or not body.startswith(_MAGIC):
        raise ValueError("not a replay state file")
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch")
    has_floor, at = body[len(_MAGIC)], len(_MAGIC) + 1
    if has_floor not in (0, 1):
        raise ValueError("bad floor flag")
    floor = int.from_bytes(body[at : at + 8], "big") if has_floor else -1
    count = int.from_bytes(body[at + 8 : _HEAD], "big")
    if len(body) != _HEAD + count * _ENTRY or count > MAX_ENTRIES:
        raise ValueError("length does not match the entry count")
    senders: dict[bytes, int] = {}
    headroom: dict[bytes, int] = {}
    for off in range(_HEAD, len(body), _ENTRY):
        kid = body[off : off + 8]
        senders[kid] = int.from_bytes(body[off + 8 : off + 16], "big")
        if room := int.from_bytes(body[off + 16 : off + _ENTRY], "big"):
            headroom[kid] = room
    if len(senders) != count:
        raise ValueError("duplicate key id")
    return ReplayBounds(floor, senders, headroom)


class FileReplayJournal:
    """Replay bounds in one file; ``create=True`` starts an empty one if none exists."""

    __slots__ = ("path",)

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        if create and not path.exists():
            self.save(ReplayBounds())

    def load(self) -> ReplayBounds:
        """The stored bounds; :class:`ReplayStateError` if missing or corrupt."""
        try:
            with self.path.open("rb") as f:
                data = f.read(_HEAD + MAX_ENTRIES * _ENTRY + _DIGEST + 1)
        except FileNotFoundError:
            raise ReplayStateError(
                f"replay state {self.path} is missing: refusing to start with empty windows "
                "(that would accept replays); restore it, or create it anew knowingly"
            ) from None
        except OSError as e:
            raise ReplayStateError(f"cannot read replay state {self.path}: {e.strerror}") from e
        try:
            return decode_bounds(data)
        except ValueError as e:
            raise ReplayStateError(f"replay state {self.path} is corrupt: {e}") from e

    def save(self, bounds: ReplayBounds) -> None:
        """Replace the file atomically and durably; :class:`ReplayStateError` on failure."""
        data = encode_bounds(bounds)
        try:
            write_private_atomically(self.path, data)
        except OSError as e:
            raise ReplayStateError(f"cannot write replay state {self.path}: {e.strerror}") from e
