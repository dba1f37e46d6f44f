"""The end-to-end envelope: seal a payload for one or more recipients, open it once.

Suite 1 (one recipient) is a single HPKE message in auth mode (RFC 9180 §5.1.3, §6.1):
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. Auth mode proves to the recipient
that the sender holds the static private key of the sender key id in the header, with no
signature to compute or verify. Suite 2 (several recipients) encrypts the payload once
under a fresh content key and wraps that key for each recipient with the same HPKE auth
mode; each wrap also authenticates a digest of the payload ciphertext, so one recipient
(who learns the content key) cannot alter the payload for the others. Suite 3 (a stream
to one recipient, one HPKE context reused) lives in :mod:`fleetward.e2e.stream`;
:func:`open_envelope` opens all three, and :class:`~fleetward.e2e.channel.Sealer` is
what senders normally use.

The associated data binds the whole header and the MQTT topic, so a ciphertext cannot
be moved to another topic, sender, recipient or sequence number. The sequence number is
checked against the receiver's :class:`~fleetward.e2e.replay.ReplayGuard` after the
sender is authenticated. The byte layout is specified in ``docs/e2e-format.md``.

:func:`open_envelope` raises one :class:`~fleetward.e2e.errors.E2EError` whatever went
wrong; the reason goes to the ``fleetward.e2e`` debug log (key ids and sequence numbers
only, never keys or payloads).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from fleetward.crypto import content_key as single_use
from fleetward.crypto.hpke import (
    N_PK,
    N_T,
    SUITE_X25519_SHA256_AES256GCM,
    HpkeError,
    open_auth,
    setup_auth_recipient,
    setup_auth_sender,
)
from fleetward.e2e._common import VERSION, RefusedError, topic_bytes
from fleetward.e2e.errors import E2EError
from fleetward.e2e.keys import KEY_ID_LEN, E2EKeyPair, PublicKeyRecord
from fleetward.e2e.replay import MAX_SEQ, ReplayGuard
from fleetward.e2e.stream import SUITE_STREAM, StreamCache, open_stream
from fleetward.errors import InvalidInputError

__all__ = [
    "HEADER_LEN",
    "MAX_PAYLOAD",
    "MAX_RECIPIENTS",
    "SUITE_MULTI",
    "SUITE_SINGLE",
    "SUITE_STREAM",
    "VERSION",
    "OpenedEnvelope",
    "SenderKeys",
    "open_envelope",
    "seal_envelope",
]

log = logging.getLogger("fleetward.e2e")

SUITE_SINGLE: Final = 0x01
SUITE_MULTI: Final = 0x02
MAX_RECIPIENTS: Final = 16
MAX_PAYLOAD: Final = 1 << 20  # 1 MiB; the broker's packet limit is usually lower
INFO: Final = b"fleetward-e2e/v1"
HEADER_LEN: Final = 2 + KEY_ID_LEN + KEY_ID_LEN + 8 + N_PK  # suite 1: 58 bytes
_MULTI_FIXED: Final = 2 + KEY_ID_LEN + 8 + 1  # version, suite, sender kid, seq, count
_WRAP_LEN: Final = single_use.CONTENT_KEY_LEN + N_T
_STANZA_LEN: Final = KEY_ID_LEN + N_PK + _WRAP_LEN
_SUITE = SUITE_X25519_SHA256_AES256GCM
_MAX_ENVELOPE: Final = MAX_PAYLOAD + 2 * HEADER_LEN + MAX_RECIPIENTS * _STANZA_LEN


class SenderKeys(Protocol):
    """Port: the sender keys a receiver trusts (a verified key-directory view)."""

    def sender_key(self, key_id: bytes, *, now: dt.datetime) -> PublicKeyRecord | None:
        """The record for ``key_id`` if it is valid at ``now``, else ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class OpenedEnvelope:
    """What :func:`open_envelope` vouches for: this sender sent this payload on this topic."""

    payload: bytes
    sender: PublicKeyRecord
    seq: int
    topic: str


