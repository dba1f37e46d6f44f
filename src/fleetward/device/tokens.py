"""Short-lived device tokens, refreshed before they expire.

A token is refreshed once less than ``margin`` seconds of it remain, where the margin
is capped at half the token's lifetime as the device saw it (so a 2-second token is
renewed after one second, not never). Only a device connected with its certificate may
ask (``$fleet/token/{id}/req`` → ``$fleet/token/{id}/resp``); a device that connects
with its token gets the next one over a short certificate connection of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiomqtt

from fleetward.clock import utc
from fleetward.device.credentials import CredentialStore, Endpoint, Token
from fleetward.errors import AuthenticationError, UnavailableError
from fleetward.service_topics import token_topic

__all__ = [
    "TokenRefreshError",
    "fetch_token",
    "parse_token_answer",
    "refresh_delay",
    "token_request_topic",
    "token_response_topic",
]

_MAX_ANSWER = 16 * 1024


class TokenRefreshError(AuthenticationError):
    """The hub refused to issue a token (its ``code`` says why)."""

    code = "device.token_refused"


def token_request_topic(device_id: str) -> str:
    """Where a certificate-connected device asks for a token."""
    return token_topic(device_id, "req")


def token_response_topic(device_id: str) -> str:
    """Where the hub answers."""
    return token_topic(device_id, "resp")


def refresh_delay(token: Token, received_at: dt.datetime, now: dt.datetime, margin: float) -> float:
    """Seconds to wait before refreshing ``token`` (0 when due). Pure."""
    lifetime = (token.expires_at - received_at).total_seconds()
    effective = min(margin, max(lifetime, 0.0) / 2)
    return max(0.0, token.remaining(now) - effective)


def parse_token_answer(raw: bytes) -> Token:
    """The hub's ``{token, expires_at}`` answer, or :class:`TokenRefreshError`."""
    if len(raw) > _MAX_ANSWER:
        raise TokenRefreshError("token answer too large", code="device.token_answer")
    try:
        data = json.loads(raw)
        if "error" in data:
            raise TokenRefreshError(
                str(data.get("detail", "refused"))[:200], code=str(data["error"])[:64]
            )
        return Token(str(data["token"]), utc(dt.datetime.fromisoformat(data["expires_at"])))
    except (KeyError, TypeError, ValueError) as e:
        raise TokenRefreshError("malformed token answer", code="device.token_answer") from e


async def fetch_token(
    endpoint: Endpoint, store: CredentialStore, *, client_id: str, answer_within: float = 15.0
) -> Token:
    """A fresh token over a short mTLS connection with the device certificate; stored.

    ``client_id`` must differ from the device's main client id when that session is
    live (the hub would otherwise take it over). Raises :class:`TokenRefreshError` or
    :class:`UnavailableError` (``device.unreachable``).
    """
    device_id = store.device_id()
    client = aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        identifier=client_id,
        username=device_id,
        tls_context=endpoint.tls_context(store.cert_pair()),
        clean_session=True,
        timeout=answer_within,
    )
    try:
        async with asyncio.timeout(answer_within), client:
            await client.subscribe(token_response_topic(device_id), qos=1)
            await client.publish(token_request_topic(device_id), b"", qos=1)
            async for message in client.messages:
                payload = message.payload
                token = parse_token_answer(payload if isinstance(payload, bytes) else b"")
                break
            else:  # pragma: no cover - the iterator ends only by raising
                raise UnavailableError("no token answer", code="device.unreachable")
    except TimeoutError as e:
        raise UnavailableError("no token answer in time", code="device.unreachable") from e
    except aiomqtt.MqttCodeError as e:
        raise TokenRefreshError(f"the hub refused the certificate ({e.rc})") from e
    except aiomqtt.MqttError as e:
        raise UnavailableError(f"cannot reach the hub: {e}", code="device.unreachable") from e
    store.save_token(token)
    return token
