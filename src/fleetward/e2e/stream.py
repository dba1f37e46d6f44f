"""Suite 3, the stream suite: one HPKE auth-mode context per (sender, recipient) key pair.

Suite 1 runs a whole HPKE setup for every message (an ephemeral key and two X25519 DH on
each side). Here the sender sets up one context (``SetupAuthS``, RFC 9180 §5.1.3) per
recipient and seals a stream of messages with it, each at its explicit sequence number
(``nonce = base_nonce XOR I2OSP(seq, Nn)``, §5.2); the recipient caches the context it
opened, so every later message costs one AES-GCM operation on each side.

Two message forms (``docs/e2e-format.md`` §5a):

* **keyed**: carries both key ids and ``enc``; anyone holding the recipient key can open
  it alone (a late joiner, a subscriber that lost messages);
* **compact**: carries only an 8-byte stream id (a hash of the keyed fields); it opens
  only with a cached context. The sender sends a keyed message first in every stream and
  then at least every :attr:`StreamPolicy.keyed_every` messages and
  :attr:`StreamPolicy.keyed_interval`.

``seq`` is the sender key's one counter for all its messages (all suites, all
recipients), checked by the receiver's per-sender replay window, so each ``seq`` is
accepted at most once per sender key and a context's nonces never repeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from fleetward.crypto.hpke import (
    N_PK,
    N_T,
    SUITE_X25519_SHA256_AES256GCM,
    RecipientContext,
    SenderContext,
    setup_auth_recipient,
    setup_auth_sender,
)
from fleetward.e2e._common import VERSION, RefusedError
from fleetward.e2e.keys import KEY_ID_LEN, E2EKeyPair, PublicKeyRecord
from fleetward.e2e.replay import ReplayGuard

__all__ = [
    "KEYED_HEADER_LEN",
    "KIND_COMPACT",
    "KIND_KEYED",
    "STREAM_HEADER_LEN",
    "STREAM_INFO",
    "SUITE_STREAM",
    "StreamCache",
    "StreamPolicy",
    "StreamSender",
    "open_stream",
    "stream_id",
]

SUITE_STREAM: Final = 0x03
KIND_COMPACT: Final = 0x00
KIND_KEYED: Final = 0x01
STREAM_INFO: Final = b"fleetward-e2e/v1 stream"  # HPKE info: not the single-shot suites'
STREAM_ID_LEN: Final = 8
_SEQ_AT: Final = 3  # version, suite, kind, then seq (8)
STREAM_HEADER_LEN: Final = _SEQ_AT + 8 + STREAM_ID_LEN  # compact: 19 bytes
KEYED_HEADER_LEN: Final = _SEQ_AT + 8 + 2 * KEY_ID_LEN + N_PK  # keyed: 59 bytes
MAX_REKEY_AFTER: Final = 1 << 32
_STREAM_ID_LABEL: Final = b"fleetward-e2e/v1 stream id\x00"
_SUITE = SUITE_X25519_SHA256_AES256GCM
_KEYED_PREFIX: Final = bytes([VERSION, SUITE_STREAM, KIND_KEYED])
_COMPACT_PREFIX: Final = bytes([VERSION, SUITE_STREAM, KIND_COMPACT])


def stream_id(sender_kid: bytes, recipient_kid: bytes, enc: bytes) -> bytes:
    """The 8-byte stream id: ``SHA-256("fleetward-e2e/v1 stream id" || 0x00 || sender_kid
    || recipient_kid || enc)[:8]``."""
    return hashlib.sha256(_STREAM_ID_LABEL + sender_kid + recipient_kid + enc).digest()[:8]


class SenderLookup(Protocol):
    """Port: the same as ``envelope.SenderKeys`` (kept here to avoid an import cycle)."""

    def sender_key(self, key_id: bytes, *, now: dt.datetime) -> PublicKeyRecord | None:
        """The record for ``key_id`` if it is valid at ``now``, else ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """When a sender repeats ``enc`` and when it starts a new context.

    ``keyed_every``: a keyed message at least every this many messages of a stream (1:
    every message is keyed). ``keyed_interval``: and whenever this long passed since the
    last one. Together they bound what a late joiner waits. ``rekey_after`` messages or
    ``rekey_interval`` end a context (a fresh ``enc`` and key); ``max_streams`` bounds
    the recipients with a live context (least recently used out).
    """

    keyed_every: int = 16
    keyed_interval: dt.timedelta = dt.timedelta(seconds=5)
    rekey_after: int = 1 << 20
    rekey_interval: dt.timedelta = dt.timedelta(hours=1)
    max_streams: int = 256

    def __post_init__(self) -> None:
        if self.keyed_every < 1 or self.max_streams < 1:
            raise ValueError("keyed_every and max_streams must be positive")
        if not 1 <= self.rekey_after <= MAX_REKEY_AFTER:
            raise ValueError(f"rekey_after must be 1..{MAX_REKEY_AFTER}")
        if self.keyed_interval <= dt.timedelta(0) or self.rekey_interval <= dt.timedelta(0):
            raise ValueError("intervals must be positive")


