"""Plain TCP listeners with a lean socket transport, for loops that offer ``add_reader``.

asyncio's own server path costs a task, a future and four loop callbacks per accepted
socket, and its transport keeps ~1 KiB of per-connection state (an ``extra`` dict with
both addresses, a socket wrapper, a weak reference, an empty buffer, bound methods).
A broker accepting thousands of short connections a second and holding tens of
thousands of idle ones pays that on every one. This transport does the same job with
the loop's public ``add_reader``/``add_writer`` and a handful of slots: the accepted
socket is wrapped and handed to its protocol in the accept callback itself, reads land
in one buffer per listener (only the bytes read are copied out), sends go straight to
the socket, and a write buffer exists only while the kernel refuses bytes.

It keeps asyncio's contract where the broker relies on it: ``connection_lost`` is
called exactly once, from the loop and never inside ``close()``; ``close()`` lets the
buffer drain first, ``abort()`` does not; ``pause_writing``/``resume_writing`` follow the
high/low water marks. TLS listeners stay on asyncio's SSL transport.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["SocketTransport", "TcpServer", "start_tcp_server"]

log = logging.getLogger("fleetward.broker")

_READ_SIZE = 256 * 1024  # the most one read takes, as asyncio's socket transport
_ACCEPT_BATCH = 256  # sockets accepted per readiness event, so a burst drains quickly
_ACCEPT_PAUSE = 1.0  # seconds to stop accepting when out of file descriptors
_DEFAULT_HIGH = 64 * 1024
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class SocketTransport(asyncio.Transport):
    """One accepted, non-blocking TCP socket; see the module docstring."""

    __slots__ = (
        "_buffer",
        "_closing",
        "_high",
        "_loop",
        "_lost",
        "_low",
        "_paused",
        "_peer",
        "_protocol",
        "_rbuf",
        "_reading",
        "_sock",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.Protocol,
        peer: object,
        read_buffer: memoryview,
    ) -> None:
        # no super().__init__(): the base class would allocate an ``extra`` dict
        self._loop = loop
        self._rbuf = read_buffer  # shared by the listener's connections (one loop thread)
        self._sock = sock
        self._protocol = protocol
        self._peer = peer
        self._buffer: bytearray | None = None  # only while the kernel refuses bytes
        self._closing = False
        self._lost = False  # connection_lost is scheduled or done
        self._reading = True
        self._paused = False  # the protocol was told pause_writing
        self._high = _DEFAULT_HIGH
        self._low: int | None = None  # None: a quarter of ``_high``
        protocol.connection_made(self)
        if self._reading and not self._closing:
            loop.add_reader(sock.fileno(), self._read_ready)

    # -- reading ---------------------------------------------------------------------------

    def _read_ready(self) -> None:
        view = self._rbuf
        try:
            size = self._sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc)
            return
        if not size:
            self._eof_received()
            return
        data = bytes(view[:size])
        try:
            self._protocol.data_received(data)
        except Exception as exc:  # a protocol bug ends this connection, not the loop
            log.exception("data_received failed; closing the connection")
            self._force_close(exc)

    def _eof_received(self) -> None:
        if self._protocol.eof_received():
            self.pause_reading()  # half-closed: the protocol may still write
        else:
            self.close()

    def is_reading(self) -> bool:
        """Whether the transport is receiving."""
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        """Stop calling ``data_received`` until :meth:`resume_reading`."""
        if self._closing or not self._reading:
            return
        self._reading = False
        self._loop.remove_reader(self._sock.fileno())

    def resume_reading(self) -> None:
        """Resume calling ``data_received``."""
        if self._closing or self._reading:
            return
        self._reading = True
        self._loop.add_reader(self._sock.fileno(), self._read_ready)

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` now, or buffer what the kernel does not take yet."""
        if not data or self._lost:
            return
        buffer = self._buffer
        if buffer is not None:
            buffer += data
        else:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fatal_error(exc)
                return
            if sent == len(data):
                return
            self._buffer = bytearray(memoryview(data)[sent:])
            self._loop.add_writer(self._sock.fileno(), self._write_ready)
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        buffer = self._buffer
        if buffer is None:
            return
        try:
            sent = self._sock.send(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc)
            return
        del buffer[:sent]
        self._maybe_resume_protocol()
        if not buffer:
            self._buffer = None
            self._loop.remove_writer(self._sock.fileno())
            if self._closing and not self._lost:
                self._lost = True
                self._call_connection_lost(None)

    def writelines(self, list_of_data: Any) -> None:
        """Write each buffer in turn (joined first, one send)."""
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        """Half-closing is not offered (MQTT never needs it)."""
        return False

    def get_write_buffer_size(self) -> int:
        """Bytes accepted but not yet taken by the kernel."""
        return len(self._buffer) if self._buffer is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The (low, high) water marks."""
        return (self._high // 4 if self._low is None else self._low), self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Water marks for ``pause_writing``/``resume_writing`` (asyncio's defaults)."""
        if high is None:
            high = _DEFAULT_HIGH if low is None else 4 * low
        if low is not None and not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if not self._paused and self.get_write_buffer_size() > self._high:
            self._paused = True
            try:
                self._protocol.pause_writing()
            except Exception:
                log.exception("pause_writing failed")

    def _maybe_resume_protocol(self) -> None:
        if self._paused and self.get_write_buffer_size() <= self.get_write_buffer_limits()[0]:
            self._paused = False
            try:
                self._protocol.resume_writing()
            except Exception:
                log.exception("resume_writing failed")

    # -- closing ---------------------------------------------------------------------------

    def is_closing(self) -> bool:
        """Whether :meth:`close` or :meth:`abort` was called (or the peer went away)."""
        return self._closing

    def close(self) -> None:
        """Stop reading; end the connection once the buffer has drained."""
        if self._closing:
            return
        self._closing = True
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
        if self._buffer is None and not self._lost:
            self._lost = True
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        """End the connection now, dropping whatever is buffered."""
        self._force_close(None)

    def _fatal_error(self, exc: Exception) -> None:
        if not isinstance(exc, OSError):
            log.error("socket transport error", exc_info=exc)
        self._force_close(exc)

    def _force_close(self, exc: Exception | None) -> None:
        if self._lost:
            return
        fd = self._sock.fileno()
        if self._buffer is not None:
            self._buffer = None
            self._loop.remove_writer(fd)
        if not self._closing:
            self._closing = True
            if self._reading:
                self._loop.remove_reader(fd)
        self._lost = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            sock = self._sock
            if self._buffer is not None:  # a drained close leaves none; be sure anyway
                self._buffer = None
                self._loop.remove_writer(sock.fileno())
            sock.close()

    # -- the rest of the Transport interface -----------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername``, ``sockname`` and ``socket``; anything else is ``default``."""
        if name == "peername":
            return self._peer
        if name == "sockname":
            try:
                return self._sock.getsockname()
            except OSError:
                return default
        if name == "socket":
            return self._sock
        return default

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol fed by this transport."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Feed another protocol from now on."""
        self._protocol = protocol  # type: ignore[assignment]


