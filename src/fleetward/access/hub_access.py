"""The broker's real :class:`Authenticator` and :class:`Authorizer`: devices, tokens, lists.

Who a CONNECT speaks for, in this order (the first credential present decides):

1. **A client certificate** (mTLS listeners). A live hub-issued certificate is the
   device it names (its fingerprint must be on record and unrevoked, and the hub CA's
   signature is checked again here, ADR 0004). A certificate that chains to one of the
   tenant's registered maker CAs is a *bootstrap* certificate: with the device id as user
   name, a pending device may enrol, once; a bootstrap certificate is never accepted
   twice, by any device.
2. **A token** as the password (user name = the token's subject): a device token makes
   the device; an app or grant token makes an identity whose rights are the token's ACL.
3. **A one-time enrollment code** as the password of a pending device (argon2, off the
   loop): the connection is confined to ``$fleet/enroll/{device_id}/…``.
4. Otherwise the configured users and anonymous listeners (:class:`StaticPolicy`).

Around that: a hub-wide connect token bucket (0x9F), the deny and allow lists before
and after identification (0x8A), flapping bans per client id and per device (0x8A), and
each device's listener and network restrictions (0x87). Every refusal raises a
:class:`FleetwardError` with a precise ``code``; the broker turns it into an
``AuthRefused`` hub event, which the audit log records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from fleetward.access.issuer import TokenIssuer
from fleetward.access.live import AccessState, DeviceState
from fleetward.access.mqtt_hooks import ConnectInfo, Identity, filter_covers
from fleetward.access.policy import check_connect_origin, may_publish, may_subscribe
from fleetward.access.ratelimit import FlapDetector, TokenBucket
from fleetward.access.static_policy import StaticPolicy
from fleetward.access.store import AccessStore, CredentialRow
from fleetward.clock import Clock
from fleetward.crypto import (
    HubCa,
    SecretHasher,
    certificate_fingerprint,
    certificate_pem,
    device_identity_from_certificate,
    verify_bootstrap_certificate,
)
from fleetward.errors import (
    AuthenticationError,
    BannedError,
    FleetwardError,
    ForbiddenError,
    RateLimitedError,
    ReasonCode,
)

__all__ = ["AuditHook", "HubAccess", "enroll_topic", "keys_topic", "token_topic"]

log = logging.getLogger("fleetward.access")

AuditHook = Callable[..., None]
"""``audit(actor=…, action=…, target=…, tenant_id=…, outcome=…, details=…)``."""

ENROLLING = "enrolling"
DEVICE = "device"
_TOKEN_KINDS = frozenset({"app", "grant"})
_MAX_CODE = 256


def enroll_topic(device_id: str, leaf: str) -> str:
    """``$fleet/enroll/{device_id}/{leaf}``: the enrolment conversation of one device."""
    return f"$fleet/enroll/{device_id}/{leaf}"


def token_topic(device_id: str, leaf: str) -> str:
    """``$fleet/token/{device_id}/{leaf}``: token refresh for a certificate-holding device."""
    return f"$fleet/token/{device_id}/{leaf}"


def keys_topic(device_id: str, leaf: str) -> str:
    """``$fleet/keys/{device_id}/{leaf}``: a device publishes its E2E public key (``put``)."""
    return f"$fleet/keys/{device_id}/{leaf}"


def _peer_ip(peer: str) -> str:
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return host.strip("[]")


def _looks_like_token(secret: str) -> bool:
    return secret.startswith("eyJ") and secret.count(".") == 2


class HubAccess:
    """Authenticates CONNECTs and authorizes topics against the live :class:`AccessState`."""

    __slots__ = (
        "_audit",
        "_clock",
        "_connects",
        "_flaps",
        "_hasher",
        "_hub_ca",
        "_issuer",
        "_mono",
        "_static",
        "_store",
        "generation",
        "state",
    )

    def __init__(
        self,
        state: AccessState,
        store: AccessStore,
        *,
        issuer: TokenIssuer,
        hub_ca: HubCa | None,
        hasher: SecretHasher,
        clock: Clock,
        static: StaticPolicy,
        flaps: FlapDetector,
        connects: TokenBucket,
        monotonic: Callable[[], float],
        audit: AuditHook,
    ) -> None:
        self.state = state
        self.generation = 0
        self._store = store
        self._issuer = issuer
        self._hub_ca = hub_ca
        self._hasher = hasher
        self._clock = clock
        self._static = static
        self._flaps = flaps
        self._connects = connects
        self._mono = monotonic
        self._audit = audit

    def changed(self) -> None:
        """Something decisions depend on changed: the broker drops its cached answers."""
        self.generation += 1
        self._static.generation = self.generation

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, info: ConnectInfo) -> Identity | Awaitable[Identity]:
        """Who ``info`` speaks for (see the module docstring); refusals raise."""
        mono = self._mono()
        if not self._connects.take(mono):
            raise RateLimitedError("too many connects, try again later", code="access.connect_rate")
        now = self._clock.now()
        peer_ip = _peer_ip(info.peer)
        self._check_lists(None, None, info.client_id, peer_ip, now)
        if self._flaps.banned_until(f"client:{info.client_id}", mono) is not None:
            raise BannedError("reconnecting too often, banned for a while", code="access.flapping")
        identity = self._by_certificate(info, now) if info.cert_der is not None else None
        if identity is not None:
            pass
        elif info.password is not None and info.username:
            try:
                secret = info.password.decode()
            except UnicodeDecodeError:
                raise AuthenticationError("bad user name or password") from None
            if _looks_like_token(secret):
                identity = self._by_token(info.username, secret)
            else:
                device = self.state.device(info.username)
                if device is None:
                    return self._static_admit(info, peer_ip, now)
                return self._by_enrollment_code(info, secret, peer_ip, now)
        else:
            return self._static_admit(info, peer_ip, now)
        return self._admit(identity, info, peer_ip, now)

    def _static_admit(
        self, info: ConnectInfo, peer_ip: str, now: dt.datetime
    ) -> Identity | Awaitable[Identity]:
        result = self._static.authenticate(info)
        if isinstance(result, Identity):
            return self._admit(result, info, peer_ip, now)

        async def finish() -> Identity:
            return self._admit(await result, info, peer_ip, self._clock.now())

        return finish()

    def _admit(
        self, identity: Identity, info: ConnectInfo, peer_ip: str, now: dt.datetime
    ) -> Identity:
        """The checks that need the identity: tenant lists, origin, flapping."""
        device_id = identity.name if identity.kind in (DEVICE, ENROLLING) else None
        self._check_lists(identity.tenant_id, device_id, info.client_id, peer_ip, now)
        if device_id is not None:
            state = self.state.device(device_id)
            if state is not None:
                decision = check_connect_origin(state.policy.limits, info.listener, peer_ip)
                if not decision.allowed:
                    raise ForbiddenError(decision.reason, code="access.origin")
        if device_id is None:
            return identity  # flapping bans are for devices (config users are operators')
        mono = self._mono()
        for key in {f"client:{info.client_id}", f"id:{identity.name}"}:
            if self._flaps.record_connect(key, mono) is not None:
                self._audit(
                    actor="hub",
                    action="access.ban",
                    target=identity.name,
                    tenant_id=identity.tenant_id,
                    details={"why": "flapping", "client_id": info.client_id[:64]},
                )
                raise BannedError(
                    "reconnecting too often, banned for a while", code="access.flapping"
                )
        return identity

    def _check_lists(
        self,
        tenant_id: str | None,
        device_id: str | None,
        client_id: str,
        peer_ip: str,
        now: dt.datetime,
    ) -> None:
        decision = self.state.lists.check(
            tenant_id=tenant_id, device_id=device_id, client_id=client_id, peer_ip=peer_ip, now=now
        )
        if not decision.allowed:
            raise BannedError(decision.reason, code="access.listed")

    def _by_certificate(self, info: ConnectInfo, now: dt.datetime) -> Identity | None:
        """The device or enrolling identity a certificate proves; None if it proves neither.

        A certificate that names no device (an operator's client certificate, say)
        leaves authentication to the password; one that names a device but is not on
        record (revoked, superseded) is refused outright.
        """
        der = info.cert_der or b""
        fingerprint = certificate_fingerprint(der)
        device_id = self.state.certificates.get(fingerprint)
        if device_id is not None:
            issued_by = self._hub_ca.cert if self._hub_ca is not None else None
            named = device_identity_from_certificate(der, issued_by=issued_by)
            device = self.state.device(device_id)
            if (
                named.device_id != device_id
                or device is None
                or device.row.tenant_id != named.tenant_id
            ):
                raise AuthenticationError(
                    "certificate not valid for this hub", code="cert.untrusted"
                )
            if info.username and info.username != device_id:
                raise AuthenticationError(
                    "the user name is not the certificate's device", code="cert.mismatch"
                )
            if not device.usable:
                raise ForbiddenError("this device may not connect", code="device.not_active")
            return self._device_identity(
                device_id, device.row.tenant_id, "certificate", fingerprint
            )
        if self._names_a_device(der):
            raise AuthenticationError("certificate revoked or unknown", code="cert.revoked")
        device = self.state.device(info.username or "")
        if device is None or not self.state.makers.get(device.row.tenant_id):
            return None
        return self._by_bootstrap(device, der, fingerprint, now)

    def _names_a_device(self, der: bytes) -> bool:
        """Whether ``der`` is a hub-issued device certificate (signature checked)."""
        if self._hub_ca is None:
            return False
        try:
            device_identity_from_certificate(der, issued_by=self._hub_ca.cert)
        except FleetwardError:
            return False
        return True

    def _by_bootstrap(
        self, device: DeviceState, der: bytes, fingerprint: str, now: dt.datetime
    ) -> Identity:
        makers = self.state.makers.get(device.row.tenant_id, ())
        verify_bootstrap_certificate(
            certificate_pem(der).encode(), [], makers, now=now
        )  # raises cert.*
        if self._store.fingerprint_used("bootstrap", fingerprint) is not None:
            raise AuthenticationError(
                "bootstrap certificate already used", code="enrollment.reused"
            )
        row = device.row
        if row.status != "pending" or "suspended" in (row.owner_status, row.tenant_status):
            raise ForbiddenError(
                "this device is not waiting to enrol", code="enrollment.not_pending"
            )
        return Identity(
            device.row.id,
            device.row.tenant_id,
            kind=ENROLLING,
            credential="bootstrap",
            cert_fingerprint=fingerprint,
        )

    def _by_token(self, username: str, token: str) -> Identity:
        claims = self._issuer.verify(token)  # raises token.* (AuthenticationError)
        if claims.sub != username:
            raise AuthenticationError(
                "the user name is not the token's subject", code="token.subject"
            )
        ids = (claims.jti, *claims.chain)
        if claims.kind == DEVICE:
            device = self.state.device(claims.sub)
            if device is None or device.row.tenant_id != claims.tenant:
                raise AuthenticationError("bad user name or password", code="token.subject")
            if not device.usable:
                raise ForbiddenError("this device may not connect", code="device.not_active")
            return self._device_identity(claims.sub, claims.tenant, "token", None, ids)
        return Identity(
            claims.sub,
            claims.tenant,
            kind=claims.kind,
            credential="token",
            token_ids=ids,
            publish=claims.acl.publish,
            subscribe=claims.acl.subscribe,
        )

    def _by_enrollment_code(
        self, info: ConnectInfo, code: str, peer_ip: str, now: dt.datetime
    ) -> Awaitable[Identity]:
        device_id = info.username or ""
        device = self.state.devices[device_id]  # the caller looked it up
        codes = [
            c
            for c in self._store.credentials(
                tenant_id=device.row.tenant_id, device_id=device_id, kind="enrollment_code"
            )
            if c.secret_hash
        ]

        async def check() -> Identity:
            if len(code) > _MAX_CODE or not codes:
                raise AuthenticationError("bad user name or password", code="enrollment.bad_code")
            hit = await asyncio.to_thread(self._matching, codes, code)
            if hit is None:
                raise AuthenticationError("bad user name or password", code="enrollment.bad_code")
            if hit.revoked_at is not None:
                raise AuthenticationError("enrollment code already used", code="enrollment.reused")
            if hit.expires_at is not None and hit.expires_at <= self._clock.now():
                raise AuthenticationError("enrollment code expired", code="enrollment.expired")
            if device.row.status != "pending":
                raise ForbiddenError(
                    "this device is not waiting to enrol", code="enrollment.not_pending"
                )
            identity = Identity(
                device_id, device.row.tenant_id, kind=ENROLLING, credential="enrollment_code"
            )
            return self._admit(identity, info, peer_ip, self._clock.now())

        return check()

    def _matching(self, codes: list[CredentialRow], code: str) -> CredentialRow | None:
        for cred in codes:
            if cred.secret_hash and self._hasher.verify(cred.secret_hash, code):
                return cred
        return None

    def _device_identity(
        self,
        device_id: str,
        tenant_id: str,
        credential: str,
        fingerprint: str | None,
        token_ids: tuple[str, ...] = (),
    ) -> Identity:
        devices = self.state.devices
        mono = self._mono

        def meter(size: int) -> int:
            device = devices.get(device_id)
            if device is None:
                return ReasonCode.NOT_AUTHORIZED
            if size > device.policy.limits.max_payload:
                return ReasonCode.PACKET_TOO_LARGE
            if not device.take(mono()):
                return ReasonCode.MESSAGE_RATE_TOO_HIGH
            return 0

        return Identity(
            device_id,
            tenant_id,
            kind=DEVICE,
            credential=credential,
            token_ids=token_ids,
            cert_fingerprint=fingerprint,
            meter=meter,
        )

    # -- authorization ----------------------------------------------------------------------

    def may_publish(self, identity: Identity, client_id: str, topic: str) -> bool:
        """Whether ``identity`` may publish to ``topic`` (answers are cached by the broker)."""
        kind = identity.kind
        if kind == DEVICE:
            device = self.state.device(identity.name)
            if device is None or not device.usable:
                return False
            if topic == token_topic(identity.name, "req"):
                allowed = identity.credential == "certificate"
                reason = "token refresh needs the device certificate"
            elif topic == keys_topic(identity.name, "put"):
                allowed, reason = True, ""  # its own E2E public key, nobody else's
            else:
                decision = may_publish(device.policy, topic, now=self._clock.now())
                allowed, reason = decision.allowed, decision.reason
        elif kind == ENROLLING:
            allowed = topic == enroll_topic(identity.name, "csr")
            reason = "an enrolling device may only send its CSR"
        elif kind in _TOKEN_KINDS:
            allowed = not topic.startswith("$") and any(
                filter_covers(p, topic) for p in identity.publish
            )
            reason = "outside the token's ACL"
        else:
            return self._static.may_publish(identity, client_id, topic)
        if not allowed:
            self._refused("publish", identity, client_id, topic, reason)
        return allowed

    def may_subscribe(self, identity: Identity, client_id: str, topic_filter: str) -> bool:
        """Whether ``identity`` may subscribe to ``topic_filter``."""
        kind = identity.kind
        if kind == DEVICE:
            device = self.state.device(identity.name)
            if device is None or not device.usable:
                return False
            if filter_covers(token_topic(identity.name, "resp"), topic_filter):
                return identity.credential == "certificate"
            own_keys = filter_covers(keys_topic(identity.name, "result"), topic_filter)
            return (
                own_keys
                or may_subscribe(device.policy, topic_filter, now=self._clock.now()).allowed
            )
        if kind == ENROLLING:
            return filter_covers(enroll_topic(identity.name, "result"), topic_filter)
        if kind in _TOKEN_KINDS:
            return any(filter_covers(p, topic_filter) for p in identity.subscribe)
        return self._static.may_subscribe(identity, client_id, topic_filter)

    def still_allowed(self, identity: Identity) -> str | None:
        """Why a live session of ``identity`` must end now, or None if it may go on."""
        if identity.token_ids and any(t in self.state.revoked_tokens for t in identity.token_ids):
            return "token.revoked"
        kind = identity.kind
        why: str | None = None
        if kind in (DEVICE, ENROLLING):
            why = self._device_gone(identity)
        elif kind in _TOKEN_KINDS and self.state.tenants.get(identity.tenant_id or "") not in (
            None,
            "active",
        ):
            why = "tenant.suspended"
        if why is not None:
            return why
        decision = self.state.lists.check(
            tenant_id=identity.tenant_id,
            device_id=identity.name if kind in (DEVICE, ENROLLING) else None,
            client_id=None,
            peer_ip=None,
            now=self._clock.now(),
        )
        return None if decision.allowed else "access.listed"

    def _device_gone(self, identity: Identity) -> str | None:
        device = self.state.device(identity.name)
        if device is None:
            return "device.deleted"
        if identity.kind == ENROLLING:
            return None if device.row.status == "pending" else "enrollment.finished"
        if not device.usable:
            return "device.not_active"
        fp = identity.cert_fingerprint
        if fp is not None and self.state.certificates.get(fp) != identity.name:
            return "cert.revoked"
        return None

    def _refused(
        self, what: str, identity: Identity, client_id: str, topic: str, reason: str
    ) -> None:
        try:
            self._audit(
                actor=f"mqtt:{identity.name}"[:200],
                action=f"mqtt.{what}_refused",
                target=topic[:200],
                tenant_id=identity.tenant_id,
                outcome="refused",
                details={"client_id": client_id[:64], "reason": reason[:200]},
            )
        except FleetwardError:
            log.warning("audit log unavailable: a %s refusal was not recorded", what)
