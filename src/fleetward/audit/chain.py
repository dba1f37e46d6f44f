"""The audit chain's records and their canonical bytes: pure, no I/O, no SQL.

Each :class:`AuditEntry` commits to the one before it::

    hash = SHA-256( prev_hash  ||  canonical(entry without "hash") )

where ``prev_hash`` is the 64 lowercase hex digits of the previous entry's hash (64
zeros for ``seq`` 1) taken as ASCII bytes, and ``canonical`` is deterministic JSON:
an object of the entry's fields ``action, actor, at, details, outcome, prev_hash, seq,
target, tenant_id``, keys sorted (also inside ``details``), no whitespace
(``,`` and ``:`` separators), non-ASCII characters as raw UTF-8 rather than ``\\u``
escapes, ``at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds), integers in
decimal, ``null``/``true``/``false``. Floats are refused: their text is not stable
across languages, and an auditor must be able to recompute a hash with any JSON library.

Editing an entry breaks its hash; removing or reordering one breaks ``seq`` continuity
or the next entry's ``prev_hash``. A consistent rewrite (every hash recomputed) is
caught by a :class:`Checkpoint`: an Ed25519 signature, by a key the database never
holds, over ``(seq, head_hash, at, kid)``, so only the key holder can anchor a chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from json.encoder import encode_basestring
from typing import NamedTuple

from fleetward.crypto.signing import SigningKey
from fleetward.errors import InvalidInputError

__all__ = [
    "GENESIS_HASH",
    "Act",
    "AuditEntry",
    "Checkpoint",
    "Scalar",
    "check_act",
    "checkpoint_statement",
    "entry_hash",
    "relink",
    "seal",
    "seal_act",
    "sign_checkpoint",
]

Scalar = str | int | bool | None

GENESIS_HASH = "0" * 64
_CHECKPOINT_DOMAIN = b"fleetward.audit.checkpoint.v1\n"

# Bounds on what one entry may hold (the SQL columns are sized to match).
MAX_ACTOR = 200
MAX_ACTION = 64
MAX_TARGET = 300
MAX_OUTCOME = 32
MAX_TENANT_ID = 36
MAX_DETAILS = 32
MAX_DETAIL_VALUE = 1024
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_KNOWN_KEYS: set[str] = set()  # detail keys already checked (callers use a few fixed ones)
_KNOWN_ACTIONS: set[str] = set()  # actions already checked, likewise
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One security-relevant act, chained to the entry before it.

    ``details`` holds explicit, JSON-safe facts about the act and never a secret
    (password, token, key); callers build it field by field for that reason.
    """

    seq: int
    at: dt.datetime
    tenant_id: str | None
    actor: str
    action: str
    target: str | None
    outcome: str
    details: Mapping[str, Scalar]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the chain's entry ``seq`` has hash ``head_hash``."""

    seq: int
    head_hash: str
    at: dt.datetime
    kid: str
    signature: bytes


def _timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# one encoder for every entry (json.dumps with options builds a new one per call)
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _canonical(value: object) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


class Act(NamedTuple):
    """A checked act not yet placed in the chain: :func:`seal_act` gives it a place.

    Recording checks an act at once (a bad one is refused to its caller) but leaves
    the hashing to the batch that stores it, off the path of the act itself.
    """

    at: dt.datetime
    tenant_id: str | None
    actor: str
    action: str
    target: str | None
    outcome: str
    details: Mapping[str, Scalar]


def entry_hash(entry: AuditEntry | Act, *, seq: int = 0, prev_hash: str = "") -> str:
    """The hash ``entry`` should carry, recomputed from its content (``hash`` ignored).

    For an :class:`Act`, ``seq`` and ``prev_hash`` give its place in the chain.
    """
    if isinstance(entry, AuditEntry):
        seq, prev_hash = entry.seq, entry.prev_hash
    digest = hashlib.sha256(prev_hash.encode("ascii", "replace"))
    text = _canonical_text(entry, seq, prev_hash)
    if text is None:  # a value the direct writer does not spell: the encoder decides
        body = {
            "action": entry.action,
            "actor": entry.actor,
            "at": _timestamp(entry.at),
            "details": dict(entry.details),
            "outcome": entry.outcome,
            "prev_hash": prev_hash,
            "seq": seq,
            "target": entry.target,
            "tenant_id": entry.tenant_id,
        }
        digest.update(_canonical(body))
    else:
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()