class TcpServer:
    """Listening sockets whose accepted connections get a :class:`SocketTransport`."""

    __slots__ = ("_factory", "_loop", "_paused", "_rbuf", "sockets")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        factory: Callable[[], asyncio.Protocol],
    ) -> None:
        self._loop = loop
        self._factory = factory
        self._paused = False
        # Every read lands here and only its bytes are copied out: ``recv(256 KiB)``
        # would allocate (mmap) a fresh 256 KiB block per read and shrink it, ~10 us
        # and three system calls for a 2-byte DISCONNECT.
        self._rbuf = memoryview(bytearray(_READ_SIZE))
        self.sockets = sockets
        for sock in sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    # out of descriptors: stop accepting for a moment instead of spinning
                    log.warning("accept failed (%s): pausing for %.0f s", exc, _ACCEPT_PAUSE)
                    self._pause()
                    return
                continue  # the peer gave up before we accepted (ECONNABORTED and kin)
            if type(peer) is tuple:
                # one string per client host, not per connection (a fleet behind NAT,
                # a gateway's children): ~60 bytes saved for each idle client
                peer = (sys.intern(peer[0]), *peer[1:])
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                SocketTransport(self._loop, sock, self._factory(), peer, self._rbuf)
            except OSError:
                sock.close()  # reset while we set it up
            except Exception:
                log.exception("cannot set up an accepted connection")
                sock.close()

    def _pause(self) -> None:
        if self._paused:
            return
        self._paused = True
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        self._loop.call_later(_ACCEPT_PAUSE, self._resume)

    def _resume(self) -> None:
        if not self._paused or not self.sockets:
            return
        self._paused = False
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        """Stop accepting (live connections are the broker's to close)."""
        for sock in self.sockets:
            if not self._paused:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets = []

    async def wait_closed(self) -> None:
        """Closing is immediate."""


async def start_tcp_server(
    factory: Callable[[], asyncio.Protocol], host: str, port: int, *, backlog: int
) -> TcpServer:
    """Bind ``host:port`` (every address it resolves to) and start accepting.

    Raises :class:`OSError` when an address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return TcpServer(loop, sockets, factory)
