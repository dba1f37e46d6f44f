"""What the broker asks the access layer: who is connecting, and may they do this.

The broker calls an :class:`Authenticator` once per CONNECT. Most decisions (anonymous,
a signed token, a cached answer) need no waiting and come back at once, which keeps a
connect burst free of per-connection tasks; slow ones (argon2, the database) return an
awaitable instead and an :class:`Authorizer` on every
SUBSCRIBE and PUBLISH (it must be fast and synchronous; the broker caches its answers
per connection and topic until :attr:`Authorizer.generation` changes). The real device
identity and policy implementation plugs into these same protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Authenticator", "Authorizer", "ConnectInfo", "Identity", "filter_covers"]


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """The facts of one CONNECT attempt."""

    client_id: str
    username: str | None
    password: bytes | None
    listener: str
    peer: str
    protocol_version: int
    tls_version: str | None = None
    cert_subject: str | None = None
    cert_serial: str | None = None
    cert_der: bytes | None = None
    """The client certificate (DER) the TLS layer verified, on mTLS listeners."""
    allow_anonymous: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection speaks for, once authenticated.

    ``name`` is the stable identity (a device id, a user name); a client id may only be
    taken over by a connection with the same ``name`` and ``tenant_id``.
    """

    name: str
    tenant_id: str | None = None
    anonymous: bool = False
    kind: str = "user"
    """``user`` (configured), ``device``, ``enrolling`` (confined to enrolment), ``app``
    or ``grant`` (token holders whose rights are the token's ACL)."""
    credential: str | None = None
    """How it proved itself: ``password``, ``token``, ``certificate``, ``enrollment_code``
    or ``bootstrap``; revocation of one credential finds its live sessions by this."""
    token_ids: tuple[str, ...] = ()
    """The token's ``jti`` and its ancestors' (revoking any of them cuts the session)."""
    cert_fingerprint: str | None = None
    publish: tuple[str, ...] = ()
    """Token identities: the ACL's publish patterns."""
    subscribe: tuple[str, ...] = ()
    """Token identities: the ACL's subscribe patterns."""
    expires_at: float | None = None
    """Token identities: when the token expires (POSIX seconds, leeway included); the
    hub ends the session then, so a token's lifetime bounds the session's too."""
    meter: Callable[[int], int] | None = field(default=None, compare=False, repr=False)
    """Per-message admission for rate and size limits: returns 0 to admit, else the MQTT
    reason code to refuse with (0x97 for a payload or rate limit)."""


class Authenticator(Protocol):
    """Decides who a CONNECT speaks for."""

    def authenticate(self, info: ConnectInfo) -> Identity | Awaitable[Identity]:
        """The identity, now or as an awaitable; refuse with a FleetwardError.

        The error's ``mqtt_reason`` is the CONNACK answer; it may be raised here or by
        the awaitable.
        """
        ...


class Authorizer(Protocol):
    """Decides every SUBSCRIBE filter and PUBLISH topic."""

    @property
    def generation(self) -> int:
        """Changes whenever any decision may have changed (cached answers are dropped)."""
        ...

    def may_publish(self, identity: Identity, client_id: str, topic: str) -> bool:
        """Whether ``identity`` may publish to ``topic``."""
        ...

    def may_subscribe(self, identity: Identity, client_id: str, topic_filter: str) -> bool:
        """Whether ``identity`` may subscribe to ``topic_filter``."""
        ...


def filter_covers(pattern: str, topic_filter: str) -> bool:
    """Whether every topic matched by ``topic_filter`` is also matched by ``pattern``.

    Used to decide subscriptions: a filter is allowed only if an allowed pattern covers
    it entirely, so a wildcard can never reach past what the policy grants.
    """
    p_levels = pattern.split("/")
    f_levels = topic_filter.split("/")
    for i, p in enumerate(p_levels):
        if p == "#":
            # '#' at the first level never covers $-topics (MQTT-4.7.2-1)
            return not (i == 0 and f_levels[0].startswith("$"))
        if i >= len(f_levels):
            return False
        f = f_levels[i]
        if p == "+":
            if f == "#" or (i == 0 and f.startswith("$")):
                return False
            continue
        if p != f:
            return False
    return len(f_levels) == len(p_levels)