class _SendStream:
    __slots__ = (
        "created_at",
        "ctx",
        "fields",
        "keyed_at",
        "public_key",
        "sealed",
        "sid",
        "since_keyed",
    )

    def __init__(
        self, fields: bytes, sid: bytes, public_key: bytes, ctx: SenderContext, now: dt.datetime
    ) -> None:
        self.fields, self.sid = fields, sid  # keyed: sender kid, recipient kid, enc
        self.public_key = public_key
        self.ctx = ctx
        self.created_at = self.keyed_at = now
        self.sealed = 0  # messages sealed with this context
        self.since_keyed = 0  # messages since the last keyed one (that one included)


class StreamSender:
    """A sender key's stream contexts, one per recipient key (bounded, LRU).

    Not thread-safe: one sender per key and thread (the sequence counter must be one).
    """

    __slots__ = ("_streams", "key", "policy")

    def __init__(self, key: E2EKeyPair, policy: StreamPolicy) -> None:
        self.key, self.policy = key, policy
        self._streams: OrderedDict[bytes, _SendStream] = OrderedDict()

    def seal(
        self,
        payload: bytes,
        *,
        topic_lp: bytes,
        recipient: PublicKeyRecord,
        seq: int,
        now: dt.datetime,
    ) -> bytes:
        """One suite-3 message at ``seq`` (the caller's per-key counter, never reused)."""
        s = self._stream_for(recipient, now)
        keyed = s.since_keyed >= self.policy.keyed_every or (
            now - s.keyed_at >= self.policy.keyed_interval
        )
        if s.sealed == 0 or keyed:
            header = _KEYED_PREFIX + seq.to_bytes(8, "big") + s.fields
            s.since_keyed, s.keyed_at = 1, now
        else:
            header = _COMPACT_PREFIX + seq.to_bytes(8, "big") + s.sid
            s.since_keyed += 1
        s.sealed += 1
        return header + s.ctx.seal_at(seq, header + topic_lp, payload)

    def _stream_for(self, recipient: PublicKeyRecord, now: dt.datetime) -> _SendStream:
        s = self._streams.get(recipient.key_id)
        policy = self.policy
        if (
            s is None
            or s.public_key != recipient.public_key
            or s.sealed >= policy.rekey_after
            or not s.created_at <= now < s.created_at + policy.rekey_interval
        ):
            enc, ctx = setup_auth_sender(
                _SUITE, recipient.public_key, STREAM_INFO, self.key.hpke_key()
            )
            fields = self.key.key_id + recipient.key_id + enc
            sid = stream_id(self.key.key_id, recipient.key_id, enc)
            s = _SendStream(fields, sid, recipient.public_key, ctx, now)
            self._streams[recipient.key_id] = s
            while len(self._streams) > policy.max_streams:
                self._streams.popitem(last=False)
        self._streams.move_to_end(recipient.key_id)
        return s


class _OpenStream:
    __slots__ = ("ctx", "enc", "opened_at", "recipient_kid", "sender_kid")

    def __init__(
        self,
        sender_kid: bytes,
        recipient_kid: bytes,
        enc: bytes,
        ctx: RecipientContext,
        opened_at: dt.datetime,
    ) -> None:
        self.sender_kid, self.recipient_kid, self.enc = sender_kid, recipient_kid, enc
        self.ctx, self.opened_at = ctx, opened_at


