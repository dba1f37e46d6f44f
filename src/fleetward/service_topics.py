"""The hub's MQTT service topics: one definition shared by the hub and the device SDK.

Both ends of the enrolment, token refresh and key publication conversations build their
topic names here, so the two cannot drift apart.
"""

from __future__ import annotations

__all__ = ["enroll_topic", "keys_topic", "token_topic"]


def enroll_topic(device_id: str, leaf: str) -> str:
    """``$fleet/enroll/{device_id}/{leaf}``: the enrolment conversation of one device."""
    return f"$fleet/enroll/{device_id}/{leaf}"


def token_topic(device_id: str, leaf: str) -> str:
    """``$fleet/token/{device_id}/{leaf}``: token refresh for a certificate-holding device."""
    return f"$fleet/token/{device_id}/{leaf}"


def keys_topic(device_id: str, leaf: str) -> str:
    """``$fleet/keys/{device_id}/{leaf}``: a device publishes its E2E public key (``put``)."""
    return f"$fleet/keys/{device_id}/{leaf}"
