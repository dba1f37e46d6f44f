"""Anti-replay: a sliding window of sequence numbers per sender key.

The receiver keeps, for each sender key, the highest sequence number it accepted and a
bitmap of the ``size`` numbers below it, exactly as IPsec ESP (RFC 4303 §3.4.3) and
DTLS (RFC 6347 §4.1.2.6) do. A number above the highest is new; one inside the window is
new unless its bit is set; one below the window is refused as too old. Senders may skip
numbers, and messages may arrive out of order within the window.

The window is advanced only by :meth:`ReplayGuard.accept`, which the envelope calls
*after* the sender is authenticated, so forged messages cannot move it. Memory is bounded:
``size`` bits per sender key and at most ``max_senders`` keys. Windows of keys that are
no longer valid are dropped with :meth:`ReplayGuard.forget` (their messages are refused
by the key check anyway); a guard that is full refuses new senders rather than evict a
live window, because evicting would re-open that sender's history to replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_SEQ", "ReplayGuard", "ReplayWindow", "WindowState"]

MAX_SEQ: Final = (1 << 64) - 1
DEFAULT_WINDOW: Final = 64
MAX_WINDOW: Final = 4096


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window's state, for a receiver that persists it across restarts."""

    highest: int
    bitmap: int


class ReplayWindow:
    """One sender's window."""

    __slots__ = ("_bitmap", "_mask", "highest", "size")

    def __init__(self, size: int = DEFAULT_WINDOW, state: WindowState | None = None) -> None:
        if not 1 <= size <= MAX_WINDOW:
            raise ValueError(f"window size must be 1..{MAX_WINDOW}")
        self.size = size
        self._mask = (1 << size) - 1
        self.highest = -1 if state is None else state.highest
        self._bitmap = 0 if state is None else state.bitmap & self._mask

    def is_fresh(self, seq: int) -> bool:
        """Whether ``seq`` has not been accepted and is not below the window."""
        if not 0 <= seq <= MAX_SEQ:
            return False
        if seq > self.highest:
            return True
        offset = self.highest - seq
        return offset < self.size and not (self._bitmap >> offset) & 1

    def accept(self, seq: int) -> bool:
        """Record ``seq``; ``False`` (and no change) if it is a replay or too old."""
        if not self.is_fresh(seq):
            return False
        if seq > self.highest:
            shift = seq - self.highest
            self._bitmap = 1 if shift >= self.size else ((self._bitmap << shift) | 1) & self._mask
            self.highest = seq
        else:
            self._bitmap |= 1 << (self.highest - seq)
        return True

    def state(self) -> WindowState:
        """A snapshot to persist."""
        return WindowState(self.highest, self._bitmap)


class ReplayGuard:
    """Windows for many sender keys, bounded in number."""

    __slots__ = ("_windows", "max_senders", "size")

    def __init__(self, *, size: int = DEFAULT_WINDOW, max_senders: int = 100_000) -> None:
        if max_senders < 1:
            raise ValueError("max_senders must be positive")
        ReplayWindow(size)  # validates size
        self.size = size
        self.max_senders = max_senders
        self._windows: dict[bytes, ReplayWindow] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def is_fresh(self, sender_key_id: bytes, seq: int) -> bool:
        """Whether :meth:`accept` would accept; changes nothing (a cheap pre-check)."""
        window = self._windows.get(sender_key_id)
        if window is None:
            return len(self._windows) < self.max_senders and 0 <= seq <= MAX_SEQ
        return window.is_fresh(seq)

    def accept(self, sender_key_id: bytes, seq: int) -> bool:
        """Record ``seq``; ``False`` for a replay, a too-old number or a full guard."""
        window = self._windows.get(sender_key_id)
        if window is None:
            if len(self._windows) >= self.max_senders:
                return False
            window = self._windows[sender_key_id] = ReplayWindow(self.size)
        return window.accept(seq)

    def forget(self, sender_key_id: bytes) -> None:
        """Drop a window once its key is retired or expired."""
        self._windows.pop(sender_key_id, None)

    def snapshot(self) -> dict[bytes, WindowState]:
        """Every window's state, to persist."""
        return {kid: w.state() for kid, w in self._windows.items()}

    @classmethod
    def restore(
        cls,
        states: dict[bytes, WindowState],
        *,
        size: int = DEFAULT_WINDOW,
        max_senders: int = 100_000,
    ) -> ReplayGuard:
        """A guard from a :meth:`snapshot`."""
        guard = cls(size=size, max_senders=max_senders)
        for kid, state in states.items():
            guard._windows[kid] = ReplayWindow(size, state)
        return guard