def _canonical_text(entry: AuditEntry | Act, seq: int, prev_hash: str) -> str | None:
    """The canonical JSON of an entry written directly (keys in sorted order), or None.

    It spells exactly what the JSON encoder would (a property test holds it to that) at
    about a third of the cost, since every connect's ``auth.ok`` is hashed. ``None``
    for anything outside the common shape (a year before 1000, a value that is not a
    plain str, int, bool or None), which the encoder then handles.
    """
    at = entry.at
    if at.tzinfo is not dt.UTC:
        at = at.astimezone(dt.UTC)
    if at.year < 1000 or type(seq) is not int:  # strftime does not pad such years
        return None
    details = []
    for key, value in sorted(entry.details.items()):
        if type(value) is str:
            spelled = encode_basestring(value)
        elif value is None:
            spelled = "null"
        elif value is True:
            spelled = "true"
        elif value is False:
            spelled = "false"
        elif type(value) is int:
            spelled = str(value)
        else:
            return None
        details.append(f"{encode_basestring(key)}:{spelled}")
    target, tenant_id = entry.target, entry.tenant_id
    return (
        f'{{"action":{encode_basestring(entry.action)},"actor":{encode_basestring(entry.actor)},'
        f'"at":"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:'
        f'{at.second:02d}.{at.microsecond:06d}Z","details":{{{",".join(details)}}},'
        f'"outcome":{encode_basestring(entry.outcome)},"prev_hash":{encode_basestring(prev_hash)},'
        f'"seq":{seq},"target":{"null" if target is None else encode_basestring(target)},'
        f'"tenant_id":{"null" if tenant_id is None else encode_basestring(tenant_id)}}}'
    )


def seal(
    *,
    seq: int,
    prev_hash: str,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str | None = None,
    tenant_id: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, Scalar] | None = None,
) -> AuditEntry:
    """A new entry with its hash, after checking every field against the bounds.

    Raises :class:`InvalidInputError` (code ``audit.invalid``) for a naive ``at``, an
    over-long or empty field, a malformed action (dotted lowercase, ``auth.refused``),
    a detail key outside ``[a-z][a-z0-9_]*``, a float or nested detail value, or text
    that is not valid Unicode. These are programming errors in the caller, not input
    from the wire: callers clip untrusted text before recording it.
    """
    if seq < 1:
        raise _invalid("seq starts at 1")
    act = check_act(
        at=at,
        actor=actor,
        action=action,
        target=target,
        tenant_id=tenant_id,
        outcome=outcome,
        details=details,
    )
    return seal_act(act, seq=seq, prev_hash=prev_hash)


def check_act(
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str | None = None,
    tenant_id: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, Scalar] | None = None,
) -> Act:
    """The act, checked against the bounds :func:`seal` enforces (same errors)."""
    if at.tzinfo is None:
        raise _invalid("at must be timezone-aware")
    _text("actor", actor, MAX_ACTOR)
    _text("outcome", outcome, MAX_OUTCOME)
    if action not in _KNOWN_ACTIONS:
        if _ACTION.fullmatch(action) is None or len(action) > MAX_ACTION:
            raise _invalid(f"action {action!r} is not dotted lowercase")
        if len(_KNOWN_ACTIONS) < 1024:
            _KNOWN_ACTIONS.add(action)
    if target is not None:
        _text("target", target, MAX_TARGET)
    if tenant_id is not None:
        _text("tenant_id", tenant_id, MAX_TENANT_ID)
    clean = _details(details) if details else {}
    if at.tzinfo is not dt.UTC:
        at = at.astimezone(dt.UTC)
    return Act(at, tenant_id, actor, action, target, outcome, clean)


