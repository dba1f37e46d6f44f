"""Small private files written so that a crash leaves either the old or the new content.

Shared by the E2E replay journal and the device credential store (both hold secrets or
security state on a device): one place decides the temporary name, the ``0600`` mode,
the fsyncs and the rename, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_private_atomically"]


def write_private_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, mode ``0600``, atomically and durably.

    A temporary sibling ``.NAME.tmp`` is created exclusively (a stale one from a crash
    is removed first), written and fsynced, renamed over ``path``, and the directory is
    fsynced so the rename itself survives a crash. Raises :class:`OSError`; callers turn
    it into their own error.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX: the directory entry is part of the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
