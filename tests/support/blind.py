"""What "the hub stays blind" tests share: every log line and every stored byte.

Such a test proves a marker never shows up in anything the hub process logged or wrote,
so it needs all log records (not only ``fleetward.*`` ones, and with their tracebacks)
and every file under the hub's directories.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AllRecords(logging.Handler):
    """Every record at every level, rendered with its traceback text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@contextmanager
def all_log_records() -> Iterator[AllRecords]:
    """Attach an :class:`AllRecords` to the root logger at DEBUG; restore it after."""
    root = logging.getLogger()
    handler, level = AllRecords(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def every_file(*dirs: Path) -> bytes:
    """The bytes of every file below ``dirs`` (missing ones skipped), concatenated."""
    return b"".join(p.read_bytes() for d in dirs if d.exists() for p in d.rglob("*") if p.is_file())