def seal_envelope(
    payload: bytes,
    *,
    topic: str,
    sender: E2EKeyPair,
    recipients: Sequence[PublicKeyRecord],
    seq: int,
) -> bytes:
    """Seal ``payload`` from ``sender`` to ``recipients`` for ``topic`` at sequence ``seq``.

    The sender must never reuse ``seq`` with the same key (receivers refuse the second
    message). One recipient gives suite 1 (74 bytes of overhead), several give suite 2.
    Raises :class:`~fleetward.errors.InvalidInputError` for bad arguments.
    """
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInputError("payload too large", code="e2e.payload_too_large")
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidInputError("sequence number out of range", code="e2e.sequence_invalid")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise InvalidInputError(f"1 to {MAX_RECIPIENTS} recipients", code="e2e.recipients_invalid")
    if len({r.key_id for r in recipients}) != len(recipients):
        raise InvalidInputError("duplicate recipient", code="e2e.recipients_invalid")
    topic_lp = topic_bytes(topic)
    seq_bytes = seq.to_bytes(8, "big")
    sk_s = sender.hpke_key()
    if len(recipients) == 1:
        recipient = recipients[0]
        enc, ctx = setup_auth_sender(_SUITE, recipient.public_key, INFO, sk_s)
        header = bytes([VERSION, SUITE_SINGLE]) + sender.key_id + recipient.key_id + seq_bytes + enc
        return header + ctx.seal(header + topic_lp, payload)
    contexts = [setup_auth_sender(_SUITE, r.public_key, INFO, sk_s) for r in recipients]
    fixed = bytes([VERSION, SUITE_MULTI]) + sender.key_id + seq_bytes + bytes([len(recipients)])
    fixed += b"".join(r.key_id + enc for r, (enc, _ctx) in zip(recipients, contexts, strict=True))
    content_key = single_use.new_content_key()
    body = single_use.seal_once(content_key, fixed + topic_lp, payload)
    wrap_aad = fixed + topic_lp + hashlib.sha256(body).digest()
    stanzas = b"".join(
        r.key_id + enc + ctx.seal(wrap_aad, content_key)
        for r, (enc, ctx) in zip(recipients, contexts, strict=True)
    )
    return fixed[:_MULTI_FIXED] + stanzas + body


@dataclass(frozen=True, slots=True)
class _Parsed:
    suite: int
    sender_kid: bytes
    seq: int
    own_kid: bytes
    enc: bytes
    wrapped: bytes  # suite 1: the payload ciphertext; suite 2: this recipient's key wrap
    aad: bytes  # without the topic
    body: bytes  # suite 2 only: the payload ciphertext


def _parse(data: bytes, own_keys: Mapping[bytes, E2EKeyPair]) -> _Parsed:
    if len(data) < 2 or data[0] != VERSION:
        raise RefusedError("unsupported version")
    suite = data[1]
    if suite == SUITE_SINGLE:
        if len(data) < HEADER_LEN + N_T:
            raise RefusedError("truncated")
        own_kid = data[10:18]
        if own_kid not in own_keys:
            raise RefusedError("unknown recipient key")
        return _Parsed(
            suite=suite,
            sender_kid=data[2:10],
            seq=int.from_bytes(data[18:26], "big"),
            own_kid=own_kid,
            enc=data[26:HEADER_LEN],
            wrapped=data[HEADER_LEN:],
            aad=data[:HEADER_LEN],
            body=b"",
        )
    if suite != SUITE_MULTI:
        raise RefusedError("unknown suite")
    if len(data) < _MULTI_FIXED:
        raise RefusedError("truncated")
    count = data[_MULTI_FIXED - 1]
    end = _MULTI_FIXED + count * _STANZA_LEN
    if not 1 <= count <= MAX_RECIPIENTS or len(data) < end + N_T:
        raise RefusedError("bad recipient count or truncated")
    fixed, mine = bytearray(data[:_MULTI_FIXED]), None
    for off in range(_MULTI_FIXED, end, _STANZA_LEN):
        kid, enc = data[off : off + KEY_ID_LEN], data[off + KEY_ID_LEN : off + KEY_ID_LEN + N_PK]
        fixed += kid + enc
        if mine is None and kid in own_keys:
            mine = (kid, enc, data[off + KEY_ID_LEN + N_PK : off + _STANZA_LEN])
    if mine is None:
        raise RefusedError("unknown recipient key")
    return _Parsed(
        suite=suite,
        sender_kid=data[2:10],
        seq=int.from_bytes(data[10:18], "big"),
        own_kid=mine[0],
        enc=mine[1],
        wrapped=mine[2],
        aad=bytes(fixed),
        body=data[end:],
    )


