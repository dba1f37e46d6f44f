"""Device lifecycle use cases: enrolment codes, enrolment, tokens, revocation.

Enrolment without factory defaults: a pending device proves itself once, with a
one-time code (hub-generated, or the owner's own if it passes the strength check) or a
bootstrap certificate from a registered maker, over a connection confined to
``$fleet/enroll/{device_id}/…``. It sends a CSR for a key it just made and receives a
hub-issued certificate and a first token; the code or bootstrap certificate is used up
in the same transaction that activates the device, so a second try is refused (and the
refusal is audited by the broker's ``AuthRefused`` event).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

from fleetward.access.acl import Acl
from fleetward.access.issuer import IssuedToken, TokenIssuer
from fleetward.access.mqtt_hooks import Identity
from fleetward.access.revocations import RevokeHook, device_revoked, token_revoked
from fleetward.access.runtime import AccessRuntime
from fleetward.access.secret_strength import check_secret
from fleetward.access.store import CredentialRow, DeviceRow
from fleetward.crypto import (
    HubCa,
    SecretHasher,
    certificate_pem,
    issue_device_certificate,
    new_secret,
)
from fleetward.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from fleetward.registry import DeviceStatus, RegistryService, Scope
from fleetward.registry.ids import new_id
from fleetward.registry.models import check_device_transition

__all__ = ["DeviceAccess", "EnrollmentCode"]

CODE_TTL = dt.timedelta(days=7)
MAX_CODE_TTL = dt.timedelta(days=90)
MAX_CSR = 16 * 1024


@dataclass(frozen=True, slots=True)
class EnrollmentCode:
    """A one-time code, shown once; only its argon2 hash is stored."""

    credential_id: str
    device_id: str
    code: str
    expires_at: dt.datetime


def _in_scope(row: DeviceRow, scope: Scope) -> bool:
    """The registry's scoping rule: the caller's tenant, and its owner if it has one."""
    return row.tenant_id == scope.tenant_id and scope.owner_id in (None, row.owner_id)


def device_acl(device_id: str) -> Acl:
    """The ACL written into a device token: its own tree (the door decides the rest)."""
    tree = f"devices/{device_id}/#"
    return Acl.of(publish=[tree], subscribe=[tree])


class DeviceAccess:
    """Enrolment, device tokens and device revocation."""

    __slots__ = ("_hasher", "_hub_ca", "_issuer", "_registry", "_rt", "on_revoked")

    def __init__(
        self,
        runtime: AccessRuntime,
        registry: RegistryService,
        issuer: TokenIssuer,
        hasher: SecretHasher,
        hub_ca: HubCa | None,
    ) -> None:
        self._rt = runtime
        self._registry = registry
        self._issuer = issuer
        self._hasher = hasher
        self._hub_ca = hub_ca
        self.on_revoked: list[RevokeHook] = []
        """``hook(conn, tenant_id, device_id)`` in a revoke's transaction (the key
        directory retires keys); it must not commit."""

    @property
    def issuer(self) -> TokenIssuer:
        """The token service (for attenuation and the JWK Set)."""
        return self._issuer

    # -- enrolment --------------------------------------------------------------------------

    def create_enrollment_code(
        self,
        scope: Scope,
        device_id: str,
        actor: str,
        *,
        code: str | None = None,
        ttl: dt.timedelta = CODE_TTL,
    ) -> EnrollmentCode:
        """A one-time enrolment code for a pending device.

        An owner-chosen ``code`` must pass :func:`check_secret` (no known defaults, not
        too short or guessable, not the device's name). Raises :class:`ConflictError`
        (``enrollment.not_pending``) for a device that is not pending.
        """
        device = self._registry.get_device(scope, device_id)
        if device.status is not DeviceStatus.PENDING:
            raise ConflictError("only a pending device can enrol", code="enrollment.not_pending")
        if not dt.timedelta(minutes=1) <= ttl <= MAX_CODE_TTL:
            raise InvalidInputError(
                "ttl must be between 1 minute and 90 days", code="enrollment.ttl"
            )
        if code is None:
            code = new_secret(24)
        else:
            check_secret(code, context=(device.name, device.id))
        now = self._rt.clock.now()
        cred = CredentialRow(
            id=new_id(),
            tenant_id=device.tenant_id,
            device_id=device.id,
            kind="enrollment_code",
            secret_hash=self._hasher.hash(code),
            fingerprint=None,
            created_at=now,
            expires_at=now + ttl,
            revoked_at=None,
        )
        self._rt.store.add_credential(cred)
        self._rt.audit(
            actor, "enrollment.code_created", target=device.id, tenant_id=device.tenant_id
        )
        return EnrollmentCode(cred.id, device.id, code, now + ttl)

    def enroll(self, identity: Identity, csr_pem: bytes) -> bytes:
        """Finish the enrolment of ``identity`` (kind ``enrolling``) with its CSR.

        Returns the JSON result for ``$fleet/enroll/{id}/result``: the certificate, the
        hub CA, a first token. Raises :class:`FleetwardError` subclasses for a device
        that is no longer pending, a used-up credential or a bad CSR.
        """
        rt = self._rt
        device_id, tenant_id = identity.name, identity.tenant_id or ""
        if self._hub_ca is None:
            raise UnavailableError("this hub has no CA to issue certificates", code="pki.no_ca")
        if len(csr_pem) > MAX_CSR:
            raise InvalidInputError("CSR too large", code="csr.too_large")
        now = rt.clock.now()
        row = rt.store.device_row(device_id)
        if row is None or row.tenant_id != tenant_id or row.status != DeviceStatus.PENDING:
            raise ForbiddenError(
                "this device is not waiting to enrol", code="enrollment.not_pending"
            )
        issued = issue_device_certificate(
            csr_pem,
            device_id=device_id,
            tenant_id=tenant_id,
            ca_cert=self._hub_ca.cert,
            ca_key=self._hub_ca.key,
            now=now,
        )
        self._use_up(identity, tenant_id, now)
        rt.store.add_credential(
            CredentialRow(
                new_id(),
                tenant_id,
                device_id,
                "certificate",
                None,
                issued.fingerprint_sha256,
                now,
                issued.not_after,
                None,
            )
        )
        rt.store.set_device_status(tenant_id, device_id, DeviceStatus.ACTIVE.value, now)
        self._reload_device(device_id)
        rt.hub.state.certificates[issued.fingerprint_sha256] = device_id
        rt.applied(tenant_id, "device.enrolled", device_id, tighten=False)
        rt.audit(
            f"device:{device_id}",
            "device.enrolled",
            target=device_id,
            tenant_id=tenant_id,
            details={"via": identity.credential, "serial": issued.serial_hex},
        )
        token = self.device_token(device_id, tenant_id)
        return json.dumps(
            {
                "device_id": device_id,
                "certificate": issued.pem.decode(),
                "ca": certificate_pem(self._hub_ca.cert),
                "token": token.token,
                "token_expires_at": token.claims.exp.isoformat(),
            }
        ).encode()

    def _use_up(self, identity: Identity, tenant_id: str, now: dt.datetime) -> None:
        """Spend the bootstrap credential; refuse if it was spent already."""
        store = self._rt.store
        if identity.credential == "bootstrap":
            fp = identity.cert_fingerprint or ""
            if store.fingerprint_used("bootstrap", fp) is not None:
                raise ForbiddenError("bootstrap certificate already used", code="enrollment.reused")
            store.add_credential(
                CredentialRow(
                    new_id(), tenant_id, identity.name, "bootstrap", None, fp, now, None, now
                )
            )
            return
        spent = store.revoke_credentials(tenant_id, identity.name, now, kinds=("enrollment_code",))
        if not spent:
            raise ForbiddenError("enrollment code already used", code="enrollment.reused")

    def _reload_device(self, device_id: str) -> None:
        row = self._rt.store.device_row(device_id)
        if row is not None:
            self._rt.hub.state.put_row(row)

    # -- tokens -----------------------------------------------------------------------------

    def device_token(
        self, device_id: str, tenant_id: str, ttl: dt.timedelta | None = None
    ) -> IssuedToken:
        """A short-lived token for an active device (its long-term credential was checked)."""
        self._rt.ensure_device(device_id)
        device = self._rt.hub.state.device(device_id)
        if device is None or device.row.tenant_id != tenant_id or not device.usable:
            raise ForbiddenError("this device may not have a token", code="device.not_active")
        return self._issuer.issue(
            sub=device_id, tenant=tenant_id, acl=device_acl(device_id), kind="device", ttl=ttl
        )

    def issue_device_token(
        self, scope: Scope, device_id: str, actor: str, ttl: dt.timedelta | None = None
    ) -> IssuedToken:
        """A device token minted by its owner or the operator (for devices without mTLS)."""
        device = self._registry.get_device(scope, device_id)
        issued = self.device_token(device.id, device.tenant_id, ttl)
        self._rt.audit(
            actor,
            "token.minted",
            target=device.id,
            tenant_id=device.tenant_id,
            details={"jti": issued.claims.jti, "kind": "device"},
        )
        return issued

    def refresh(self, identity: Identity) -> bytes:
        """A fresh token for a device connected with its certificate (``$fleet/token``)."""
        issued = self.device_token(identity.name, identity.tenant_id or "")
        self._rt.audit(
            f"device:{identity.name}",
            "token.refreshed",
            target=identity.name,
            tenant_id=identity.tenant_id,
            details={"jti": issued.claims.jti},
        )
        return json.dumps(
            {"token": issued.token, "expires_at": issued.claims.exp.isoformat()}
        ).encode()

    def revoke_token(self, tenant_id: str, jti: str, actor: str) -> bool:
        """Revoke a token (and every grant attenuated from it); live sessions end at once.

        Fail closed: the live state and the sessions change first, the database after (the
        revocation and its change-feed entry in one transaction), so the cut never waits
        on storage (a storage failure raises, and the token stays refused in this process
        until restart).
        """
        rt = self._rt
        now = rt.clock.now()
        rt.hub.state.revoked_tokens.add(jti)
        rt.cut(jti)
        horizon = now + self._issuer.max_lifetime + self._issuer.leeway
        with rt.recording(actor, "token.revoked", target=jti, tenant_id=tenant_id):
            fresh, seq = token_revoked(rt.store.engine, jti, tenant_id, actor, now, horizon)
        rt.noted(seq)
        rt.audit(actor, "token.revoked", target=jti, tenant_id=tenant_id)
        return fresh

    # -- revocation -------------------------------------------------------------------------

    def revoke_device(self, scope: Scope, device_id: str, actor: str) -> None:
        """Revoke a device for good: status, every credential, every live session.

        Fail closed, like :meth:`revoke_token`: once the live state shows the device is
        the caller's (a device's tenant and owner never change; one row is read if the
        live state has not seen the device yet) and may be revoked, the live state and
        the sessions change first;
        then one transaction records it all, ``on_revoked`` hooks included (a failure
        raises and writes nothing; the device stays cut in this process).
        """
        rt = self._rt
        rt.ensure_device(device_id)
        state = rt.hub.state
        current = state.device(device_id)
        if current is None or not _in_scope(current.row, scope):
            raise NotFoundError(f"no device {device_id}", code="device.not_found")
        check_device_transition(DeviceStatus(current.row.status), DeviceStatus.REVOKED)
        state.put_row(replace(current.row, status=DeviceStatus.REVOKED.value))
        certs = state.certificates
        for fp in [fp for fp, d in certs.items() if d == device_id]:
            del certs[fp]
        rt.cut(device_id)
        with rt.recording(actor, "device.revoked", target=device_id, tenant_id=scope.tenant_id):
            seq = device_revoked(
                rt.store.engine, scope.tenant_id, device_id, rt.clock.now(), self.on_revoked
            )
        rt.noted(seq)
        rt.audit(actor, "device.revoked", target=device_id, tenant_id=scope.tenant_id)

    def revoke_certificate(
        self, scope: Scope, device_id: str, credential_id: str, actor: str
    ) -> None:
        """Revoke one certificate (or other credential) of a device; its sessions end.

        Fail closed, like :meth:`revoke_device`: the certificate leaves the live state and
        the sessions that rested on it are cut before the row is written; a failed write
        raises and the certificate stays refused in this process.
        """
        rt = self._rt
        self._registry.get_device(scope, device_id)
        live = [
            c
            for c in rt.store.credentials(tenant_id=scope.tenant_id, device_id=device_id)
            if c.id == credential_id and c.revoked_at is None
        ]
        if not live:
            raise ConflictError("no such live credential", code="credential.not_live")
        for cred in live:
            if cred.fingerprint is not None:
                rt.hub.state.certificates.pop(cred.fingerprint, None)
        rt.cut(device_id)
        with rt.recording(actor, "credential.revoked", target=device_id, tenant_id=scope.tenant_id):
            gone = rt.store.revoke_credentials(
                scope.tenant_id, device_id, rt.clock.now(), credential_id=credential_id
            )
            rt.applied(scope.tenant_id, "credential.revoked", device_id, tighten=False)
        rt.audit(
            actor,
            "credential.revoked",
            target=device_id,
            tenant_id=scope.tenant_id,
            details={"credential_id": credential_id, "kind": (gone or live)[0].kind},
        )

    def credentials(self, scope: Scope, device_id: str) -> list[CredentialRow]:
        """A device's credentials (hashes never leave this layer's callers)."""
        self._registry.get_device(scope, device_id)
        return self._rt.store.credentials(tenant_id=scope.tenant_id, device_id=device_id)

    def resync(self, tenant_id: str, actor: str, what: str) -> None:
        """Registry changes (status of a device, owner or tenant, deletions) reach sessions."""
        rt = self._rt
        state = rt.hub.state
        rows = {r.id: r for r in rt.store.device_rows() if r.tenant_id == tenant_id}
        for device_id in [d for d, s in state.devices.items() if s.row.tenant_id == tenant_id]:
            if device_id not in rows:
                del state.devices[device_id]
        for row in rows.values():
            state.put_row(row)
        rt.applied(tenant_id, what, None, tighten=True)
        rt.audit(actor, what, tenant_id=tenant_id)
