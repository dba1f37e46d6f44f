"""The broker's real :class:`Authenticator` and :class:`Authorizer`: devices, tokens, lists.

Who a CONNECT speaks for, in this order (ADR 0007):
1. **A client certificate** (mTLS listeners). A live hub-issued certificate is the
   device it names (its fingerprint must be on record and unrevoked, and the hub CA's
   signature is checked again here, ADR 0004). A certificate that chains to one of the
   tenant's registered maker CAs lets a pending device (the user name) enrol, once ever.
2. **A token** as the password (user name = the token's subject): a device token makes
   the device; an app or grant token makes an identity whose rights are the token's ACL.
3. **A one-time enrollment code** as the password of a pending device (argon2, off the
   loop): the connection is confined to ``$fleet/enroll/{device_id}/…``.
4. Otherwise the configured users and anonymous listeners (:class:`StaticPolicy`).

Around that: a connect token bucket (0x9F), deny/allow lists before and after
identification and flapping bans (0x8A), each device's listener and network limits
(0x87). Every refusal has a precise ``code``; the broker's ``AuthRefused`` event for it
lands in the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from fleetward.access.hub_authz import (
    DEVICE,
    ENROLLING,
    AuditHook,
    Authorization,
    enroll_topic,
    keys_topic,
    token_topic,
)
from fleetward.access.issuer import TokenIssuer
from fleetward.access.live import AccessState, DeviceState
from fleetward.access.mqtt_hooks import ConnectInfo, Identity
from fleetward.access.policy import check_connect_origin
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
from fleetward.registry.ids import is_id

__all__ = ["AuditHook", "HubAccess", "enroll_topic", "keys_topic", "token_topic"]

_MAX_CODE = 256


def _peer_ip(peer: str) -> str:
    return (peer.rsplit(":", 1)[0] if ":" in peer else peer).strip("[]")


def _looks_like_token(secret: str) -> bool:
    return secret.startswith("eyJ") and secret.count(".") == 2


class HubAccess(Authorization):
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
        username = info.username
        if (
            username
            and username not in self.state.devices
            and is_id(username)
            and not self._static.has_user(username)
        ):
            return self._load_then_identify(username, info, peer_ip)
        return self._identify(info, peer_ip, now)

    async def _load_then_identify(
        self, device_id: str, info: ConnectInfo, peer_ip: str
    ) -> Identity:
        """A device created since the state was built: load it, then decide as usual."""
        row = await asyncio.to_thread(self._store.device_row, device_id)
        if row is not None:
            self.state.put_row(row)
        result = self._identify(info, peer_ip, self._clock.now())
        return result if isinstance(result, Identity) else await result

    def _identify(
        self, info: ConnectInfo, peer_ip: str, now: dt.datetime
    ) -> Identity | Awaitable[Identity]:
        identity = self._by_certificate(info, now) if info.cert_der is not None else None
        if identity is None and info.password is not None and info.username:
            try:
                secret = info.password.decode()
            except UnicodeDecodeError:
                raise AuthenticationError("bad user name or password") from None
            if _looks_like_token(secret):
                identity = self._by_token(info.username, secret)
            elif self.state.device(info.username) is not None and not self._static.has_user(
                info.username
            ):  # a configured user of the same name is the operator's choice: it wins
                return self._by_enrollment_code(info, secret, peer_ip, now)
        if identity is None:
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
        expires_at = (claims.exp + self._issuer.leeway).timestamp()
        if claims.kind == DEVICE:
            device = self.state.device(claims.sub)
            if device is None or device.row.tenant_id != claims.tenant:
                raise AuthenticationError("bad user name or password", code="token.subject")
            if not device.usable:
                raise ForbiddenError("this device may not connect", code="device.not_active")
            return self._device_identity(claims.sub, claims.tenant, "token", None, ids, expires_at)
        return Identity(
            claims.sub,
            claims.tenant,
            kind=claims.kind,
            credential="token",
            token_ids=ids,
            expires_at=expires_at,
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
        expires_at: float | None = None,
    ) -> Identity:
        devices = self.state.devices
        mono = self._mono

        def meter(size: int) -> int:
            device = devices.get(device_id)
            if device is None:
                return ReasonCode.NOT_AUTHORIZED
            # 0x97 "an implementation or administrative imposed limit has been exceeded"
            # is the PUBACK/PUBREC code for both (0x95 and 0x96 are DISCONNECT-only)
            if size > device.policy.limits.max_payload or not device.take(mono()):
                return ReasonCode.QUOTA_EXCEEDED
            return 0

        return Identity(
            device_id,
            tenant_id,
            kind=DEVICE,
            credential=credential,
            token_ids=token_ids,
            cert_fingerprint=fingerprint,
            expires_at=expires_at,
            meter=meter,
        )
