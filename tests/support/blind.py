"""What "the hub stays blind" tests share: every log line and every stored byte.

Such a test proves a marker never shows up in anything the hub process logged or wrote,
so it needs all log records (not only ``fleetward.*`` ones, and with their tracebacks)
and every file under the hub's directories.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
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


def assert_blind(
    *,
    marker: bytes,
    control: bytes,
    envelopes: Sequence[bytes],
    wire: bytes,
    data_dir: Path,
    logs: AllRecords,
) -> None:
    """Check, after the hub stopped, that ``marker`` (only ever sealed) never showed.

    ``wire`` is what the hub process read and wrote: it must hold the ``envelopes`` and
    the unsealed ``control`` (so the capture is known to work) but not the marker. No
    file under ``data_dir`` or its key directory, and no log line, may hold the marker;
    the control was not opted into history, so no file holds it either.
    """
    assert control in wire  # the capture sees plaintext when there is plaintext
    assert all(env in wire for env in envelopes)
    assert marker not in wire
    stored = every_file(data_dir, data_dir.with_name(data_dir.name + ".keys"))
    assert stored  # the database, the broker's journal, the keys
    assert marker not in stored
    assert control not in stored
    logged = "\n".join(logs.lines)
    assert logged  # the hub did log (connects, the new KEK, ...)
    assert marker.decode() not in logged
