"""The tamper-evident audit log: an append-only hash chain with signed checkpoints.

Every security-relevant act (authentication success and failure, enrolment, token mint
and revoke, policy change, ban, operator action) is recorded by :class:`AuditLog` as an
:class:`AuditEntry` whose hash covers its content and the hash of the entry before it;
Ed25519-signed :class:`Checkpoint` records anchor the chain, so :func:`verify` finds any
edited, removed or reordered entry, and any consistently re-hashed rewrite before the
last checkpoint. ``chain`` and ``verify`` are pure; ``store`` is the SQL adapter.
"""

from fleetward.audit.chain import GENESIS_HASH, AuditEntry, Checkpoint, Scalar, entry_hash, seal
from fleetward.audit.keys import audit_keys_dir, audit_verify_keys, open_audit_keyring
from fleetward.audit.log import AuditLog
from fleetward.audit.ports import AuditStorage, ChainHead, HeadMovedError
from fleetward.audit.store import SqlAuditStore
from fleetward.audit.verify import Problem, VerifyReport, verify

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "AuditStorage",
    "ChainHead",
    "Checkpoint",
    "HeadMovedError",
    "Problem",
    "Scalar",
    "SqlAuditStore",
    "VerifyReport",
    "audit_keys_dir",
    "audit_verify_keys",
    "entry_hash",
    "open_audit_keyring",
    "seal",
    "verify",
]
