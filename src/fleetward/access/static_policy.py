"""Config-driven broker access: named users with argon2 passwords and topic patterns.

This is the small, explicit policy the embedded broker uses until device identities
arrive (and what conformance runs use, with an anonymous listener). Patterns may use
``{username}`` and ``{client_id}``, e.g. ``devices/{username}/#``. Nobody but the hub
itself may publish to ``$``-topics, whatever the patterns say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

from fleetward.access.mqtt_hooks import ConnectInfo, Identity, filter_covers
from fleetward.crypto import SecretHasher
from fleetward.errors import AuthenticationError

__all__ = ["MqttUser", "StaticPolicy"]

_ANONYMOUS = Identity("anonymous", anonymous=True)  # one shared, immutable


@dataclass(frozen=True, slots=True)
class MqttUser:
    """One configured broker user."""

    name: str
    password_hash: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


class StaticPolicy:
    """Both :class:`Authenticator` and :class:`Authorizer`, from configured users.

    Anonymous clients are accepted only on listeners that allow them, and then get the
    open policy: any topic except ``$``-topics for publishing, anything but ``$fleet``
    for subscribing.
    """

    __slots__ = ("_hasher", "_users", "generation")

    def __init__(self, users: Iterable[MqttUser], hasher: SecretHasher) -> None:
        self._users = {u.name: u for u in users}
        self._hasher = hasher
        self.generation = 0

    def has_user(self, name: str) -> bool:
        """Whether ``name`` is a configured user."""
        return name in self._users

    def authenticate(self, info: ConnectInfo) -> Identity | Awaitable[Identity]:
        """Admit an anonymous client where allowed (at once); else check the password."""
        if info.username is None and info.password is None:
            if info.allow_anonymous:
                return _ANONYMOUS
            raise AuthenticationError("this listener needs a user name and password")
        user = self._users.get(info.username or "")
        if user is None or info.password is None:
            raise AuthenticationError("bad user name or password")
        try:
            secret = info.password.decode()
        except UnicodeDecodeError:
            raise AuthenticationError("bad user name or password") from None
        return self._check_password(user, secret)

    async def _check_password(self, user: MqttUser, secret: str) -> Identity:
        # argon2 is deliberately slow: off the event loop
        ok = await asyncio.to_thread(self._hasher.verify, user.password_hash, secret)
        if not ok:
            raise AuthenticationError("bad user name or password")
        return Identity(user.name)

    def may_publish(self, identity: Identity, client_id: str, topic: str) -> bool:
        """Anonymous: anything but ``$``; users: their publish patterns."""
        if topic.startswith("$"):
            return False
        if identity.anonymous:
            return True
        return any(filter_covers(p, topic) for p in self._patterns(identity, client_id, "publish"))

    def may_subscribe(self, identity: Identity, client_id: str, topic_filter: str) -> bool:
        """Anonymous: anything outside ``$fleet``; users: their subscribe patterns."""
        if identity.anonymous:
            return not topic_filter.startswith("$fleet")
        return any(
            filter_covers(p, topic_filter) for p in self._patterns(identity, client_id, "subscribe")
        )

    def _patterns(self, identity: Identity, client_id: str, kind: str) -> tuple[str, ...]:
        user = self._users.get(identity.name)
        if user is None:
            return ()
        raw = user.publish if kind == "publish" else user.subscribe
        out = []
        for pattern in raw:
            # A substituted value must stay one literal topic level: a client id such as
            # "+", "#" or "a/b" would otherwise widen the grant to other clients' trees.
            if "{client_id}" in pattern and not _one_level(client_id):
                continue
            if "{username}" in pattern and not _one_level(user.name):
                continue
            out.append(pattern.replace("{username}", user.name).replace("{client_id}", client_id))
        return tuple(out)


def _one_level(value: str) -> bool:
    return bool(value) and not any(c in value for c in "+#/\x00")
