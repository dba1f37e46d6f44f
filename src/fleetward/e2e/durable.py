"""Replay windows that survive a restart: a write-ahead *reservation* per sender key.

The rule (``docs/e2e-format.md`` §8a): before accepting a ``seq`` above a sender's
persisted *bound*, the receiver durably stores a new bound ``>= seq``; after a restart
every ``seq <= bound`` is refused. Every number accepted before a crash is therefore at or
below a bound on disk, whether or not the receiver closed cleanly. Saving only every N
messages or T seconds would not be enough: a crash loses what was accepted since.

Writes are cheap because the bound runs ahead of the sender by a *margin*: how far the
sender's counter moves in ``reserve_seconds`` at its recent rate, at most twice what it
used since the last write and at most ``max_margin``. A steady sender costs about one
write per ``reserve_seconds`` (after a few while the margin doubles up), and each write
also extends every other sender that used half its margin, so the write rate does not
grow with the number of senders. A rare sender gets margin 0: one write per message,
nothing lost after a crash; ``max_margin=0`` makes that the rule (the device SDK:
commands are rare and each matters). The price of a crash is that a sender's next
numbers up to its bound (at most ``reserve_seconds`` of its recent traffic) are refused;
its counter only grows (§8), so it moves past the bound.
:meth:`DurableReplayGuard.checkpoint` (on a clean close) stores the exact highest
numbers instead, so a clean restart refuses nothing new. Each sender's margin is stored
too: a start reserves them all again in one write, instead of one write per sender.

Pure: the journal (a port, :class:`ReplayJournal`) does the I/O; the time is set by the
caller (:attr:`DurableReplayGuard.now`, seconds) and only tunes the margin, never safety.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from fleetward.e2e.replay import DEFAULT_WINDOW, MAX_SEQ, ReplayGuard, ReplayWindow, WindowState

__all__ = ["MAX_MARGIN", "DurableReplayGuard", "ReplayBounds", "ReplayJournal"]

MAX_MARGIN: Final = (1 << 32) - 1
_MIN_ELAPSED: Final = 1e-3


@dataclass(frozen=True, slots=True)
class ReplayBounds:
    """What is persisted: per sender key id, every ``seq <= bound`` is refused; a sender
    without an entry is refused every ``seq <= floor`` (``-1``: none). Entries are in
    least-recently-used-first order. ``headroom``: the sender's last margin, which the
    next start reserves again for all senders in one write."""

    floor: int = -1
    senders: Mapping[bytes, int] = field(default_factory=dict)
    headroom: Mapping[bytes, int] = field(default_factory=dict)


class ReplayJournal(Protocol):
    """Durable storage for :class:`ReplayBounds` (a file: ``replay_file.FileReplayJournal``)."""

    def load(self) -> ReplayBounds:
        """The last bounds saved; raises ``ReplayStateError`` if missing or corrupt."""
        ...

    def save(self, bounds: ReplayBounds) -> None:
        """Replace the bounds; durable (fsynced) when it returns, atomic if it fails."""
        ...


class _Sender:
    __slots__ = ("base_seq", "base_time", "bound", "margin", "window")

    def __init__(self, window: ReplayWindow, bound: int) -> None:
        self.window, self.bound = window, bound
        self.margin = 0
        self.base_seq = bound
        self.base_time: float | None = None


class DurableReplayGuard(ReplayGuard):
    """A :class:`ReplayGuard` whose refusals survive a crash (see the module docstring).

    Full (``max_senders``), it evicts the least recently used sender and folds its bound
    into the floor that applies to senders without a window: never accepting an old
    number, at the cost that an evicted sender with a lower counter than the floor is
    refused until its counter passes it. A failed write raises ``ReplayStateError`` and
    accepts nothing. Each write rewrites every bound (16-20 bytes a sender, about 8 ms of
    encoding for 10,000), hence the lower default cap than the in-memory guard's.
    """

    __slots__ = ("_floor", "_journal", "_senders", "max_margin", "now", "reserve_seconds", "writes")

    def __init__(
        self,
        journal: ReplayJournal,
        *,
        size: int = DEFAULT_WINDOW,
        max_senders: int = 10_000,
        reserve_seconds: float = 5.0,
        max_margin: int = 1 << 16,
    ) -> None:
        super().__init__(size=size, max_senders=max_senders)
        if reserve_seconds < 0 or not 0 <= max_margin <= MAX_MARGIN:
            raise ValueError(f"reserve_seconds must be >= 0, max_margin 0..{MAX_MARGIN}")
        self._journal = journal
        self.reserve_seconds, self.max_margin = reserve_seconds, max_margin
        self.now = 0.0
        self.writes = 0
        state = journal.load()
        entries = list(state.senders.items())
        excess = max(0, len(entries) - max_senders)
        self._floor = max([state.floor, *(b for _, b in entries[:excess])])
        self._senders = {kid: _Sender(self._window(b), b) for kid, b in entries[excess:]}
        for kid, sender in self._senders.items():
            sender.margin = min(state.headroom.get(kid, 0), max_margin)
        if any(s.margin for s in self._senders.values()):
            self._save({k: min(MAX_SEQ, s.bound + s.margin) for k, s in self._senders.items()})

    def _save(self, bounds: dict[bytes, int], *, floor: int | None = None) -> None:
        """Persist ``bounds`` (then adopt them); raises, changing nothing, if it fails."""
        floor = self._floor if floor is None else floor
        headroom = {k: s.margin for k, s in self._senders.items() if s.margin}
        self._journal.save(ReplayBounds(floor, bounds, headroom))
        self.writes += 1
        for k, s in self._senders.items():
            s.bound = bounds[k]

    def _window(self, bound: int) -> ReplayWindow:
        if bound < 0:
            return ReplayWindow(self.size)
        return ReplayWindow(self.size, WindowState(bound, (1 << self.size) - 1))

    def __len__(self) -> int:
        return len(self._senders)

    @property
    def floor(self) -> int:
        """Every ``seq`` at or below it is refused from a sender without a window."""
        return self._floor

    def _new_floor(self) -> int:
        """The floor once room is made for one more sender (the LRU one evicted)."""
        if len(self._senders) < self.max_senders:
            return self._floor
        return max(self._floor, next(iter(self._senders.values())).bound)

    def is_fresh(self, sender_key_id: bytes, seq: int) -> bool:
        """Whether :meth:`accept` would accept; changes nothing."""
        sender = self._senders.get(sender_key_id)
        if sender is None:
            return self._new_floor() < seq <= MAX_SEQ
        return sender.window.is_fresh(seq)

    def accept(self, sender_key_id: bytes, seq: int) -> bool:
        """Record ``seq``, first persisting a new bound if ``seq`` is above the old one."""
        sender = self._senders.get(sender_key_id)
        if sender is None:
            floor = self._new_floor()
            if not floor < seq <= MAX_SEQ:
                return False
            sender = _Sender(self._window(floor), floor)
        elif not sender.window.is_fresh(seq):
            return False
        if seq > sender.bound:
            self._reserve(sender_key_id, sender, seq)
        else:  # most recently used last
            del self._senders[sender_key_id]
            self._senders[sender_key_id] = sender
        sender.window.accept(seq)
        return True

    def _margin(self, sender: _Sender, seq: int) -> int:
        """How far the counter moves in ``reserve_seconds`` at the rate seen since the
        last reservation, but at most twice that advance (a burst is not a rate) and at
        most ``max_margin``; a jump beyond ``max_margin`` (a sender restart) is no speed."""
        if sender.base_time is None:  # new (0), or its margin before the restart
            return sender.margin
        prev = sender.window.highest
        step = seq - prev
        advance = prev - sender.base_seq + (step if step <= self.max_margin else 0)
        elapsed = max(self.now - sender.base_time, _MIN_ELAPSED)
        by_rate = int(advance * self.reserve_seconds / elapsed)
        return min(self.max_margin, 2 * advance, by_rate)

    def _reserve(self, kid: bytes, sender: _Sender, seq: int) -> None:
        margin = self._margin(sender, seq)
        floor, old = self._floor, self._senders
        senders = dict(old)
        if kid not in senders and len(senders) >= self.max_senders:
            floor = self._new_floor()
            del senders[next(iter(senders))]
        senders.pop(kid, None)
        senders[kid] = sender
        bounds = {k: s.bound for k, s in senders.items()}
        bounds[kid] = min(MAX_SEQ, seq + margin)
        for k, s in senders.items():  # batch: extend those that used half their margin
            if k != kid and s.margin and s.bound - s.window.highest < s.margin // 2:
                bounds[k] = min(MAX_SEQ, s.window.highest + s.margin)
        old_margin, sender.margin = sender.margin, margin
        self._senders = senders
        try:
            self._save(bounds, floor=floor)
        except BaseException:
            sender.margin, self._senders = old_margin, old
            raise
        self._floor = floor
        sender.base_seq, sender.base_time = seq, self.now

    def checkpoint(self) -> None:
        """Persist the exact highest numbers (on a clean close): a restart then refuses
        only what was accepted, at or below each highest."""
        self._save({k: s.window.highest for k, s in self._senders.items()})

    def forget(self, sender_key_id: bytes) -> None:
        """Drop a retired key's window (its messages fail the key check anyway)."""
        self._senders.pop(sender_key_id, None)

    def snapshot(self) -> dict[bytes, WindowState]:
        """Every window's state."""
        return {kid: s.window.state() for kid, s in self._senders.items()}

    def bounds(self) -> ReplayBounds:
        """The bounds as last persisted (for tests and diagnostics)."""
        return ReplayBounds(
            self._floor,
            {k: s.bound for k, s in self._senders.items()},
            {k: s.margin for k, s in self._senders.items() if s.margin},
        )
