"""Alert webhooks: signed POSTs with retries, backoff and jitter, from a bounded queue.

Each delivery carries an idempotency id (``Fleetward-Delivery``) that stays the same on
every retry, so a receiver that saw a request whose answer was lost drops the repeat.
Each attempt is signed afresh (``Fleetward-Signature``, see
:mod:`fleetward.crypto.webhook_sig`) so its timestamp stays within the receiver's
tolerance. 5xx, 429, timeouts and connection errors are retried with exponential
backoff and jitter; any other answer ends the delivery. Redirects are not followed (a
webhook must not be bounced somewhere else), plain ``http`` is refused except to a
loopback address, and neither the secret nor the URL's query ever reaches a log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from fleetward import __version__
from fleetward.crypto import SIGNATURE_HEADER, sign_webhook
from fleetward.errors import InvalidInputError

__all__ = ["Delivery", "WebhookSender", "WebhookStats", "WebhookTarget"]

log = logging.getLogger("fleetward.presence.webhooks")
DELIVERY_HEADER = "Fleetward-Delivery"
EVENT_HEADER = "Fleetward-Event"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where to send alerts; ``tenant_id`` limits it to one tenant (``None``: every one)."""

    url: str
    secret: bytes = field(repr=False)
    tenant_id: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise InvalidInputError("webhook url must be http(s)", code="webhook.bad_url")
        if parts.scheme == "http" and not _loopback(host):
            raise InvalidInputError(
                "plain http webhooks are allowed only to loopback", code="webhook.insecure_url"
            )
        if len(self.secret) < 16:
            raise InvalidInputError(
                "webhook secret needs at least 16 bytes", code="webhook.weak_secret"
            )

    @property
    def safe_name(self) -> str:
        """Scheme, host and path: what logs may show."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{parts.path}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert event to send: the same id and body on every attempt."""

    delivery_id: str
    event: str
    body: bytes
    tenant_id: str | None


@dataclass(slots=True)
class WebhookStats:
    """Counters (exported as metrics by the monitor)."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookSender:
    """Queue and send deliveries to every matching target with a few workers."""

    def __init__(
        self,
        targets: Sequence[WebhookTarget],
        *,
        wall: Callable[[], float],
        client: httpx.AsyncClient | None = None,
        max_queue: int = 1000,
        max_attempts: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 5.0,
        workers: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self.targets = tuple(targets)
        self.stats = WebhookStats()
        self._wall = wall
        self._given = client
        self._timeout = timeout
        self._client = self._new_client()
        self._max_queue = max_queue
        self._queue: asyncio.Queue[tuple[WebhookTarget, Delivery]] = asyncio.Queue(max_queue)
        self._max_attempts = max_attempts
        self._base, self._cap = base_delay, max_delay
        self._rng = rng or random.SystemRandom()
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def _new_client(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for each target of its tenant; a full queue drops and counts."""
        for target in self.targets:
            if target.tenant_id not in (None, delivery.tenant_id):
                continue
            try:
                self._queue.put_nowait((target, delivery))
            except asyncio.QueueFull:
                self.stats.dropped += 1
                log.warning("webhook queue full: dropped %s", delivery.delivery_id)

    def start(self) -> None:
        """Start the workers on the running loop (again after :meth:`close`)."""
        if self._client.is_closed:
            self._client = self._new_client()
        old, self._queue = self._queue, asyncio.Queue(self._max_queue)
        while not old.empty():  # a queue belongs to one loop; carry waiting work over
            self._queue.put_nowait(old.get_nowait())
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(), name=f"webhook-{i}") for i in range(self._workers)
        ]

    async def join(self) -> None:
        """Wait until every queued delivery is finished (for tests and shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _work(self) -> None:
        while True:
            target, delivery = await self._queue.get()
            try:
                await self._deliver(target, delivery)
            except Exception:  # a worker must survive anything one delivery does
                self.stats.failed += 1
                log.exception("webhook delivery %s failed", delivery.delivery_id)
            finally:
                self._queue.task_done()

    async def _deliver(self, target: WebhookTarget, delivery: Delivery) -> None:
        for attempt in range(self._max_attempts):
            if attempt:
                self.stats.retried += 1
                await asyncio.sleep(self._backoff(attempt))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"fleetward/{__version__}",
                DELIVERY_HEADER: delivery.delivery_id,
                EVENT_HEADER: delivery.event,
                SIGNATURE_HEADER: sign_webhook(target.secret, int(self._wall()), delivery.body),
            }
            try:
                response = await self._client.post(
                    target.url, content=delivery.body, headers=headers
                )
            except httpx.HTTPError as e:
                log.info(
                    "webhook %s to %s: %s", delivery.delivery_id, target.safe_name, type(e).__name__
                )
                continue
            if response.status_code < 300:
                self.stats.delivered += 1
                return
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refuses it; repeating will not help
            log.info(
                "webhook %s to %s: HTTP %d",
                delivery.delivery_id,
                target.safe_name,
                response.status_code,
            )
        self.stats.failed += 1
        log.warning("webhook %s to %s abandoned", delivery.delivery_id, target.safe_name)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling: float = min(self._cap, self._base * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
