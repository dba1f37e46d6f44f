"""Bodies of the access routes: enrolment, tokens, grants, lists, maker CAs, limits, audit.

Kept apart from :mod:`fleetward.api.schemas` (the registry's contract). Secrets appear
only in the one response that creates them (an enrolment code, a token); credential
listings never carry a hash.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from fleetward.access.issuer import IssuedToken
from fleetward.access.policy import DeviceLimits, Grant
from fleetward.access.store import CredentialRow, GrantRow, ListRow, MakerRow
from fleetward.api.schemas import Name, _printable

__all__ = [
    "AppTokenIn",
    "AttenuateIn",
    "ChildIn",
    "ChildrenOut",
    "CredentialOut",
    "DeviceTokenIn",
    "EnrollmentCodeIn",
    "EnrollmentCodeOut",
    "GrantIn",
    "GrantOut",
    "Jwk",
    "JwkSet",
    "LimitsIn",
    "LimitsOut",
    "ListEntryIn",
    "ListEntryOut",
    "MakerIn",
    "MakerOut",
    "TokenOut",
    "TokenRevoked",
]

MAX_PATTERNS = 32
MAX_TTL = 90 * 24 * 3600

Pattern = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_printable)
]
Patterns = Annotated[list[Pattern], Field(default_factory=list, max_length=MAX_PATTERNS)]
Ttl = Annotated[int, Field(ge=1, le=MAX_TTL, description="Lifetime in seconds.")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- enrolment and credentials -------------------------------------------------------------


class EnrollmentCodeIn(_In):
    """A new one-time code; omit ``code`` to let the hub make a strong one."""

    code: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    ttl_seconds: Ttl | None = None


class EnrollmentCodeOut(BaseModel):
    """The code is shown here once; only its hash is stored."""

    credential_id: str
    device_id: str
    code: str
    expires_at: dt.datetime


class CredentialOut(BaseModel):
    """A device credential (never its secret or hash)."""

    id: str
    device_id: str
    kind: str
    fingerprint: str | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, c: CredentialRow) -> CredentialOut:
        """From the stored row, dropping the hash."""
        return cls(
            id=c.id,
            device_id=c.device_id,
            kind=c.kind,
            fingerprint=c.fingerprint,
            expires_at=c.expires_at,
            revoked_at=c.revoked_at,
        )


# -- tokens --------------------------------------------------------------------------------


class DeviceTokenIn(_In):
    """A device token for an active device."""

    ttl_seconds: Ttl | None = None


class AppTokenIn(_In):
    """A token for an app over the caller's own devices (patterns name one device each)."""

    sub: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    publish: Patterns
    subscribe: Patterns
    ttl_seconds: Ttl | None = None


class AttenuateIn(_In):
    """A narrower token from ``token`` (never wider, never longer-lived)."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    publish: Patterns
    subscribe: Patterns
    ttl_seconds: Ttl | None = None
    sub: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class TokenOut(BaseModel):
    """A signed token (shown once) and its claims."""

    token: str
    jti: str
    kind: str
    sub: str
    tenant_id: str
    publish: list[str]
    subscribe: list[str]
    issued_at: dt.datetime
    expires_at: dt.datetime
    parent: str | None

    @classmethod
    def of(cls, issued: IssuedToken) -> TokenOut:
        """From the issuer's answer."""
        c = issued.claims
        return cls(
            token=issued.token,
            jti=c.jti,
            kind=c.kind,
            sub=c.sub,
            tenant_id=c.tenant,
            publish=list(c.acl.publish),
            subscribe=list(c.acl.subscribe),
            issued_at=c.iat,
            expires_at=c.exp,
            parent=c.chain[-1] if c.chain else None,
        )


class TokenRevoked(BaseModel):
    """A revocation; ``already`` is true when the token was revoked before."""

    jti: str
    revoked: bool
    already: bool


class Jwk(BaseModel):
    """One public key (RFC 7517 §4)."""

    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    alg: str
    use: str


class JwkSet(BaseModel):
    """The hub's live token-verification keys (RFC 7517 §5)."""

    keys: list[Jwk]


# -- grants, gateways, limits --------------------------------------------------------------


class GrantIn(_In):
    """Widen a device's door to topics of other devices of the caller."""

    publish: Patterns
    subscribe: Patterns
    expires_at: dt.datetime | None = None


