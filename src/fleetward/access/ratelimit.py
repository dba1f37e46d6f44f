"""Rate limits and flapping bans, as pure state machines over monotonic seconds.

Callers pass ``now`` (the event loop's monotonic clock, a float), so tests drive time by
hand and wall-clock jumps cannot mint tokens or lift bans. Both classes use ``__slots__``
and bounded memory because the broker keeps one bucket per connection and one flap
record per device or address.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from fleetward.errors import InvalidInputError

__all__ = ["FlapDetector", "TokenBucket"]


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="access.bad_rate_limit")


class TokenBucket:
    """A token bucket: ``burst`` tokens at most, refilled at ``rate`` tokens per second.

    It starts full, at its first use. A ``now`` earlier than the last one seen (a clock
    that went backwards) refills nothing rather than minting tokens. A refused
    :meth:`take` consumes nothing, so a client that backs off recovers at ``rate``.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        if rate < 0 or burst <= 0:
            raise _bad("a token bucket needs rate >= 0 and burst > 0")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
        elif now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def take(self, now: float, n: float = 1) -> bool:
        """Take ``n`` tokens at ``now`` if there are that many; whether it did.

        Raises :class:`InvalidInputError` for ``n <= 0``: a negative take would add tokens.
        """
        if n <= 0:
            raise _bad("take a positive number of tokens")
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def tokens(self, now: float) -> float:
        """The tokens available at ``now``."""
        self._refill(now)
        return self._tokens

    def retry_after(self, now: float, n: float = 1) -> float | None:
        """Seconds from ``now`` until ``n`` tokens are there; ``None`` if they never will."""
        self._refill(now)
        missing = n - self._tokens
        if missing <= 0:
            return 0.0
        if n > self.burst or self.rate == 0:
            return None
        return missing / self.rate


class _FlapState:
    """Recent connects of one key and its ban record."""

    __slots__ = ("banned_until", "connects", "last_seen", "strikes")

    def __init__(self, threshold: int, now: float) -> None:
        self.connects: deque[float] = deque(maxlen=threshold)
        self.banned_until = 0.0
        self.strikes = 0
        self.last_seen = now


class FlapDetector:
    """Bans a key (device id, client id, address) that connects in a loop.

    ``threshold`` connects within ``window`` seconds ban the key for ``ban`` seconds; each
    further ban of the same key is ``escalation`` times longer, up to ``max_ban``. A key
    quiet for ``forget_after`` seconds past its last connect and ban is forgotten, which
    also resets its escalation. Connects while banned are refused by the caller and not
    counted, so a ban ends on time; a device still looping then is re-banned for longer.

    Memory is bounded: at most ``max_keys`` records, least recently used evicted first
    (a flood of new keys can evict an old ban, which is why the cap should be generous),
    and forgotten records are dropped as they reach the old end.
    """

    __slots__ = (
        "_states",
        "ban",
        "escalation",
        "forget_after",
        "max_ban",
        "max_keys",
        "threshold",
        "window",
    )

    def __init__(
        self,
        threshold: int = 5,
        window: float = 60.0,
        ban: float = 60.0,
        *,
        escalation: float = 2.0,
        max_ban: float = 3600.0,
        forget_after: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        if threshold < 1 or window <= 0 or ban <= 0 or max_ban < ban or max_keys < 1:
            raise _bad("flap detection needs positive threshold, window, ban and key cap")
        if escalation < 1 or forget_after <= 0:
            raise _bad("flap escalation must be >= 1 and forget_after positive")
        self.threshold = threshold
        self.window = window
        self.ban = ban
        self.escalation = escalation
        self.max_ban = max_ban
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._states: OrderedDict[str, _FlapState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def _stale(self, state: _FlapState, now: float) -> bool:
        return now - max(state.last_seen, state.banned_until) >= self.forget_after

    def _purge(self, now: float) -> None:
        while self._states:
            key, state = next(iter(self._states.items()))
            if not self._stale(state, now):
                return
            del self._states[key]

    def record_connect(self, key: str, now: float) -> float | None:
        """Note a connect by ``key`` at ``now``; the time its ban ends, or ``None``.

        Returns the existing ban end if ``key`` is already banned (that attempt does not
        count), or a new one if this connect tipped it over the threshold.
        """
        self._purge(now)
        state = self._states.get(key)
        if state is None or self._stale(state, now):
            state = _FlapState(self.threshold, now)
            self._states[key] = state
            while len(self._states) > self.max_keys:
                self._states.popitem(last=False)
        self._states.move_to_end(key)
        state.last_seen = max(state.last_seen, now)
        if now < state.banned_until:
            return state.banned_until
        connects = state.connects
        connects.append(now)
        while connects and connects[0] <= now - self.window:
            connects.popleft()
        if len(connects) < self.threshold:
            return None
        duration = min(self.max_ban, self.ban * self.escalation**state.strikes)
        if duration < self.max_ban:
            state.strikes += 1  # stops growing at the cap, so the power cannot overflow
        state.banned_until = now + duration
        connects.clear()
        return state.banned_until

    def banned_until(self, key: str, now: float) -> float | None:
        """When ``key``'s ban ends, or ``None`` if it is not banned at ``now``."""
        state = self._states.get(key)
        if state is None or now >= state.banned_until:
            return None
        return state.banned_until

    def unban(self, key: str) -> None:
        """Forget ``key`` entirely (an operator lifted the ban); escalation starts over."""
        self._states.pop(key, None)
