"""The audit verifier: a pure function of (entries, checkpoints, trusted keys).

It never trusts what it reads. Every entry's hash is recomputed from its content, every
``seq`` must follow the last, every ``prev_hash`` must equal the previous entry's hash,
and every checkpoint must carry a valid signature by a trusted key over a ``head_hash``
equal to the hash of the entry at its ``seq``. Entries are consumed as a stream, so a
log of any length verifies in constant memory (checkpoints, one per thousand entries or
so, are held in full).

What it cannot see: entries appended after the last checkpoint can be rewritten or cut
by whoever can write to the database, since no signature covers them yet; they are
reported as ``unanchored`` so the reader knows how much of the log is only hash-chained.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fleetward.audit.chain import GENESIS_HASH, AuditEntry, Checkpoint, checkpoint_statement
from fleetward.audit.chain import entry_hash as _entry_hash
from fleetward.crypto.signing import VerifyKey

__all__ = ["Problem", "VerifyReport", "verify"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the log.

    ``code`` is stable for scripts: ``entry.edited``, ``entry.missing``,
    ``entry.out_of_order``, ``entry.broken_link``, ``checkpoint.unknown_key``,
    ``checkpoint.bad_signature``, ``checkpoint.mismatch``, ``checkpoint.unmatched``,
    ``checkpoint.beyond_end``. ``seq`` is the entry (or checkpoint) position concerned.
    """

    code: str
    seq: int
    message: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.message} ({self.code})"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify` found: counts, the anchored prefix and every problem."""

    entries: int
    checkpoints: int
    last_seq: int
    anchored_seq: int
    unanchored: int
    problems: tuple[Problem, ...]
    omitted: int = 0  # further problems counted but not listed (``max_problems``)

    @property
    def ok(self) -> bool:
        """Whether the log is intact (unanchored entries are not a problem)."""
        return not self.problems and not self.omitted


class _Problems:
    __slots__ = ("items", "limit", "omitted")

    def __init__(self, limit: int) -> None:
        self.items: list[Problem] = []
        self.limit = limit
        self.omitted = 0

    def add(self, code: str, seq: int, message: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(Problem(code, seq, message))
        else:
            self.omitted += 1


def _trusted_checkpoints(
    checkpoints: Iterable[Checkpoint], keys: Mapping[str, VerifyKey], found: _Problems
) -> tuple[dict[int, list[Checkpoint]], int]:
    by_seq: dict[int, list[Checkpoint]] = {}
    count = 0
    for cp in checkpoints:
        count += 1
        key = keys.get(cp.kid)
        if key is None:
            found.add(
                "checkpoint.unknown_key", cp.seq, f"checkpoint signed by unknown key {cp.kid!r}"
            )
        elif not key.verify(
            cp.signature, checkpoint_statement(cp.seq, cp.head_hash, cp.at, cp.kid)
        ):
            found.add("checkpoint.bad_signature", cp.seq, "checkpoint signature is not valid")
        else:
            by_seq.setdefault(cp.seq, []).append(cp)
    return by_seq, count


def _unmatched_checkpoints(
    trusted: dict[int, list[Checkpoint]], matched: set[int], last_seq: int, found: _Problems
) -> None:
    for seq in sorted(set(trusted) - matched):
        for _cp in trusted[seq]:
            if seq > last_seq:
                found.add(
                    "checkpoint.beyond_end",
                    seq,
                    f"signed checkpoint beyond the last entry (seq {last_seq}): tail removed",
                )
            else:
                found.add("checkpoint.unmatched", seq, "signed checkpoint has no entry (removed)")


def verify(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    keys: Mapping[str, VerifyKey],
    *,
    max_problems: int = 1000,
) -> VerifyReport:
    """Check ``entries`` (in the order stored, meant to be ascending ``seq``) and anchors.

    ``keys`` are the trusted checkpoint keys by id. Every problem is listed (up to
    ``max_problems``; the rest are counted in ``omitted``) rather than stopping at the
    first, so an auditor sees the whole extent of a tampering. Never raises on bad data.
    """
    found = _Problems(max_problems)
    trusted, n_checkpoints = _trusted_checkpoints(checkpoints, keys, found)
    matched: set[int] = set()
    count = last_seq = anchored = 0
    expected, prev = 1, GENESIS_HASH
    for entry in entries:
        count += 1
        seq = entry.seq
        if _entry_hash(entry) != entry.hash:
            found.add("entry.edited", seq, "content does not match its hash (edited)")
        if seq < expected:
            found.add(
                "entry.out_of_order",
                seq,
                f"comes after seq {expected - 1} (reordered or duplicated)",
            )
        else:
            if seq > expected:
                what = "entry" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
                found.add("entry.missing", expected, f"{what} missing (removed); next is seq {seq}")
            elif entry.prev_hash != prev:
                found.add(
                    "entry.broken_link",
                    seq,
                    f"prev_hash is not the hash of seq {seq - 1} (rewritten, removed or reordered)",
                )
            expected, prev, last_seq = seq + 1, entry.hash, seq
        for cp in trusted.get(seq, ()):
            matched.add(seq)
            if cp.head_hash != entry.hash:
                found.add(
                    "checkpoint.mismatch",
                    seq,
                    "signed checkpoint does not match this entry's hash (the chain was rewritten)",
                )
            else:
                anchored = max(anchored, seq)
    _unmatched_checkpoints(trusted, matched, last_seq, found)
    return VerifyReport(
        entries=count,
        checkpoints=n_checkpoints,
        last_seq=last_seq,
        anchored_seq=anchored,
        unanchored=max(last_seq - anchored, 0),
        problems=tuple(found.items),
        omitted=found.omitted,
    )
