"""Topic names, topic filters and matching (5.0 §4.7, §4.8.2; 3.1.1 §4.7).

Spec ids differ between the two documents; both are cited where they differ
(``v5`` / ``v3``). The ``*_problem`` functions return a human-readable reason or ``None`` so
that the codec can raise the right error class (remote or local) around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fleetward.mqtt.constants import MAX_STRING_BYTES
from fleetward.mqtt.errors import TopicFilterInvalidError

__all__ = [
    "SHARE_PREFIX",
    "SharedSubscription",
    "is_valid_topic_filter",
    "is_valid_topic_name",
    "matches",
    "parse_shared_subscription",
    "topic_filter_problem",
    "topic_name_problem",
]

SHARE_PREFIX: Final = "$share/"
_SAFE_CHARS: Final = MAX_STRING_BYTES // 4
"""Strings this short cannot exceed 65,535 UTF-8 bytes (four bytes per code point at most)."""


def _common_problem(text: str, what: str) -> str | None:
    """Rules shared by names and filters: MQTT-4.7.3-1/2/3 (v5 and v3 alike)."""
    if not text:
        return f"{what} is empty (MQTT-4.7.3-1)"
    if "\x00" in text:
        return f"{what} contains U+0000 (MQTT-4.7.3-2)"
    if not text.isascii():
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return f"{what} contains a surrogate (MQTT-1.5.4-1)"
        if size > MAX_STRING_BYTES:
            return f"{what} longer than 65,535 bytes (MQTT-4.7.3-3)"
    elif len(text) > MAX_STRING_BYTES:
        return f"{what} longer than 65,535 bytes (MQTT-4.7.3-3)"
    return None


def topic_name_problem(topic: str, *, max_levels: int | None = None) -> str | None:
    """Why ``topic`` is not a valid Topic Name, or ``None``.

    Wildcards are forbidden in names (v5 MQTT-4.7.0-1, v3 MQTT-4.7.1-1, MQTT-3.3.2-2).
    ``max_levels`` is Fleetward's depth bound, not a spec rule.
    """
    problem = _common_problem(topic, "topic name")
    if problem is not None:
        return problem
    if "+" in topic or "#" in topic:
        return "topic name contains a wildcard (MQTT-3.3.2-2)"
    if max_levels is not None and topic.count("/") >= max_levels:
        return f"topic name deeper than {max_levels} levels"
    return None


def _plain_filter_problem(topic_filter: str, max_levels: int | None) -> str | None:
    levels = topic_filter.split("/")
    if max_levels is not None and len(levels) > max_levels:
        return f"topic filter deeper than {max_levels} levels"
    if "+" in topic_filter or "#" in topic_filter:
        last = len(levels) - 1
        for index, level in enumerate(levels):
            if "#" in level and (level != "#" or index != last):
                return "'#' must be a whole, last level (v5 MQTT-4.7.1-1, v3 MQTT-4.7.1-2)"
            if "+" in level and level != "+":
                return "'+' must be a whole level (v5 MQTT-4.7.1-2, v3 MQTT-4.7.1-3)"
    return None


def topic_filter_problem(
    topic_filter: str, *, max_levels: int | None = None, shared: bool = True
) -> str | None:
    """Why ``topic_filter`` is not a valid Topic Filter, or ``None``.

    With ``shared`` (MQTT 5) a filter starting ``$share/`` must follow 5.0 §4.8.2
    (MQTT-4.8.2-1/2); MQTT 3.1.1 has no shared subscriptions, so there it is an ordinary
    filter. ``max_levels`` bounds the depth of the (inner) filter.
    """
    problem = _common_problem(topic_filter, "topic filter")
    if problem is not None:
        return problem
    if shared and topic_filter.startswith(SHARE_PREFIX):
        name, sep, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
        if not name:
            return "empty ShareName (MQTT-4.8.2-1)"
        if "+" in name or "#" in name:
            return "ShareName contains a wildcard (MQTT-4.8.2-2)"
        if not sep or not inner:
            return "ShareName must be followed by '/' and a topic filter (MQTT-4.8.2-2)"
        return _plain_filter_problem(inner, max_levels)
    return _plain_filter_problem(topic_filter, max_levels)


def is_valid_topic_name(topic: str, *, max_levels: int | None = None) -> bool:
    """Whether ``topic`` may be published to; see :func:`topic_name_problem`."""
    return topic_name_problem(topic, max_levels=max_levels) is None


def is_valid_topic_filter(
    topic_filter: str, *, max_levels: int | None = None, shared: bool = True
) -> bool:
    """Whether ``topic_filter`` may be subscribed to; see :func:`topic_filter_problem`."""
    return topic_filter_problem(topic_filter, max_levels=max_levels, shared=shared) is None


@dataclass(frozen=True, slots=True)
class SharedSubscription:
    """A parsed ``$share/{share_name}/{topic_filter}`` (5.0 §4.8.2)."""

    share_name: str
    topic_filter: str


def parse_shared_subscription(topic_filter: str) -> SharedSubscription | None:
    """Split a shared-subscription filter; ``None`` for an ordinary filter.

    Raises :class:`TopicFilterInvalidError` when the filter starts with ``$share/`` but
    breaks MQTT-4.8.2-1/2 or the inner filter is invalid.
    """
    if not topic_filter.startswith(SHARE_PREFIX):
        return None
    problem = topic_filter_problem(topic_filter)
    if problem is not None:
        raise TopicFilterInvalidError(problem)
    name, _, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
    return SharedSubscription(name, inner)


def matches(topic_filter: str, topic: str) -> bool:
    """Whether the (non-shared, valid) ``topic_filter`` matches the topic name ``topic``.

    ``#`` also matches the parent level ("sport/#" matches "sport", 5.0 §4.7.1.2); ``+``
    matches exactly one, possibly empty, level. A filter that starts with a wildcard never
    matches a topic starting with ``$`` (MQTT-4.7.2-1). Matching is exact, code point by
    code point, with no normalisation (MQTT-4.7.3-4). For a shared subscription pass
    :attr:`SharedSubscription.topic_filter`.
    """
    if topic[:1] == "$" and topic_filter[:1] in ("+", "#"):
        return False
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    depth = len(topic_levels)
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= depth:
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == depth
