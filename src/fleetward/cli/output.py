"""Rendering for the CLI: rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["emit", "error_line", "plain"]

_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def plain(value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """A JSON-ready copy of a record (dataclass, enum, datetime, set)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "secret_hash"
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def emit(records: Iterable[Any], columns: Sequence[str], *, as_json: bool, title: str = "") -> None:
    """Print ``records`` as a table (``columns``) or as a JSON array."""
    rows = [plain(r) for r in records]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=title or None, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[Text(_cell(row.get(c))) for c in columns])  # data, never markup
    _out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def error_line(message: str) -> None:
    """One line on stderr, no traceback; ``message`` is shown literally, never as markup."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    _err.print(Text.assemble(("error:", "bold red"), " ", one_line), highlight=False)
