"""End-to-end sealed telemetry and commands for a :class:`DeviceClient`.

:class:`SealedChannel` seals what the device publishes with its E2E key (stream suite 3
by default: after the first message of a stream, one AES-GCM operation per message and
35 bytes of overhead) and opens sealed commands addressed to it. The hub relays the
envelopes without being able to read them (``docs/e2e-format.md``). The E2E private key
never leaves the device; the recipients' public keys come from the hub's signed key
directory (:class:`~fleetward.e2e.TrustedKeys`).

Commands are refused once accepted, also after the device restarts or crashes: the
replay bounds persist in the credentials directory (``e2e-replay``, written at
enrolment; ``docs/e2e-format.md`` §8a). Otherwise the hub, which relays every sealed
command, could replay an old "unlock" after a power cycle.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from fleetward.clock import Clock, SystemClock
from fleetward.device.client import DeviceClient
from fleetward.e2e import (
    DurableReplayGuard,
    E2EError,
    E2EKeyPair,
    FileReplayJournal,
    OpenedEnvelope,
    Opener,
    PublicKeyRecord,
    ReplayStateError,
    Sealer,
    StreamPolicy,
    seq_seed,
)
from fleetward.e2e.envelope import SenderKeys
from fleetward.errors import InvalidInputError

__all__ = ["SealedChannel", "SealedHandler"]

log = logging.getLogger("fleetward.device")
_MAX_STREAM = 64  # as DeviceClient.publish_telemetry

SealedHandler = Callable[[str, OpenedEnvelope], Awaitable[None] | None]
"""``handler(name, opened)``: a sealed command opened; check ``opened.sender`` is allowed."""


class SealedChannel:
    """Sealed publishing and sealed commands over one device's connection.

    ``first_seq``: where the key's sequence counter resumes (persist :attr:`next_seq`);
    without it the counter is seeded from the clock (``unix_seconds << 20``), which only
    grows across restarts. ``stream=False`` seals every message single-shot (suite 1).
    A keyed stream message lost on the way (the offline queue overflowing, QoS 0) only
    delays the recipient until the next keyed one (``StreamPolicy.keyed_every``).
    ``replay_state``: the replay bounds file (default: the credentials directory's
    ``e2e-replay``); missing or corrupt, the constructor raises ``ReplayStateError``
    rather than accept old commands again. Call :meth:`close` on a clean stop. One
    channel per replay file: two channels on one file would overwrite each other's.
    """

    def __init__(
        self,
        client: DeviceClient,
        key: E2EKeyPair,
        senders: SenderKeys,
        *,
        first_seq: int | None = None,
        policy: StreamPolicy | None = None,
        stream: bool = True,
        clock: Clock | None = None,
        replay_state: Path | None = None,
    ) -> None:
        self.client = client
        self._clock = clock or SystemClock()
        start = seq_seed(self._clock.now()) if first_seq is None else first_seq
        self.sealer = Sealer(key, first_seq=start, policy=policy, stream=stream)
        journal = FileReplayJournal(replay_state or client.store.replay_file)
        # margin 0: one fsync per accepted command (they are rare), none lost to a crash
        self.opener = Opener([key], senders, replay=DurableReplayGuard(journal, max_margin=0))

    @property
    def next_seq(self) -> int:
        """The next sequence number (persist it to resume the counter)."""
        return self.sealer.next_seq

    def close(self) -> None:
        """Persist the exact replay state, so a clean restart refuses no new command."""
        self.opener.close()

    def publish_sealed(
        self,
        stream: str,
        payload: bytes,
        *,
        recipients: Sequence[PublicKeyRecord],
        qos: int = 1,
    ) -> None:
        """Seal ``payload`` for ``recipients`` and queue it on ``devices/{id}/telemetry/{stream}``.

        Raises :class:`~fleetward.errors.InvalidInputError` for a bad stream name, payload
        or recipient list; nothing is queued then.
        """
        # checked before sealing: a stream's keyed message sealed and then not sent would
        # leave its compact successors unopenable until the next keyed one
        if not stream or len(stream) > _MAX_STREAM or any(c in stream for c in "/+#\0"):
            raise InvalidInputError("a telemetry stream is one topic level", code="device.stream")
        topic = f"devices/{self.client.device_id}/telemetry/{stream}"
        sealed = self.sealer.seal(
            payload, topic=topic, recipients=recipients, now=self._clock.now()
        )
        self.client.publish_telemetry(stream, sealed, qos=qos)

    def on_sealed_message(self, name: str, handler: SealedHandler) -> None:
        """Call ``handler(name, opened)`` for each sealed command ``name`` (``"#"``: all).

        A command that does not open (not sealed for this device, tampered, replayed, an
        unknown or retired sender, a compact stream message before its keyed one) is
        dropped and logged at debug level only: one opaque refusal, whatever the cause.
        """
        prefix = f"devices/{self.client.device_id}/commands/"

        async def on_command(command: str, payload: bytes) -> None:
            try:
                opened = self.opener.open(payload, topic=prefix + command, now=self._clock.now())
            except E2EError:
                log.debug("sealed command %r refused", command)
                return
            except ReplayStateError:  # fail closed: not accepted, and loudly
                log.exception("sealed command %r refused: replay state unusable", command)
                return
            result = handler(command, opened)
            if inspect.isawaitable(result):
                await result

        self.client.on_command(name, on_command)
