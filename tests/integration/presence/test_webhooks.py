"""Webhook delivery to a real local HTTP server: signature, retry after 500, no duplicate."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from fleetward.crypto import sign_webhook, verify_webhook
from fleetward.errors import InvalidInputError
from fleetward.presence import Delivery, WebhookSender, WebhookTarget

from ._receiver import SECRET, receiver


def _sender(url: str, **kw: float) -> WebhookSender:
    return WebhookSender(
        [WebhookTarget(url, SECRET)],
        wall=time.time,
        base_delay=kw.get("base_delay", 0.02),
        max_delay=0.2,
        max_attempts=int(kw.get("max_attempts", 5)),
        timeout=2.0,
        rng=random.Random(7),
    )


async def _send_all(sender: WebhookSender, deliveries: list[Delivery]) -> None:
    sender.start()
    for d in deliveries:
        sender.submit(d)
    await sender.join()
    await sender.close()


def test_retry_after_500_then_exactly_one_accepted_delivery() -> None:
    with receiver(script=[500]) as r:
        sender = _sender(r.url)
        body = b'{"event":"alert.raised","alert":{"id":"a1"}}'
        asyncio.run(_send_all(sender, [Delivery("a1", "alert.raised", body, "t1")]))
    assert r.attempts == [("a1", 500), ("a1", 200)]  # same idempotency id on the retry
    assert list(r.accepted) == ["a1"]
    assert r.accepted["a1"]["alert"]["id"] == "a1"
    assert r.bad_signatures == 0
    assert (sender.stats.delivered, sender.stats.retried, sender.stats.failed) == (1, 1, 0)


def test_a_repeat_the_receiver_already_accepted_is_dropped_by_id() -> None:
    with receiver() as r:
        sender = _sender(r.url)
        d = Delivery("a2", "alert.raised", b"{}", "t1")
        asyncio.run(_send_all(sender, [d, d]))
    assert list(r.accepted) == ["a2"]
    assert r.duplicates == 1


def test_4xx_is_not_retried_and_retries_are_bounded() -> None:
    with receiver(script=[404, 503, 503, 503]) as r:
        sender = _sender(r.url, max_attempts=3)
        asyncio.run(
            _send_all(
                sender,
                [Delivery("gone", "alert.raised", b"{}", None)],
            )
        )
        assert r.attempts == [("gone", 404)]
        sender = _sender(r.url, max_attempts=3)
        asyncio.run(_send_all(sender, [Delivery("busy", "alert.raised", b"{}", None)]))
    assert r.attempts[1:] == [("busy", 503)] * 3
    assert sender.stats.failed == 1
    assert r.accepted == {}


def test_tenant_targets_only_get_their_tenant() -> None:
    with receiver() as r:
        sender = WebhookSender(
            [WebhookTarget(r.url, SECRET, tenant_id="t1")], wall=time.time, base_delay=0.01
        )
        deliveries = [
            Delivery("mine", "alert.raised", b"{}", "t1"),
            Delivery("theirs", "alert.raised", b"{}", "t2"),
        ]
        asyncio.run(_send_all(sender, deliveries))
    assert list(r.accepted) == ["mine"]


def test_signature_scheme() -> None:
    header = sign_webhook(SECRET, 1_700_000_000, b"body")
    assert header.startswith("t=1700000000,v1=")
    assert verify_webhook(SECRET, header, b"body", now=1_700_000_100)
    assert not verify_webhook(SECRET, header, b"bodY", now=1_700_000_100)
    assert not verify_webhook(SECRET, header, b"body", now=1_700_001_000)  # stale: replay
    assert not verify_webhook(
        b"another-secret-of-32-bytes-long!", header, b"body", now=1_700_000_000
    )
    assert not verify_webhook(SECRET, "garbage", b"body", now=1_700_000_000)
    rotated = sign_webhook([b"old-secret-0123456789", SECRET], 5, b"x")
    assert verify_webhook(SECRET, rotated, b"x", now=5)


@pytest.mark.parametrize(
    ("url", "secret", "code"),
    [
        ("http://example.com/hook", SECRET, "webhook.insecure_url"),
        ("ftp://127.0.0.1/x", SECRET, "webhook.bad_url"),
        ("https://example.com/hook", b"short", "webhook.weak_secret"),
    ],
)
def test_unsafe_targets_are_refused(url: str, secret: bytes, code: str) -> None:
    with pytest.raises(InvalidInputError) as e:
        WebhookTarget(url, secret)
    assert e.value.code == code


def test_the_secret_never_shows_in_repr() -> None:
    target = WebhookTarget("https://example.com/hook?token=abc", SECRET)
    assert SECRET.decode() not in repr(target)
    assert "token" not in target.safe_name


def test_a_sender_works_again_after_close() -> None:
    """The hub closes the sender when the broker stops and starts it when it starts again."""
    with receiver() as r:
        sender = _sender(r.url)
        asyncio.run(_send_all(sender, [Delivery("first", "alert.raised", b"{}", None)]))
        asyncio.run(_send_all(sender, [Delivery("second", "alert.raised", b"{}", None)]))
    assert list(r.accepted) == ["first", "second"]


def test_failures_never_log_the_secret_or_the_query(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with receiver(script=[500, 500]) as r:
        sender = WebhookSender(
            [WebhookTarget(r.url + "?token=sesame", SECRET)],
            wall=time.time,
            base_delay=0.01,
            max_attempts=2,
        )
        asyncio.run(_send_all(sender, [Delivery("d1", "alert.raised", b"{}", None)]))
    assert sender.stats.failed == 1
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("fleetward"))
    assert "abandoned" in ours
    assert SECRET.decode() not in caplog.text
    assert "sesame" not in ours
