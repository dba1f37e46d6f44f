"""Topic ACLs carried in access tokens, and the "covers" relation that makes attenuation safe.

An :class:`Acl` is two lists of MQTT topic filters: what the bearer may publish to and
what it may subscribe to. One ACL *covers* another when every pattern of the other is
covered by some pattern of the first (:func:`fleetward.access.mqtt_hooks.filter_covers`),
so every topic the narrower ACL reaches, the wider one reaches too. That relation is the
whole of the attenuation rule: a token may only mint tokens whose ACL it covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from fleetward.access.mqtt_hooks import filter_covers
from fleetward.errors import InvalidInputError
from fleetward.mqtt import topic_filter_problem

__all__ = ["MAX_ACL_PATTERNS", "MAX_PATTERN_LENGTH", "MAX_PATTERN_LEVELS", "Acl"]

MAX_ACL_PATTERNS: Final = 32
"""Patterns per direction; a token is bounded in size, and so is the work of one check."""
MAX_PATTERN_LENGTH: Final = 256
"""Characters per pattern (far below MQTT's 65,535-byte limit, MQTT-4.7.3-3)."""
MAX_PATTERN_LEVELS: Final = 16
"""Topic levels per pattern."""

_SHARE_PREFIX: Final = "$share/"


def _invalid(detail: str) -> InvalidInputError:
    return InvalidInputError(detail, code="acl.invalid")


def _check_patterns(direction: str, patterns: object) -> None:
    if not isinstance(patterns, tuple) or not all(isinstance(p, str) for p in patterns):
        raise _invalid(f"{direction} patterns must be a tuple of strings")
    if len(patterns) > MAX_ACL_PATTERNS:
        raise _invalid(f"more than {MAX_ACL_PATTERNS} {direction} patterns")
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise _invalid(f"a {direction} pattern is longer than {MAX_PATTERN_LENGTH}")
        # A shared-subscription prefix (MQTT 5.0 §4.8.2) names a delivery group, not
        # topics; the broker authorizes the inner filter, so the ACL never holds one.
        if pattern.startswith(_SHARE_PREFIX):
            raise _invalid(f"a {direction} pattern may not be a $share filter")
        # MQTT 3.1.1 §4.7 / 5.0 §4.7 filter syntax; messages cite the rule, never echo input.
        problem = topic_filter_problem(pattern, max_levels=MAX_PATTERN_LEVELS, shared=False)
        if problem is not None:
            raise _invalid(f"invalid {direction} pattern: {problem}")


@dataclass(frozen=True, slots=True)
class Acl:
    """What a token's bearer may publish to and subscribe to: MQTT topic filters.

    Construction validates every pattern (MQTT 3.1.1 §4.7 wildcard rules, Fleetward's
    length and depth bounds) and raises :class:`InvalidInputError` (``acl.invalid``),
    so an ``Acl`` that exists is always well formed.
    """

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_patterns("publish", self.publish)
        _check_patterns("subscribe", self.subscribe)

    @classmethod
    def of(cls, *, publish: Iterable[str] = (), subscribe: Iterable[str] = ()) -> Acl:
        """An ACL from any iterables, duplicates removed and sorted (one canonical form)."""
        return cls(tuple(sorted(set(publish))), tuple(sorted(set(subscribe))))

    def covers(self, other: Acl) -> bool:
        """Whether every topic ``other`` reaches (either direction) this ACL reaches too."""
        return _all_covered(self.publish, other.publish) and _all_covered(
            self.subscribe, other.subscribe
        )

    def allows_publish(self, topic: str) -> bool:
        """Whether a PUBLISH to the topic name ``topic`` is within this ACL."""
        return any(filter_covers(p, topic) for p in self.publish)

    def allows_subscribe(self, topic_filter: str) -> bool:
        """Whether a SUBSCRIBE to ``topic_filter`` stays entirely within this ACL."""
        return any(filter_covers(p, topic_filter) for p in self.subscribe)

    def to_json(self) -> dict[str, list[str]]:
        """The ``acl`` claim: ``{"publish": [...], "subscribe": [...]}``."""
        return {"publish": list(self.publish), "subscribe": list(self.subscribe)}

    @classmethod
    def from_json(cls, value: object) -> Acl:
        """Parse the ``acl`` claim; anything but exactly the two lists is refused.

        Raises :class:`InvalidInputError` (``acl.invalid``).
        """
        if not isinstance(value, dict) or set(value) != {"publish", "subscribe"}:
            raise _invalid("the acl must have exactly 'publish' and 'subscribe'")
        publish, subscribe = value["publish"], value["subscribe"]
        if not isinstance(publish, list) or not isinstance(subscribe, list):
            raise _invalid("acl patterns must be lists")
        return cls(tuple(publish), tuple(subscribe))


def _all_covered(wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
    return all(any(filter_covers(w, n) for w in wide) for n in narrow)
