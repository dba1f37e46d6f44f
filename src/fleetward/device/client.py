"""``DeviceClient``: a device's long-lived, outbound-only connection to its hub.

One asyncio task keeps the device connected: it connects over TLS (the hub CA pinned)
with the device certificate (mTLS) or a token, subscribes to the device's commands and
desired state, flushes the offline queue in order, keeps the token fresh, and on any
drop waits an exponential, fully jittered backoff before trying again. Every publish
goes through the bounded :class:`OfflineQueue`, so the application never blocks on the
network and messages keep their order across outages.

The last will (``devices/{id}/state/reported`` ``{"online": false}``) tells the hub
and the owner's apps when the device vanished without saying goodbye (MQTT-3.1.2-8);
a clean :meth:`DeviceClient.close` sends DISCONNECT, which discards it (MQTT-3.14.4-3).

The client only ever dials out: it never binds a listening socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import json
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Literal

import aiomqtt

from fleetward.clock import Clock, SystemClock
from fleetward.device.backoff import Backoff, BackoffPolicy
from fleetward.device.credentials import CredentialStore, Endpoint, Token
from fleetward.device.queue import OfflineQueue, Outgoing
from fleetward.device.tokens import (
    fetch_token,
    parse_token_answer,
    refresh_delay,
    token_request_topic,
    token_response_topic,
)
from fleetward.errors import ConfigError, FleetwardError, InvalidInputError

__all__ = ["CommandHandler", "DeviceClient", "quiet_closed_socket_races"]

_CLOSE_WITHIN = 5.0

log = logging.getLogger("fleetward.device")

CommandHandler = Callable[[str, bytes], Awaitable[None] | None]
"""``handler(name, payload)``: a command (or ``"desired"`` for desired state) arrived."""

WILL_PAYLOAD = json.dumps({"online": False}).encode()
_MAX_STREAM = 64
_TOKEN_WAIT = 15.0
_TOKEN_RETRY = 5.0


class DeviceClient:
    """Connects, reconnects, publishes and receives for one enrolled device."""

    def __init__(
        self,
        endpoint: Endpoint,
        store: CredentialStore,
        *,
        auth: Literal["certificate", "token"] = "certificate",
        queue_size: int = 1000,
        backoff: BackoffPolicy | None = None,
        rand: Callable[[], float] = random.random,
        keepalive: int = 30,
        token_margin: float = 60.0,
        persistent_session: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if not (store.root / "device.json").is_file():
            raise ConfigError(
                f"no enrolled device in {store.root}: enrol first (fleetward.device.enroll)"
            )
        self.endpoint = endpoint
        self.store = store
        self.device_id = store.device_id()
        self.auth = auth
        self.queue = OfflineQueue(queue_size)
        self.connects = 0
        self.sent = 0
        self.token: Token | None = store.token()
        self._backoff = Backoff(backoff or BackoffPolicy(), rand)
        self._keepalive = keepalive
        self._margin = token_margin
        self._persistent = persistent_session
        self._clock = clock or SystemClock()
        self._token_received = self._clock.now()
        self._handlers: dict[str, CommandHandler] = {}
        self._mqtt: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._queued = asyncio.Event()
        self._empty = asyncio.Event()
        self._connected = asyncio.Event()
        self._token_answer: asyncio.Future[Token] | None = None
        self._offline_until = 0.0
        self._closing = False

    # -- the application's side -------------------------------------------------------------

    def on_command(self, name: str, handler: CommandHandler) -> None:
        """Call ``handler`` for ``devices/{id}/commands/{name}`` (``"#"``: every command)."""
        self._handlers[f"commands/{name}"] = handler

    def on_desired_state(self, handler: CommandHandler) -> None:
        """Call ``handler("desired", payload)`` when the desired state changes."""
        self._handlers["state/desired"] = handler

    def publish_telemetry(self, stream: str, payload: bytes, *, qos: int = 1) -> None:
        """Queue ``payload`` for ``devices/{id}/telemetry/{stream}`` (sent when connected)."""
        if not stream or len(stream) > _MAX_STREAM or any(c in stream for c in "/+#\0"):
            raise InvalidInputError("a telemetry stream is one topic level", code="device.stream")
        self._put(Outgoing(f"devices/{self.device_id}/telemetry/{stream}", payload, qos))

    def report_state(self, state: dict[str, object], *, qos: int = 1) -> None:
        """Queue the reported state (JSON) for ``devices/{id}/state/reported``."""
        body = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        self._put(Outgoing(f"devices/{self.device_id}/state/reported", body, qos))

    def _put(self, message: Outgoing) -> None:
        self.queue.put(message)
        self._queued.set()

    @property
    def connected(self) -> bool:
        """Whether a connection to the hub is up right now."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until connected (bound it with ``asyncio.timeout``)."""
        await self._connected.wait()

    async def drained(self) -> None:
        """Wait until the hub has acknowledged everything queued so far."""
        while len(self.queue):
            self._empty.clear()
            await self._empty.wait()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> DeviceClient:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the connection task (the device works offline until it connects)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"device {self.device_id}"
            )

    async def close(self) -> None:
        """Disconnect cleanly (no last will) and stop reconnecting."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # bounded: a library stuck in its own disconnect must not hang the device's owner
            done, _ = await asyncio.wait({task}, timeout=_CLOSE_WITHIN)
            if not done:
                log.warning("device %s: the connection did not close in time", self.device_id)
            elif not task.cancelled() and task.exception() is not None:
                log.info("device %s: connection ended with %r", self.device_id, task.exception())

    def abort(self, offline_for: float = 0.0) -> None:
        """Drop the connection abruptly (no DISCONNECT: the hub sends the last will).

        Then stay away at least ``offline_for`` seconds: a power cut or a lost network,
        for tests and the simulator.
        """
        loop = asyncio.get_running_loop()
        self._offline_until = max(self._offline_until, loop.time() + offline_for)
        self._cut()

    def _cut(self) -> None:
        """Shut the live socket down under the MQTT client (it then sees the drop)."""
        client = self._mqtt
        sock = client._client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- the connection loop ----------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                await self._session()
            except (aiomqtt.MqttError, FleetwardError, OSError) as e:
                log.info("device %s: connection ended: %s", self.device_id, _why(e))
            except Exception:
                # a bug must not silence the device for good: log it, back off, retry
                log.exception("device %s: unexpected error in the connection", self.device_id)
            finally:
                self._mqtt = None
                self._connected.clear()
            await asyncio.sleep(self._backoff.next_delay())
            # abort(offline_for=…) may move the deadline while we sleep: check again
            while (away := self._offline_until - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(away)

    async def _session(self) -> None:
        """One connection, from CONNECT until it ends (by raising)."""
        client = await self._new_client()
        async with client:
            self._mqtt = client
            if self._offline_until > asyncio.get_running_loop().time():
                self._cut()  # aborted while connecting: stay away as asked
            self.connects += 1
            self._backoff.reset()
            base = f"devices/{self.device_id}"
            await client.subscribe(f"{base}/commands/#", qos=1)
            await client.subscribe(f"{base}/state/desired", qos=1)
            if self.auth == "certificate":
                await client.subscribe(token_response_topic(self.device_id), qos=1)
            self._connected.set()
            tasks = [
                asyncio.create_task(self._receive(client)),
                asyncio.create_task(self._flush(client)),
                asyncio.create_task(self._keep_token(client)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()

    async def _new_client(self) -> aiomqtt.Client:
        """The MQTT client for the next attempt (a fresh token first, in token mode)."""
        password: str | None = None
        if self.auth == "certificate":
            ctx = self.endpoint.tls_context(self.store.cert_pair())
        else:
            token = self.token
            if token is None or self._refresh_in(token) <= 0:
                token = await self._fetch_side_token()
            ctx, password = self.endpoint.tls_context(), token.token
        return aiomqtt.Client(
            self.endpoint.host,
            self.endpoint.port,
            identifier=self.device_id,
            username=self.device_id,
            password=password,
            will=aiomqtt.Will(f"devices/{self.device_id}/state/reported", WILL_PAYLOAD, qos=1),
            clean_session=not self._persistent,
            keepalive=self._keepalive,
            timeout=10.0,
            tls_context=ctx,
        )

    def _refresh_in(self, token: Token) -> float:
        return refresh_delay(token, self._token_received, self._clock.now(), self._margin)

    def _took(self, token: Token) -> None:
        self.token = token
        self._token_received = self._clock.now()
        self.store.save_token(token)

    async def _fetch_side_token(self) -> Token:
        token = await fetch_token(self.endpoint, self.store, client_id=f"{self.device_id}.token")
        self._took(token)
        return token

    async def _receive(self, client: aiomqtt.Client) -> None:
        prefix = f"devices/{self.device_id}/"
        token_topic = token_response_topic(self.device_id)
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == token_topic:
                self._on_token_answer(payload)
                continue
            if not topic.startswith(prefix):
                continue
            leaf = topic[len(prefix) :]
            name = leaf.removeprefix("commands/") if leaf.startswith("commands/") else "desired"
            handler = self._handlers.get(leaf) or (
                self._handlers.get("commands/#") if leaf.startswith("commands/") else None
            )
            if handler is not None:
                await _call(handler, name, payload)

    def _on_token_answer(self, payload: bytes) -> None:
        waiter = self._token_answer
        if waiter is None or waiter.done():
            return
        try:
            waiter.set_result(parse_token_answer(payload))
        except FleetwardError as e:
            waiter.set_exception(e)

    async def _flush(self, client: aiomqtt.Client) -> None:
        """Send the queue in order; a message leaves it only once acknowledged."""
        while True:
            message = self.queue.peek()
            if message is None:
                self._empty.set()
                self._queued.clear()
                await self._queued.wait()
                continue
            await client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )
            self.queue.done(message)
            self.sent += 1

    async def _keep_token(self, client: aiomqtt.Client) -> None:
        """Refresh the token ahead of its expiry for as long as the connection lasts.

        A failed refresh is retried a little later; the connection itself stays up
        (the token is for the next connection and for the hub's other doors).
        """
        while True:
            token = self.token
            if token is not None:
                await asyncio.sleep(self._refresh_in(token))
            try:
                if self.auth == "token":
                    await self._fetch_side_token()
                    continue
                self._token_answer = asyncio.get_running_loop().create_future()
                await client.publish(token_request_topic(self.device_id), b"", qos=1)
                async with asyncio.timeout(_TOKEN_WAIT):
                    self._took(await self._token_answer)
            except (FleetwardError, TimeoutError) as e:
                log.warning("device %s: token refresh failed: %s", self.device_id, _why(e))
                await asyncio.sleep(_TOKEN_RETRY)


async def _call(handler: CommandHandler, name: str, payload: bytes) -> None:
    """Run an application handler; its failure is logged, never fatal to the connection."""
    try:
        result = handler(name, payload)
        if inspect.isawaitable(result):
            await result
    except Exception:  # application code: log it, keep the device online
        log.exception("device command handler for %r failed", name)


def quiet_closed_socket_races(loop: asyncio.AbstractEventLoop) -> None:
    """Log at debug level, not as an error, aiomqtt's late ``add_writer`` on a closed socket.

    aiomqtt schedules "watch this socket for writing" with ``call_soon_threadsafe``; when
    the connection drops (a hub restart, :meth:`DeviceClient.abort`) between that call
    and its turn, the loop reports ``EBADF`` with a traceback although nothing is lost
    (the queue still holds the message). Applications that own their loop may opt in;
    the simulator does. Any other error still reaches the previous handler.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno == errno.EBADF:
            log.debug("ignored a write watch on a closed socket: %s", context.get("message"))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _why(error: BaseException) -> str:
    if isinstance(error, FleetwardError):
        return error.code
    return f"{type(error).__name__}: {error}"
