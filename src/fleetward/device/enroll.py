"""Enrolment: trade a one-time bootstrap credential for the device's own identity.

The device makes its key pair itself (the private key never leaves it), connects once
with a one-time enrollment code as its password (user name = client id = device id) or
with a maker's bootstrap certificate over mTLS, subscribes
``$fleet/enroll/{id}/result`` (QoS 1) and publishes its CSR to
``$fleet/enroll/{id}/csr`` (QoS 1). The hub answers with a certificate, its CA and a
first token; from then on the bootstrap credential is used up and the device connects
with what it received (rotation from bootstrap to operational identity).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import aiomqtt

from fleetward.clock import utc
from fleetward.crypto import new_device_key_and_csr
from fleetward.device.credentials import CredentialStore, Endpoint, Token
from fleetward.errors import AuthenticationError, FleetwardError, UnavailableError
from fleetward.service_topics import enroll_topic

__all__ = ["EnrollmentRefusedError", "enroll"]

_MAX_RESULT = 64 * 1024


class EnrollmentRefusedError(AuthenticationError):
    """The hub refused the enrolment (its ``code`` is the hub's, e.g. ``enrollment.reused``)."""

    code = "device.enroll_refused"


async def enroll(
    endpoint: Endpoint,
    device_id: str,
    store: CredentialStore,
    *,
    code: str | None = None,
    bootstrap: tuple[Path, Path] | None = None,
    answer_within: float = 30.0,
) -> Token:
    """Enrol ``device_id`` with ``code`` or ``bootstrap`` ``(cert, key)``; store the result.

    Returns the first token. Raises :class:`EnrollmentRefusedError` when the hub refuses
    the connection (``device.enroll_refused``: a wrong, used-up or expired code look the
    same from outside, by design) or answers with an error (its own code), and
    :class:`UnavailableError` (``device.unreachable`` / ``device.enroll_timeout``) when
    the hub cannot be reached or does not answer in ``answer_within`` seconds.
    """
    if (code is None) == (bootstrap is None):
        raise EnrollmentRefusedError(
            "enrol with exactly one of a code or a bootstrap certificate",
            code="device.enroll_credential",
        )
    key_pem, csr_pem = await asyncio.to_thread(new_device_key_and_csr, device_id)
    client = aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        identifier=device_id,
        username=device_id,
        password=code,
        tls_context=endpoint.tls_context(bootstrap),
        clean_session=True,
        timeout=answer_within,
    )
    try:
        async with asyncio.timeout(answer_within), client:
            await client.subscribe(enroll_topic(device_id, "result"), qos=1)
            await client.publish(enroll_topic(device_id, "csr"), csr_pem, qos=1)
            async for message in client.messages:
                if message.topic.matches(enroll_topic(device_id, "result")):
                    payload = message.payload
                    raw = payload if isinstance(payload, bytes) else str(payload).encode()
                    break
            else:  # pragma: no cover - the iterator ends only by raising
                raise UnavailableError("no enrolment answer", code="device.enroll_timeout")
    except TimeoutError as e:
        raise UnavailableError(
            "the hub did not answer the enrolment in time", code="device.enroll_timeout"
        ) from e
    except aiomqtt.MqttCodeError as e:
        raise EnrollmentRefusedError(f"the hub refused the enrolment connection ({e.rc})") from e
    except aiomqtt.MqttError as e:
        raise UnavailableError(f"cannot reach the hub: {e}", code="device.unreachable") from e
    return _store_result(raw, device_id, key_pem, store)


def _store_result(raw: bytes, device_id: str, key_pem: bytes, store: CredentialStore) -> Token:
    """Check the hub's answer and write the credentials (refusals raise)."""
    if len(raw) > _MAX_RESULT:
        raise EnrollmentRefusedError("enrolment answer too large", code="device.enroll_answer")
    try:
        data = json.loads(raw)
        if "error" in data:
            raise EnrollmentRefusedError(
                str(data.get("detail", "refused"))[:200], code=str(data["error"])[:64]
            )
        if data["device_id"] != device_id:
            raise EnrollmentRefusedError(
                "the answer names another device", code="device.enroll_answer"
            )
        token = Token(str(data["token"]), utc(dt.datetime.fromisoformat(data["token_expires_at"])))
        cert, ca = str(data["certificate"]).encode(), str(data["ca"]).encode()
    except FleetwardError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise EnrollmentRefusedError(
            "the enrolment answer is malformed", code="device.enroll_answer"
        ) from e
    store.save_enrollment(device_id, key_pem, cert, ca, token)
    return token
