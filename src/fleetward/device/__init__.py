"""The device SDK: enrol, connect outbound, publish, receive commands, survive outages.

Built on aiomqtt (paho underneath), it only ever dials out to the hub over TLS with the
hub CA pinned; it never listens on a port. :mod:`.backoff` and :mod:`.queue` are pure;
:mod:`.simulator` runs a fleet of SDK devices for demonstrations and tests.
"""

from fleetward.device.backoff import Backoff, BackoffPolicy
from fleetward.device.client import CommandHandler, DeviceClient, quiet_closed_socket_races
from fleetward.device.credentials import CredentialStore, Endpoint, Token
from fleetward.device.enroll import EnrollmentRefusedError, enroll
from fleetward.device.queue import OfflineQueue, Outgoing
from fleetward.device.sealed import SealedChannel, SealedHandler
from fleetward.device.tokens import TokenRefreshError, fetch_token, refresh_delay

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "CommandHandler",
    "CredentialStore",
    "DeviceClient",
    "Endpoint",
    "EnrollmentRefusedError",
    "OfflineQueue",
    "Outgoing",
    "SealedChannel",
    "SealedHandler",
    "Token",
    "TokenRefreshError",
    "enroll",
    "fetch_token",
    "quiet_closed_socket_races",
    "refresh_delay",
]