class GrantOut(BaseModel):
    """A grant."""

    id: str
    device_id: str
    publish: list[str]
    subscribe: list[str]
    expires_at: dt.datetime | None
    issued_by: str
    created_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: GrantRow) -> GrantOut:
        """From the stored row."""
        return cls.new(row.device_id, row.grant, row.created_at, row.revoked_at)

    @classmethod
    def new(
        cls,
        device_id: str,
        g: Grant,
        created_at: dt.datetime | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> GrantOut:
        """From a grant just made."""
        return cls(
            id=g.id,
            device_id=device_id,
            publish=list(g.publish),
            subscribe=list(g.subscribe),
            expires_at=g.expires_at,
            issued_by=g.issued_by,
            created_at=created_at,
            revoked_at=revoked_at,
        )


class ChildIn(_In):
    """A device a gateway may act for."""

    child_id: Id


class ChildrenOut(BaseModel):
    """A gateway's children."""

    gateway_id: str
    children: list[str]


def _cidr(value: str) -> str:
    ipaddress.ip_network(value, strict=False)  # ValueError: a field error
    return value


class LimitsIn(_In):
    """A device's limits; omitted fields take the hub defaults."""

    max_payload: int = Field(default=256 * 1024, ge=1, le=256 * 1024 * 1024)
    publish_rate: float = Field(default=10.0, gt=0, le=1_000_000)
    publish_burst: int = Field(default=50, ge=1, le=1_000_000)
    allowed_listeners: list[Id] | None = Field(default=None, max_length=32)
    allowed_cidrs: (
        list[Annotated[str, StringConstraints(max_length=64), AfterValidator(_cidr)]] | None
    ) = Field(default=None, max_length=64)

    def limits(self) -> DeviceLimits:
        """As the policy core's value."""
        return DeviceLimits(
            max_payload=self.max_payload,
            publish_rate=self.publish_rate,
            publish_burst=self.publish_burst,
            allowed_listeners=None
            if self.allowed_listeners is None
            else frozenset(self.allowed_listeners),
            allowed_cidrs=None
            if self.allowed_cidrs is None
            else tuple(ipaddress.ip_network(c, strict=False) for c in self.allowed_cidrs),
        )


class LimitsOut(BaseModel):
    """A device's limits."""

    device_id: str
    max_payload: int
    publish_rate: float
    publish_burst: int
    allowed_listeners: list[str] | None
    allowed_cidrs: list[str] | None

    @classmethod
    def of(cls, device_id: str, lim: DeviceLimits) -> LimitsOut:
        """From the policy core's value."""
        return cls(
            device_id=device_id,
            max_payload=lim.max_payload,
            publish_rate=lim.publish_rate,
            publish_burst=lim.publish_burst,
            allowed_listeners=None
            if lim.allowed_listeners is None
            else sorted(lim.allowed_listeners),
            allowed_cidrs=None
            if lim.allowed_cidrs is None
            else [str(n) for n in lim.allowed_cidrs],
        )


# -- deny/allow lists and maker CAs --------------------------------------------------------


class ListEntryIn(_In):
    """A deny or allow entry: a device id, an MQTT client id or a network (CIDR)."""

    mode: Literal["deny", "allow"]
    kind: Literal["device", "client", "cidr"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    expires_at: dt.datetime | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class ListEntryOut(BaseModel):
    """A deny or allow entry; ``tenant_id`` null means hub-wide."""

    id: str
    tenant_id: str | None
    mode: str
    kind: str
    value: str
    expires_at: dt.datetime | None
    reason: str
    created_by: str
    created_at: dt.datetime

    @classmethod
    def of(cls, r: ListRow) -> ListEntryOut:
        """From the stored row."""
        e = r.entry
        return cls(
            id=r.id,
            tenant_id=e.scope,
            mode=e.mode,
            kind=e.kind,
            value=e.value,
            expires_at=e.expires_at,
            reason=e.reason,
            created_by=r.created_by,
            created_at=r.created_at,
        )


class MakerIn(_In):
    """A maker CA certificate (one PEM) to trust for bootstrap certificates."""

    name: Name
    pem: Annotated[str, StringConstraints(min_length=1, max_length=16 * 1024)]


class MakerOut(BaseModel):
    """A registered maker CA."""

    id: str
    tenant_id: str
    name: str
    fingerprint: str
    subject: str
    pem: str
    created_at: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, m: MakerRow) -> MakerOut:
        """From the stored row."""
        return cls(
            id=m.id,
            tenant_id=m.tenant_id,
            name=m.name,
            fingerprint=m.fingerprint,
            subject=m.subject,
            pem=m.pem,
            created_at=m.created_at,
            not_after=m.not_after,
            revoked_at=m.revoked_at,
        )