def seal_act(act: Act, *, seq: int, prev_hash: str) -> AuditEntry:
    """``act`` as entry ``seq``, chained onto ``prev_hash`` (its text was checked)."""
    return AuditEntry(
        seq=seq,
        at=act.at,
        tenant_id=act.tenant_id,
        actor=act.actor,
        action=act.action,
        target=act.target,
        outcome=act.outcome,
        details=act.details,
        prev_hash=prev_hash,
        hash=entry_hash(act, seq=seq, prev_hash=prev_hash),
    )


def relink(entries: Iterable[AuditEntry], *, seq: int, prev_hash: str) -> list[AuditEntry]:
    """``entries`` renumbered from ``seq`` and re-chained onto ``prev_hash``.

    Used when another writer appended first: the entries keep their order and content,
    only their place in the chain moves.
    """
    out: list[AuditEntry] = []
    for offset, entry in enumerate(entries):
        moved = replace(entry, seq=seq + offset, prev_hash=prev_hash, hash="")
        moved = replace(moved, hash=entry_hash(moved))
        out.append(moved)
        prev_hash = moved.hash
    return out


def checkpoint_statement(seq: int, head_hash: str, at: dt.datetime, kid: str) -> bytes:
    """The bytes a checkpoint signs: a domain tag, then canonical JSON of its fields."""
    body = {"at": _timestamp(at), "head_hash": head_hash, "kid": kid, "seq": seq}
    return _CHECKPOINT_DOMAIN + _canonical(body)


def sign_checkpoint(seq: int, head_hash: str, at: dt.datetime, key: SigningKey) -> Checkpoint:
    """Anchor the chain at entry ``seq`` (whose hash is ``head_hash``) with ``key``."""
    at = at.astimezone(dt.UTC)
    statement = checkpoint_statement(seq, head_hash, at, key.kid)
    return Checkpoint(seq, head_hash, at, key.kid, key.sign(statement))


def _invalid(detail: str) -> InvalidInputError:
    return InvalidInputError(f"audit entry: {detail}", code="audit.invalid")


def _plain(value: str, limit: int) -> bool:
    """Whether ``value`` is the usual text (ASCII, within bounds): nothing more to check."""
    return bool(value) and len(value) <= limit and value.isascii() and "\x00" not in value


def _text(name: str, value: str, limit: int) -> None:
    if _plain(value, limit):
        return
    if not value or len(value) > limit or "\x00" in value:
        raise _invalid(f"{name} must be 1 to {limit} characters without NUL")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate: it could never be hashed
            raise _invalid("text is not valid Unicode") from e


def _details(details: Mapping[str, Scalar]) -> dict[str, Scalar]:
    if len(details) > MAX_DETAILS:
        raise _invalid(f"at most {MAX_DETAILS} details")
    clean: dict[str, Scalar] = {}
    for key, value in details.items():
        if key not in _KNOWN_KEYS:
            if not isinstance(key, str) or _DETAIL_KEY.fullmatch(key) is None:
                raise _invalid(f"detail key {key!r} must match [a-z][a-z0-9_]*")
            if len(_KNOWN_KEYS) < 1024:
                _KNOWN_KEYS.add(key)
        if isinstance(value, str):
            if not _plain(value, MAX_DETAIL_VALUE):
                _text(f"details.{key}", value or "-", MAX_DETAIL_VALUE)
        elif value is None or value is True or value is False:
            pass
        elif isinstance(value, int):
            if type(value) is not int:
                # int(): an IntEnum is stored (and hashed) as the plain integer
                value = int(value)  # noqa: PLW2901
            if not _INT_MIN <= value <= _INT_MAX:
                raise _invalid(f"details.{key} does not fit in 64 bits")
        else:
            raise _invalid(f"details.{key} must be a string, integer, boolean or null")
        clean[key] = value
    return clean
