"""Structured logging: text for people, JSON lines for machines; secrets never written.

A redaction filter masks anything shaped like a Fleetward secret (API keys, bearer
headers, passwords in URLs) in every record, so a careless log call cannot leak one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Literal

__all__ = ["RedactingFilter", "configure_logging", "redact"]

_SECRET_PATTERNS = (
    re.compile(r"fwk_[a-z2-9]{12}_[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(://[^:/@\s]*:)[^@\s]+(@)"),  # user may be empty: redis://:pw@host
)


def redact(text: str) -> str:
    """``text`` with anything secret-shaped replaced by ``***``."""
    text = _SECRET_PATTERNS[0].sub("fwk_***", text)
    text = _SECRET_PATTERNS[1].sub(r"\1***", text)
    return _SECRET_PATTERNS[2].sub(r"\1***\2", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the message, exception and stack text; never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            # A malformed log call must neither raise into its caller (a filter runs
            # outside logging's error handling) nor have its raw arguments printed.
            message = f"{record.msg} (log arguments did not fit the format; dropped)"
            record.args = None
        cleaned = redact(message)
        if cleaned != message or record.args is None:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # the text formatter prints this cached text as it is
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("code", "device_id", "tenant_id", "client_id", "peer"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: Literal["text", "json"] = "text") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_fleetward", False):
            root.removeHandler(old)
    handler._fleetward = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request line with its full URL at INFO; webhook URLs may carry a
    # receiver's token in their query, so only its warnings get through.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