class StreamCache:
    """A receiver's opened stream contexts by stream id: at most ``max_streams`` (least
    recently used out), each for at most ``lifetime`` after it was opened.

    Both bounds cost only speed: a stream evicted or expired opens again from its next
    keyed message. Not thread-safe (one per receiving loop).
    """

    __slots__ = ("_streams", "lifetime", "max_streams")

    def __init__(
        self, *, max_streams: int = 1024, lifetime: dt.timedelta = dt.timedelta(hours=2)
    ) -> None:
        if max_streams < 1 or lifetime <= dt.timedelta(0):
            raise ValueError("max_streams and lifetime must be positive")
        self.max_streams, self.lifetime = max_streams, lifetime
        self._streams: OrderedDict[bytes, _OpenStream] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, sid: object) -> bool:
        return sid in self._streams

    def forget_sender(self, sender_kid: bytes) -> None:
        """Drop every stream of a sender key (retired or expired: its messages are refused
        anyway; this frees the memory at once)."""
        for sid in [k for k, s in self._streams.items() if s.sender_kid == sender_kid]:
            del self._streams[sid]

    def _get(self, sid: bytes, now: dt.datetime) -> _OpenStream | None:
        s = self._streams.get(sid)
        if s is None:
            return None
        if not s.opened_at <= now < s.opened_at + self.lifetime:
            del self._streams[sid]
            return None
        self._streams.move_to_end(sid)
        return s

    def _put(self, sid: bytes, s: _OpenStream) -> None:
        self._streams[sid] = s
        self._streams.move_to_end(sid)
        while len(self._streams) > self.max_streams:
            self._streams.popitem(last=False)


def _find(
    data: bytes, own_keys: Mapping[bytes, E2EKeyPair], cache: StreamCache, now: dt.datetime
) -> tuple[bytes, bytes, _OpenStream | None, bytes, bytes, bytes]:
    """Parse: ``(header, stream id, cached stream or None, sender kid, recipient kid, enc)``."""
    if len(data) < STREAM_HEADER_LEN + N_T:
        raise RefusedError("truncated")
    kind = data[2]
    if kind == KIND_COMPACT:
        sid = data[_SEQ_AT + 8 : STREAM_HEADER_LEN]
        s = cache._get(sid, now)
        if s is None:
            raise RefusedError("unknown stream (wait for a keyed message)")
        if s.recipient_kid not in own_keys:
            raise RefusedError("recipient key no longer held")
        return data[:STREAM_HEADER_LEN], sid, s, s.sender_kid, s.recipient_kid, s.enc
    if kind != KIND_KEYED:
        raise RefusedError("unknown stream message kind")
    if len(data) < KEYED_HEADER_LEN + N_T:
        raise RefusedError("truncated")
    sender_kid, recipient_kid, enc = data[11:19], data[19:27], data[27:KEYED_HEADER_LEN]
    if recipient_kid not in own_keys:
        raise RefusedError("unknown recipient key")
    sid = stream_id(sender_kid, recipient_kid, enc)
    s = cache._get(sid, now)
    if s is not None and (s.sender_kid, s.recipient_kid, s.enc) != (sender_kid, recipient_kid, enc):
        s = None  # a stream id collision: never use another stream's context
    return data[:KEYED_HEADER_LEN], sid, s, sender_kid, recipient_kid, enc


def open_stream(
    data: bytes,
    *,
    topic_lp: bytes,
    own_keys: Mapping[bytes, E2EKeyPair],
    senders: SenderLookup,
    replay: ReplayGuard,
    cache: StreamCache,
    now: dt.datetime,
    state: list[object],
) -> tuple[bytes, PublicKeyRecord, int]:
    """Open one suite-3 message: ``(payload, sender, seq)``; raises ``RefusedError`` or
    ``HpkeError`` (the caller turns both into the one opaque ``E2EError``).

    The receiving rules of ``docs/e2e-format.md`` §6, in order: parse; own key (keyed)
    or cached stream (compact); sender key valid now; replay window fresh; open; record
    ``seq``; then cache the context.
    """
    header, sid, s, sender_kid, recipient_kid, enc = _find(data, own_keys, cache, now)
    fresh = s is None
    seq = int.from_bytes(data[_SEQ_AT : _SEQ_AT + 8], "big")
    state += [f"sender key {sender_kid.hex()}", f"seq {seq}"]
    sender = senders.sender_key(sender_kid, now=now)
    if sender is None:
        raise RefusedError("unknown, expired or retired sender key")
    if not replay.is_fresh(sender_kid, seq):
        raise RefusedError("replayed or too old")
    if s is None:
        own = own_keys[recipient_kid]
        ctx = setup_auth_recipient(_SUITE, enc, own.hpke_key(), STREAM_INFO, sender.public_key)
        s = _OpenStream(sender_kid, recipient_kid, enc, ctx, now)
    payload = s.ctx.open_at(seq, header + topic_lp, data[len(header) :])
    if not replay.accept(sender_kid, seq):
        raise RefusedError("replayed")
    if fresh:
        cache._put(sid, s)
    return payload, sender, seq
