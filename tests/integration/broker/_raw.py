"""A raw-socket MQTT client for what well-behaved libraries will not do.

Hand-built packets (no library involved): fall silent, never read, vanish without a
DISCONNECT, pipeline packets behind a CONNECT, re-send a QoS 2 PUBLISH.
"""

from __future__ import annotations

import socket
import ssl

from ._clients import HOST, TIMEOUT


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    data = s.encode() if isinstance(s, str) else s
    return len(data).to_bytes(2, "big") + data


def packet(first: int, body: bytes) -> bytes:
    """A control packet: fixed header byte, remaining length, body."""
    return bytes((first,)) + _varint(len(body)) + body


def connect_packet(
    client_id: str,
    *,
    keepalive: int,
    v5: bool = False,
    clean: bool = True,
    will: tuple[str, bytes] | None = None,
    session_expiry: int | None = None,
    receive_maximum: int | None = None,
    user: tuple[str, str] | None = None,
) -> bytes:
    """A hand-built CONNECT (no library involved)."""
    flags = (0x02 if clean else 0) | (0x04 if will else 0) | (0xC0 if user else 0)
    body = _string("MQTT") + bytes((5 if v5 else 4, flags)) + keepalive.to_bytes(2, "big")
    if v5:
        p = b"" if session_expiry is None else b"\x11" + session_expiry.to_bytes(4, "big")
        if receive_maximum is not None:
            p += b"\x21" + receive_maximum.to_bytes(2, "big")
        body += _varint(len(p)) + p
    body += _string(client_id)
    if will is not None:
        body += (b"\x00" if v5 else b"") + _string(will[0]) + _string(will[1])
    if user is not None:
        body += _string(user[0]) + _string(user[1])
    return packet(0x10, body)


def subscribe_packet(packet_id: int, topic: str, qos: int, *, v5: bool = False) -> bytes:
    """A hand-built SUBSCRIBE for one filter."""
    return packet(
        0x82,
        packet_id.to_bytes(2, "big") + (b"\x00" if v5 else b"") + _string(topic) + bytes((qos,)),
    )


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    """Read one whole packet: (first byte, body)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    first = exactly(1)[0]
    length, shift = 0, 0
    while True:
        b = exactly(1)[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return first, exactly(length)


def raw_client(
    port: int,
    client_id: str,
    *,
    keepalive: int,
    v5: bool = False,
    will: tuple[str, bytes] | None = None,
    rcvbuf: int | None = None,
    tls: ssl.SSLContext | None = None,
    clean: bool = True,
    session_expiry: int | None = None,
    receive_maximum: int | None = None,
) -> socket.socket:
    """Connect a raw socket, send CONNECT, read an accepting CONNACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect((HOST, port))
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname=HOST)
    sock.sendall(
        connect_packet(
            client_id,
            keepalive=keepalive,
            v5=v5,
            will=will,
            clean=clean,
            session_expiry=session_expiry,
            receive_maximum=receive_maximum,
        )
    )
    first, body = read_packet(sock)
    assert first == 0x20, f"not a CONNACK: {first:#x}"
    assert body[1] == 0, f"CONNACK refused: {body!r}"
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> list[tuple[int, bytes]]:
    """Every packet until the broker closes the connection."""
    sock.settimeout(timeout)
    out = []
    try:
        while True:
            out.append(read_packet(sock))
    except (ConnectionError, OSError):
        return out
