"""The errors of the end-to-end envelope and key directory."""

from __future__ import annotations

from fleetward.errors import FleetwardError, ReasonCode

__all__ = ["DirectoryError", "E2EError", "ReplayStateError"]


class E2EError(FleetwardError):
    """An envelope could not be opened.

    Deliberately one error with one code whatever went wrong (malformed, unknown key,
    wrong topic, tampered, replayed): a caller who can tell these apart learns which
    guess was closest. The precise reason goes only to the ``fleetward.e2e`` debug log.
    """

    code = "e2e.open_failed"
    http_status = 422
    mqtt_reason = ReasonCode.PAYLOAD_FORMAT_INVALID
    title = "Cannot open envelope"


class DirectoryError(FleetwardError):
    """A key-directory entry is malformed, forged, stale, or not for this tenant."""

    code = "e2e.directory_invalid"
    http_status = 422
    mqtt_reason = ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    title = "Invalid key-directory entry"


class ReplayStateError(FleetwardError):
    """The persisted replay state is missing, corrupt or cannot be written.

    Raised instead of starting with empty windows: an empty window would accept again
    every message accepted before the restart. Restore the file, or reset it knowingly.
    """

    code = "e2e.replay_state"
    http_status = 500
    mqtt_reason = ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    title = "Unusable replay state"
