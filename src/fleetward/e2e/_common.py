"""What every envelope suite shares: the topic binding and the internal refusal."""

from __future__ import annotations

import functools
from typing import Final

from fleetward.errors import InvalidInputError
from fleetward.mqtt.topics import is_valid_topic_name

__all__ = ["VERSION", "RefusedError", "topic_bytes"]

VERSION: Final = 0x01  # the format version of every suite (docs/e2e-format.md)


class RefusedError(Exception):
    """Internal: why opening failed, for the debug log only (callers see ``E2EError``)."""


@functools.lru_cache(maxsize=1024)
def topic_bytes(topic: str) -> bytes:
    """``len16(UTF-8(topic))`` (``docs/e2e-format.md`` §3), for a valid topic name only.

    Cached: a device publishes on a handful of topics, and the check walks every character.
    Raises :class:`~fleetward.errors.InvalidInputError` for an invalid name.
    """
    if not is_valid_topic_name(topic):
        raise InvalidInputError("not a valid MQTT topic name", code="e2e.topic_invalid")
    raw = topic.encode()
    return len(raw).to_bytes(2, "big") + raw
