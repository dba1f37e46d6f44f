"""Another process's access changes, applied one device or token at a time.

The serving hub polls the ``access_changes`` feed (``AccessRuntime.follow``). Reloading
the whole live state for each entry is O(devices) and re-checks every session; the
common entries name one subject, so they are applied to that subject alone: a revoked
token joins the revoked set; a device revoked, enrolled or with a credential revoked is
read again with its live certificates. Any other entry (lists, grants, makers, limits,
registry resyncs) still reloads everything: :func:`apply_changes` returns ``None``.
"""

from __future__ import annotations

from fleetward.access.live import AccessState
from fleetward.access.store import AccessStore

__all__ = ["DEVICE_CHANGES", "apply_changes"]

DEVICE_CHANGES = frozenset({"device.revoked", "device.enrolled", "credential.revoked"})
"""Entries whose target is a device id and that change only that device's row and
certificates."""


def apply_changes(
    store: AccessStore, state: AccessState, changes: list[tuple[int, str, str | None]]
) -> set[str] | None:
    """Apply ``changes`` to ``state``; the subjects whose sessions to re-check.

    Returns ``None`` (and changes nothing) when an entry needs the full reload. Raises
    :class:`~fleetward.errors.StorageError` when a read fails (the caller keeps its state).
    """
    if any(
        target is None or what not in (*DEVICE_CHANGES, "token.revoked")
        for _, what, target in changes
    ):
        return None
    tokens = {target for _, what, target in changes if what == "token.revoked" and target}
    devices = {target for _, what, target in changes if what in DEVICE_CHANGES and target}
    rows = {d: store.device_row(d) for d in devices}  # every read before any change
    certs = {d: store.credentials(device_id=d, kind="certificate") for d in devices}
    state.revoked_tokens |= tokens
    for device_id, row in rows.items():
        if row is None:
            state.devices.pop(device_id, None)
        else:
            state.put_row(row)
        for fp in [fp for fp, d in state.certificates.items() if d == device_id]:
            del state.certificates[fp]
        for cred in certs[device_id]:
            if cred.revoked_at is None and cred.fingerprint is not None:
                state.certificates[cred.fingerprint] = device_id
    return tokens | devices