def open_envelope(
    data: bytes,
    *,
    topic: str,
    own_keys: Mapping[bytes, E2EKeyPair],
    senders: SenderKeys,
    replay: ReplayGuard,
    now: dt.datetime,
    streams: StreamCache | None = None,
) -> OpenedEnvelope:
    """Open an envelope received on ``topic``; raises :class:`E2EError` on any failure.

    ``own_keys`` maps key id to the receiver's key pairs (keep old ones through a
    rotation overlap); ``senders`` holds the sender keys the receiver trusts at ``now``.
    The sequence number is recorded in ``replay`` only when everything else checks out.
    ``streams`` keeps the stream-suite contexts opened so far; without it, a keyed
    stream message opens (at full cost) and a compact one is refused.
    """
    state: list[object] = []  # (sender key id, seq) once parsed, for the debug log
    try:
        if len(data) > 1 and data[0] == VERSION and data[1] == SUITE_STREAM:
            payload, sender, seq = open_stream(
                data,
                topic_lp=_topic_lp(topic),
                own_keys=own_keys,
                senders=senders,
                replay=replay,
                cache=streams if streams is not None else StreamCache(max_streams=1),
                now=now,
                state=state,
            )
            return OpenedEnvelope(payload=payload, sender=sender, seq=seq, topic=topic)
        return _open(data, topic, own_keys, senders, replay, now, state)
    except (RefusedError, HpkeError) as e:
        reason = str(e) if isinstance(e, RefusedError) else "authentication failed"
        log.debug("e2e envelope refused: %s %s", reason, state)
        raise E2EError("cannot open envelope") from None


def _topic_lp(topic: str) -> bytes:
    try:
        return topic_bytes(topic)
    except InvalidInputError as e:
        raise RefusedError("bad topic") from e


def _open(
    data: bytes,
    topic: str,
    own_keys: Mapping[bytes, E2EKeyPair],
    senders: SenderKeys,
    replay: ReplayGuard,
    now: dt.datetime,
    state: list[object],
) -> OpenedEnvelope:
    if len(data) > _MAX_ENVELOPE:
        raise RefusedError("too large")
    topic_lp = _topic_lp(topic)
    parsed = _parse(data, own_keys)
    state += [f"sender key {parsed.sender_kid.hex()}", f"seq {parsed.seq}"]
    sender = senders.sender_key(parsed.sender_kid, now=now)
    if sender is None:
        raise RefusedError("unknown, expired or retired sender key")
    if not replay.is_fresh(parsed.sender_kid, parsed.seq):
        raise RefusedError("replayed or too old")
    payload = _decrypt(parsed, topic_lp, own_keys[parsed.own_kid], sender)
    if not replay.accept(parsed.sender_kid, parsed.seq):
        raise RefusedError("replayed")
    return OpenedEnvelope(payload=payload, sender=sender, seq=parsed.seq, topic=topic)


def _decrypt(parsed: _Parsed, topic_lp: bytes, own: E2EKeyPair, sender: PublicKeyRecord) -> bytes:
    sk_r = own.hpke_key()
    if parsed.suite == SUITE_SINGLE:
        return open_auth(
            _SUITE, parsed.enc, sk_r, INFO, parsed.aad + topic_lp, parsed.wrapped, sender.public_key
        )
    ctx = setup_auth_recipient(_SUITE, parsed.enc, sk_r, INFO, sender.public_key)
    wrap_aad = parsed.aad + topic_lp + hashlib.sha256(parsed.body).digest()
    content_key = ctx.open(wrap_aad, parsed.wrapped)
    return single_use.open_once(content_key, parsed.aad + topic_lp, parsed.body)
