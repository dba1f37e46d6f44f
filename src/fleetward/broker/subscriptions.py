"""The subscription trie: which sessions want a topic, with a per-topic match cache.

Pure data structure (no I/O). Filters are stored level by level; ``+`` and ``#`` are
ordinary children that the matcher visits. Results for a topic are cached until the
next subscribe or unsubscribe, so a steady stream on one topic costs one dict lookup.
Shared subscriptions (``$share/{group}/{filter}``, MQTT 5 §4.8.2) are stored under
their filter with the group name, and the router picks one member per group.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Match", "SubscriptionTrie"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_CACHE_MAX = 65_536
_MISSING = object()


@dataclass(slots=True)
class _Node(Generic[K, V]):
    children: dict[str, _Node[K, V]] = field(default_factory=dict)
    # subscriber key -> value (subscription options); shared: group -> {key: value}
    subs: dict[K, V] = field(default_factory=dict)
    shared: dict[str, dict[K, V]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match(Generic[K, V]):
    """Everyone a topic reaches: direct subscribers, and shared groups to pick from.

    A subscriber matched by several filters appears once in ``direct`` with every
    matching subscription, so the router can deliver one copy at the highest QoS with
    all subscription identifiers (MQTT-3.3.4-2, MQTT-3.3.4-3).
    """

    direct: tuple[tuple[K, tuple[V, ...]], ...]
    groups: tuple[tuple[str, tuple[tuple[K, V], ...]], ...]


class SubscriptionTrie(Generic[K, V]):
    """Filters → subscribers, matched against topic names (MQTT-4.7.1, MQTT-4.7.2-1)."""

    __slots__ = ("_cache", "_root", "count")

    def __init__(self) -> None:
        self._root: _Node[K, V] = _Node()
        self._cache: dict[str, Match[K, V]] = {}
        self.count = 0

    def add(self, topic_filter: str, key: K, value: V, *, group: str | None = None) -> bool:
        """Subscribe ``key``; returns True if it replaced an existing subscription."""
        node = self._root
        for level in topic_filter.split("/"):
            nxt = node.children.get(level)
            if nxt is None:
                nxt = node.children[level] = _Node()
            node = nxt
        target = node.subs if group is None else node.shared.setdefault(group, {})
        existed = key in target
        target[key] = value
        if not existed:
            self.count += 1
        self._cache.clear()
        return existed

    def remove(self, topic_filter: str, key: K, *, group: str | None = None) -> bool:
        """Unsubscribe ``key``; returns whether it was subscribed. Prunes empty nodes."""
        path: list[tuple[_Node[K, V], str]] = []
        node = self._root
        for level in topic_filter.split("/"):
            nxt = node.children.get(level)
            if nxt is None:
                return False
            path.append((node, level))
            node = nxt
        if group is None:
            found = node.subs.pop(key, _MISSING) is not _MISSING
        else:
            members = node.shared.get(group)
            found = members is not None and members.pop(key, _MISSING) is not _MISSING
            if members is not None and not members:
                del node.shared[group]
        if not found:
            return False
        self.count -= 1
        self._cache.clear()
        for parent, level in reversed(path):
            child = parent.children[level]
            if child.children or child.subs or child.shared:
                break
            del parent.children[level]
        return True

    def match(self, topic: str) -> Match[K, V]:
        """Every subscription whose filter matches ``topic``."""
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        direct: dict[K, list[V]] = {}
        groups: dict[tuple[str, int], dict[K, V]] = {}
        levels = topic.split("/")
        self._walk(self._root, levels, 0, direct, groups, topic.startswith("$"))
        result: Match[K, V] = Match(
            tuple((k, tuple(v)) for k, v in direct.items()),
            tuple((name, tuple(m.items())) for (name, _), m in groups.items()),
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[topic] = result
        return result

    def _walk(
        self,
        node: _Node[K, V],
        levels: list[str],
        depth: int,
        direct: dict[K, list[V]],
        groups: dict[tuple[str, int], dict[K, V]],
        dollar: bool,
    ) -> None:
        # MQTT-4.7.2-1: wildcards at the first level never match a topic starting with $.
        wild_ok = not (dollar and depth == 0)
        hash_node = node.children.get("#") if wild_ok else None
        if hash_node is not None:
            self._collect(hash_node, direct, groups)
        if depth == len(levels):
            self._collect(node, direct, groups)
            return
        exact = node.children.get(levels[depth])
        if exact is not None:
            self._walk(exact, levels, depth + 1, direct, groups, dollar)
        plus = node.children.get("+") if wild_ok else None
        if plus is not None:
            self._walk(plus, levels, depth + 1, direct, groups, dollar)

    @staticmethod
    def _collect(
        node: _Node[K, V], direct: dict[K, list[V]], groups: dict[tuple[str, int], dict[K, V]]
    ) -> None:
        for key, value in node.subs.items():
            found = direct.get(key)
            if found is None:
                direct[key] = [value]
            else:
                found.append(value)
        # 5.0 §4.8.2: "Each Shared Subscription is independent": the same share name on
        # another filter is another group, so a message matching both goes to both.
        for group, members in node.shared.items():
            groups.setdefault((group, id(node)), {}).update(members)
