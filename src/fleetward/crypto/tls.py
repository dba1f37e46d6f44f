"""TLS contexts for the hub's listeners: TLS 1.2 or newer, forward-secret AEAD suites only."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_context", "server_context"]

_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(
    cert_file: Path,
    key_file: Path,
    *,
    client_ca: Path | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server context; with ``client_ca`` it also asks for client certificates.

    Optional by default (a device may still authenticate with a token); with
    ``require_client_cert`` a handshake without a certificate chaining to ``client_ca``
    fails before any MQTT byte is read.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
    return ctx


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only ``ca_file`` (pinning the hub CA)."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
