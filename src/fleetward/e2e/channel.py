"""The sending and receiving sides an app or a device holds: :class:`Sealer`, :class:`Opener`.

A :class:`Sealer` owns its key's one sequence counter (``docs/e2e-format.md`` §8) and
seals with the stream suite (suite 3) by default: one recipient gets a stream message,
several get suite 2. An :class:`Opener` holds what opening needs across messages: the
receiver's own keys, its trusted sender keys, the replay windows and the stream contexts.
Both are pure (``now`` is passed in) and not thread-safe: one per key and loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Final

from fleetward.e2e._common import topic_bytes
from fleetward.e2e.durable import DurableReplayGuard, ReplayJournal
from fleetward.e2e.envelope import (
    MAX_PAYLOAD,
    OpenedEnvelope,
    SenderKeys,
    open_envelope,
    seal_envelope,
)
from fleetward.e2e.keys import E2EKeyPair, PublicKeyRecord
from fleetward.e2e.replay import MAX_SEQ, ReplayGuard
from fleetward.e2e.stream import StreamCache, StreamPolicy, StreamSender
from fleetward.errors import InvalidInputError

__all__ = ["Opener", "Sealer", "seq_seed"]

_SEQ_SHIFT: Final = 20


def seq_seed(now: dt.datetime) -> int:
    """A first sequence number for a sender that cannot persist its counter:
    ``unix_seconds << 20`` (§8), so it only grows across restarts (up to 2^20 messages a
    second)."""
    return int(now.timestamp()) << _SEQ_SHIFT


class Sealer:
    """Seals a sender key's messages; ``stream=False`` gives single-shot suite 1."""

    __slots__ = ("_next_seq", "_streams", "key", "stream")

    def __init__(
        self,
        key: E2EKeyPair,
        *,
        first_seq: int,
        policy: StreamPolicy | None = None,
        stream: bool = True,
    ) -> None:
        if not 0 <= first_seq <= MAX_SEQ:
            raise InvalidInputError("sequence number out of range", code="e2e.sequence_invalid")
        self.key, self.stream = key, stream
        self._next_seq = first_seq
        self._streams = StreamSender(key, policy or StreamPolicy())

    @property
    def next_seq(self) -> int:
        """The number the next message takes (persist it to resume after a restart)."""
        return self._next_seq

    def seal(
        self,
        payload: bytes,
        *,
        topic: str,
        recipients: Sequence[PublicKeyRecord],
        now: dt.datetime,
    ) -> bytes:
        """Seal ``payload`` for ``topic``; raises ``InvalidInputError`` for bad arguments or
        an exhausted counter."""
        seq = self._next_seq
        if seq > MAX_SEQ:
            raise InvalidInputError("sequence numbers exhausted", code="e2e.sequence_invalid")
        if not (self.stream and len(recipients) == 1):
            out = seal_envelope(
                payload, topic=topic, sender=self.key, recipients=recipients, seq=seq
            )
        else:
            if len(payload) > MAX_PAYLOAD:
                raise InvalidInputError("payload too large", code="e2e.payload_too_large")
            out = self._streams.seal(
                payload, topic_lp=topic_bytes(topic), recipient=recipients[0], seq=seq, now=now
            )
        self._next_seq = seq + 1
        return out


class Opener:
    """Opens what arrives for a receiver's keys (:func:`open_envelope` with its state).

    ``own_keys``: the receiver's key pairs (keep old ones through a rotation overlap);
    ``senders``: its verified directory view. Refusals are one opaque ``E2EError``.
    ``replay_store``: where the replay windows' bounds persist (for example
    ``FileReplayJournal(path)``), so that a message accepted before a restart, even a
    crash, is refused after it (§8a); :meth:`close` on a clean stop. Without it the
    windows live in memory only. A store that cannot be read or written raises
    ``ReplayStateError`` (from the constructor, or from :meth:`open`, accepting nothing).
    """

    __slots__ = ("own_keys", "replay", "senders", "streams")

    def __init__(
        self,
        own_keys: Iterable[E2EKeyPair],
        senders: SenderKeys,
        *,
        replay: ReplayGuard | None = None,
        streams: StreamCache | None = None,
        replay_store: ReplayJournal | None = None,
    ) -> None:
        if replay_store is not None:
            if replay is not None:
                raise ValueError("give a replay guard or a replay store, not both")
            replay = DurableReplayGuard(replay_store)
        self.own_keys = {k.key_id: k for k in own_keys}
        self.senders = senders
        self.replay = replay if replay is not None else ReplayGuard()
        self.streams = streams if streams is not None else StreamCache()

    def add_key(self, key: E2EKeyPair) -> None:
        """Start receiving for a new key pair (after a rotation)."""
        self.own_keys[key.key_id] = key

    def remove_key(self, key_id: bytes) -> None:
        """Stop receiving for a key (its overlap ended); its streams stop opening too."""
        self.own_keys.pop(key_id, None)

    def open(self, data: bytes, *, topic: str, now: dt.datetime) -> OpenedEnvelope:
        """Open ``data`` received on ``topic``; raises ``E2EError`` on any failure."""
        if isinstance(self.replay, DurableReplayGuard):
            self.replay.now = now.timestamp()
        return open_envelope(
            data,
            topic=topic,
            own_keys=self.own_keys,
            senders=self.senders,
            replay=self.replay,
            now=now,
            streams=self.streams,
        )

    def close(self) -> None:
        """Persist the exact replay state (a clean stop: nothing new refused on restart)."""
        if isinstance(self.replay, DurableReplayGuard):
            self.replay.checkpoint()
