"""The lean plain-TCP transport keeps asyncio's contract, over real loopback sockets.

Flow control (pause/resume at the water marks, bytes in order), ``close()`` draining
first and never calling ``connection_lost`` inside itself, ``abort()`` not draining,
and the peer's EOF ending the connection: each exactly once.
"""

from __future__ import annotations

import asyncio
import socket

from fleetward.broker.tcp import SocketTransport, TcpServer, start_tcp_server


class Recorder(asyncio.Protocol):
    """Notes every callback the transport makes."""

    def __init__(self) -> None:
        self.transport: SocketTransport | None = None
        self.calls: list[str] = []
        self.received = b""
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, SocketTransport)
        self.transport = transport
        self.calls.append("made")

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool | None:
        self.calls.append("eof")
        return None

    def pause_writing(self) -> None:
        self.calls.append("pause")

    def resume_writing(self) -> None:
        self.calls.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("lost")
        self.lost.set_result(exc)


async def _pair() -> tuple[TcpServer, Recorder, asyncio.StreamReader, asyncio.StreamWriter]:
    made: list[Recorder] = []

    def factory() -> Recorder:
        made.append(Recorder())
        return made[-1]

    server = await start_tcp_server(factory, "127.0.0.1", 0, backlog=16)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(200):
        if made and made[0].transport is not None:
            break
        await asyncio.sleep(0.01)
    return server, made[0], reader, writer


def test_flow_control_and_a_draining_close() -> None:
    async def run() -> None:
        server, proto, reader, writer = await _pair()
        transport = proto.transport
        assert transport is not None
        assert transport.get_extra_info("peername") == writer.get_extra_info("sockname")
        transport.set_write_buffer_limits(high=64 * 1024)
        blob = bytes(range(256)) * 4096  # 1 MiB: more than the kernel takes at once
        for _ in range(8):
            transport.write(blob)
        assert proto.calls == ["made", "pause"]
        assert transport.get_write_buffer_size() > 64 * 1024
        transport.close()  # must drain what is buffered first
        assert "lost" not in proto.calls  # never from inside close()
        data = await reader.readexactly(len(blob) * 8)
        assert data == blob * 8
        assert await reader.read() == b""  # then the connection ends
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert proto.calls == ["made", "pause", "resume", "lost"]
        writer.close()
        server.close()

    asyncio.run(run())


def test_abort_drops_the_buffer_and_ends_once() -> None:
    async def run() -> None:
        server, proto, reader, writer = await _pair()
        transport = proto.transport
        assert transport is not None
        for _ in range(8):
            transport.write(b"x" * (1 << 20))
        transport.abort()
        transport.abort()
        transport.write(b"ignored")
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert proto.calls.count("lost") == 1
        assert transport.get_write_buffer_size() == 0
        try:
            while await reader.read(1 << 20):
                pass
        except ConnectionResetError:
            pass
        writer.close()
        server.close()

    asyncio.run(run())


def test_the_peers_eof_ends_the_connection() -> None:
    async def run() -> None:
        server, proto, _reader, writer = await _pair()
        writer.write(b"hello")
        writer.write_eof()
        assert await asyncio.wait_for(proto.lost, 5) is None
        assert proto.received == b"hello"
        assert proto.calls == ["made", "eof", "lost"]
        writer.close()
        server.close()

    asyncio.run(run())


def test_a_closed_server_refuses_connections() -> None:
    async def run() -> None:
        server, _proto, _reader, writer = await _pair()
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
        writer.close()

    asyncio.run(run())


def test_reads_larger_than_the_shared_buffer_arrive_whole_and_in_order() -> None:
    """Reads share one buffer per listener; what a protocol gets is its own copy."""

    async def run() -> None:
        server, proto, _reader, writer = await _pair()
        blob = bytes(range(251)) * 20_000  # ~5 MiB, prime-sized so offsets show
        writer.write(blob)
        await writer.drain()
        for _ in range(500):
            if len(proto.received) >= len(blob):
                break
            await asyncio.sleep(0.01)
        assert proto.received == blob
        writer.close()
        assert await asyncio.wait_for(proto.lost, 5) is None
        server.close()

    asyncio.run(run())
