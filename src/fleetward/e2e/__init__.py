"""End-to-end payload encryption shared by the hub, the device SDK and apps.

Pure: no clock (every check takes ``now``) and no I/O, except
:mod:`~fleetward.e2e.replay_file`, the plain file that keeps a receiver's replay bounds
across restarts. The hub relays envelopes and serves signed public keys; it never holds
a private E2E key. See ``docs/e2e-format.md`` for the wire format and
``docs/decisions/0005-e2e-envelope.md`` for the choices behind it.
"""

from fleetward.e2e.channel import Opener, Sealer, seq_seed
from fleetward.e2e.directory import (
    DirectoryEntry,
    KeyDirectory,
    SignedEntry,
    TrustedKeys,
    verify_entry,
)
from fleetward.e2e.durable import DurableReplayGuard, ReplayBounds, ReplayJournal
from fleetward.e2e.envelope import (
    MAX_PAYLOAD,
    MAX_RECIPIENTS,
    OpenedEnvelope,
    SenderKeys,
    open_envelope,
    seal_envelope,
)
from fleetward.e2e.errors import DirectoryError, E2EError, ReplayStateError
from fleetward.e2e.keys import E2EKeyPair, KeyOwner, OwnerKind, PublicKeyRecord, key_id_for
from fleetward.e2e.replay import ReplayGuard, ReplayWindow, WindowState
from fleetward.e2e.replay_file import FileReplayJournal
from fleetward.e2e.stream import StreamCache, StreamPolicy

__all__ = [
    "MAX_PAYLOAD",
    "MAX_RECIPIENTS",
    "DirectoryEntry",
    "DirectoryError",
    "DurableReplayGuard",
    "E2EError",
    "E2EKeyPair",
    "FileReplayJournal",
    "KeyDirectory",
    "KeyOwner",
    "OpenedEnvelope",
    "Opener",
    "OwnerKind",
    "PublicKeyRecord",
    "ReplayBounds",
    "ReplayGuard",
    "ReplayJournal",
    "ReplayStateError",
    "ReplayWindow",
    "Sealer",
    "SenderKeys",
    "SignedEntry",
    "StreamCache",
    "StreamPolicy",
    "TrustedKeys",
    "WindowState",
    "key_id_for",
    "open_envelope",
    "seal_envelope",
    "seq_seed",
    "verify_entry",
]
