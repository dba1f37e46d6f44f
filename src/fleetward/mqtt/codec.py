"""Sans-I/O MQTT codec: ``encode(packet, version) -> bytes`` and a streaming :class:`Decoder`.

The decoder is written for a broker that calls :meth:`Decoder.feed` once per socket read:

* it walks each chunk by offsets and parses every whole packet in it in one call;
* a partial packet is kept in a small buffer, and only the bytes that complete it are
  copied there, so the rest of the next chunk is parsed in place and nothing is scanned
  twice;
* the Remaining Length is checked against ``max_packet_size`` the moment the fixed header
  is readable, before any body byte is buffered (a CONNECT announcing 300 MB is refused
  at once with 0x95), so the buffer never holds more than ``max_packet_size`` bytes;
* QoS 0/1/2 PUBLISH without properties takes an inlined fast path: no generic property
  parsing and one slots object per message.
"""

from __future__ import annotations

from typing import Final

from fleetward.mqtt._read import READERS, read_publish, topic_name_error
from fleetward.mqtt._read_connect import read_connect
from fleetward.mqtt._write import WRITERS, publish_parts
from fleetward.mqtt.constants import (
    MAX_PACKET_SIZE,
    MQTT_5_0,
    PROTOCOL_NAME,
    SUPPORTED_VERSIONS,
    PacketType,
)
from fleetward.mqtt.errors import (
    LocalProtocolError,
    MalformedPacketError,
    MqttError,
    PacketTooLargeError,
    RemoteProtocolError,
)
from fleetward.mqtt.packets import Packet, Publish
from fleetward.mqtt.primitives import read_fixed_header_length, variable_byte_integer_size
from fleetward.mqtt.properties import EMPTY_PROPERTIES, Properties

__all__ = ["Decoder", "encode", "encode_publish_parts"]

_FLAGS: Final = (-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0)
"""Required low nibble per packet type (5.0 Table 2-2, MQTT-2.1.3-1; v3 MQTT-2.2.2-1).

Type 0 is reserved (no nibble matches); PUBLISH (3) has real flags, checked apart.
"""

# What a first byte means, decided once per byte value instead of per packet.
_NO_BYTES: Final = b""  # the decoder's empty pending buffer, shared by every connection
_BAD_FLAGS: Final = 0
_QOS_3: Final = 1
_DUP_QOS_0: Final = 2
_NOT_CONNECT: Final = 3
_PUBLISH: Final = 4
_CONNECT: Final = 5
_OTHER: Final = 6


def _kind(first: int) -> int:
    ptype, flags = first >> 4, first & 0x0F
    if ptype == PacketType.PUBLISH:
        if flags & 0x06 == 0x06:
            return _QOS_3
        if flags & 0x0E == 0x08:
            return _DUP_QOS_0
        return _PUBLISH
    if flags != _FLAGS[ptype]:
        return _BAD_FLAGS
    return _CONNECT if ptype == PacketType.CONNECT else _OTHER


_QOS: Final = tuple((first >> 1) & 0x03 for first in range(256))
_RETAIN: Final = tuple(bool(first & 0x01) for first in range(256))
_DUP: Final = tuple(bool(first & 0x08) for first in range(256))
_KINDS: Final = tuple(_kind(first) for first in range(256))
_KINDS_BEFORE_CONNECT: Final = tuple(
    kind if kind in (_CONNECT, _BAD_FLAGS) else _NOT_CONNECT for kind in _KINDS
)


def _first_byte_error(first: int, kind: int) -> RemoteProtocolError:
    if kind == _QOS_3:
        return MalformedPacketError("PUBLISH with QoS 3 (MQTT-3.3.1-4)")
    if kind == _DUP_QOS_0:
        return MalformedPacketError("DUP set on a QoS 0 PUBLISH (MQTT-3.3.1-2)")
    if kind == _NOT_CONNECT:
        return RemoteProtocolError("first packet is not CONNECT (MQTT-3.1.0-1)")
    ptype = first >> 4
    if ptype == 0:
        return MalformedPacketError("reserved packet type 0")
    return MalformedPacketError(
        f"invalid fixed header flags 0x{first & 0x0F:X} for {PacketType(ptype).name} "
        "(MQTT-2.1.3-1, v3 MQTT-2.2.2-1/2)"
    )


_CONNECT_PREFIX: Final = b"\x00\x04" + PROTOCOL_NAME.encode()


def encode(packet: Packet, version: int) -> bytes:
    """The wire bytes of ``packet`` for protocol ``version`` (4 = 3.1.1, 5 = 5.0).

    Raises :class:`LocalProtocolError` when the packet breaks a rule the peer would
    enforce; nothing partial is returned.
    """
    if version not in SUPPORTED_VERSIONS:
        raise LocalProtocolError(f"unsupported protocol version {version}")
    if type(packet) is Publish:
        head, payload = publish_parts(packet, version)
        return head + payload
    writer = WRITERS.get(type(packet))
    if writer is None:
        raise LocalProtocolError(f"{type(packet).__name__} is not an MQTT packet")
    return writer(packet, version)


def encode_publish_parts(packet: Publish, version: int) -> tuple[bytes, bytes]:
    """``(header, payload)`` of a PUBLISH: write both (``writelines``) to send it.

    The header is everything before the payload; the payload object is returned as is,
    so fanning one message out to many subscribers never copies the payload.
    """
    if version not in SUPPORTED_VERSIONS:
        raise LocalProtocolError(f"unsupported protocol version {version}")
    return publish_parts(packet, version)


PUBLISH_HEADS: Final[dict[tuple[str, int, int, int], bytes]] = {}
"""PUBLISH headers without properties, by (topic, payload size, first byte, version): the
whole header of a QoS 0 one, the part before the packet id of a QoS 1/2 one."""
_HEADS_MAX: Final = 4096


def publish_prefix(
    topic: str, payload: bytes, qos: int, retain: bool, dup: bool, version: int
) -> bytes:
    """The cached header part of a PUBLISH without properties (see :data:`PUBLISH_HEADS`).

    It depends only on the topic, the payload size, the first byte and the version, so a
    device sending same-sized telemetry to the same topic is forwarded without encoding.
    Hot paths look ``PUBLISH_HEADS`` up themselves and call this on a miss.
    """
    first = 0x30 | (qos << 1) | retain | (dup << 3)
    key = (topic, len(payload), first, version)
    head = PUBLISH_HEADS.get(key)
    if head is None:
        if qos:
            whole = encode_publish_parts(Publish(topic, payload, qos, retain, dup, 1), version)[0]
            head = whole[: len(whole) - (3 if version == MQTT_5_0 else 2)]
        else:
            head = encode_publish_parts(Publish(topic, payload, 0, retain), version)[0]
        if len(PUBLISH_HEADS) >= _HEADS_MAX:
            PUBLISH_HEADS.clear()
        PUBLISH_HEADS[key] = head
    return head


def qos0_publish_head(
    topic: str, payload: bytes, retain: bool, version: int, properties: Properties
) -> bytes:
    """Everything before the payload of a QoS 0 PUBLISH (cached when it has no properties)."""
    if properties is not EMPTY_PROPERTIES:
        return encode_publish_parts(
            Publish(topic, payload, 0, retain, False, 0, properties), version
        )[0]
    head = PUBLISH_HEADS.get((topic, len(payload), 0x30 | retain, version))
    return head if head is not None else publish_prefix(topic, payload, 0, retain, False, version)


_TOPICS: Final[dict[bytes, str]] = {}
"""Validated topic names by their wire bytes, shared by all decoders.

A hit skips UTF-8 decoding and the wildcard checks, and hands every PUBLISH on the same
topic the same ``str`` object, whose hash CPython caches for the broker's routing lookups.
Only valid names enter, keyed by their exact bytes, so the cache cannot change a result.
"""
_TOPICS_MAX_ENTRIES: Final = 4096
_TOPICS_MAX_BYTES: Final = 256


def _new_topic(raw: bytes, version: int) -> str:
    """Decode and validate a PUBLISH topic missing from the cache (MQTT-3.3.2-1/2)."""
    try:
        topic = raw.decode()
    except UnicodeDecodeError as e:
        raise MalformedPacketError("ill-formed UTF-8 topic (MQTT-1.5.4-1)") from e
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise topic_name_error(topic, version)
    if len(raw) <= _TOPICS_MAX_BYTES:
        if len(_TOPICS) >= _TOPICS_MAX_ENTRIES:
            _TOPICS.clear()
        _TOPICS[raw] = topic
    return topic


def _sniff_version(buf: bytes, body: int) -> int | None:
    """The protocol level of a CONNECT whose body has not been read, if already present."""
    if buf[body : body + 6] == _CONNECT_PREFIX and len(buf) > body + 6:
        level = buf[body + 6]
        if level in SUPPORTED_VERSIONS:
            return level
    return None


class Decoder:
    """Streaming decoder: bytes in, whole packets out.

    ``version`` is ``None`` until a CONNECT has been decoded (server side), after which it
    follows that CONNECT's protocol level; pass it explicitly on the client side. While it
    is ``None`` any packet other than CONNECT is refused (MQTT-3.1.0-1). After an error the
    decoder is spent: close the connection (MQTT-4.13.1-1, v3 MQTT-4.8.0-1).
    """

    __slots__ = ("_failed", "_max", "_need", "_pending", "version")

    def __init__(self, max_packet_size: int, version: int | None = None) -> None:
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise LocalProtocolError(f"unsupported protocol version {version}")
        self._max = 0
        self.max_packet_size = max_packet_size
        self.version = version
        self._pending: bytearray | bytes = _NO_BYTES  # a partial packet, rarely any
        self._need = 0
        self._failed = False

    @property
    def max_packet_size(self) -> int:
        """Largest whole packet accepted, fixed header included (5.0 §3.1.2.11.4)."""
        return self._max

    @max_packet_size.setter
    def max_packet_size(self, value: int) -> None:
        if not 2 <= value <= MAX_PACKET_SIZE:
            raise LocalProtocolError(f"max_packet_size {value} out of range")
        self._max = value

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete packet held between calls (never above the maximum)."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Decode every whole packet that ``data`` completes, in order.

        Raises a :class:`RemoteProtocolError` subclass whose ``reason_code`` is the MQTT 5
        answer. Packets decoded earlier in the same call are lost with it; use
        :meth:`feed_into` to keep them.
        """
        out: list[Packet] = []
        self.feed_into(data, out)
        return out

    def feed_into(self, data: bytes | bytearray | memoryview, out: list[Packet]) -> None:
        """Like :meth:`feed`, appending to ``out``; on error ``out`` keeps what came first."""
        if self._failed:
            raise LocalProtocolError("the decoder failed earlier; close the connection")
        if type(data) is not bytes:
            data = bytes(data)
        try:
            pos = 0
            if self._pending:
                pos = self._complete_pending(data, out)
                if pos < 0:
                    return
            self._parse(data, pos, out)
        except MqttError as e:
            self._failed = True
            self._pending = _NO_BYTES
            if isinstance(e, RemoteProtocolError) and e.protocol_version is None:
                e.protocol_version = self.version
            raise

    def _too_large(self, buf: bytes, body: int, total: int, ptype: int) -> PacketTooLargeError:
        version = self.version
        if ptype == PacketType.CONNECT and version is None:
            version = _sniff_version(buf, body)
        return PacketTooLargeError(
            f"packet of {total} bytes exceeds the maximum of {self._max}",
            protocol_version=version,
        )

    def _complete_pending(self, data: bytes, out: list[Packet]) -> int:
        """Finish the buffered packet from the front of ``data``; -1 if still incomplete."""
        pending = self._pending
        if not isinstance(pending, bytearray):  # called only with a partial packet held
            pending = self._pending = bytearray(pending)
        n = len(data)
        pos = 0
        if not self._need:
            while True:  # the fixed header itself was incomplete (at most 4 more bytes)
                if pos >= n:
                    return -1
                pending.append(data[pos])
                pos += 1
                header = read_fixed_header_length(bytes(pending), 1, len(pending))
                if header is not None:
                    break
            size, body = header
            total = body + size
            if total > self._max:
                peek = bytes(pending) + data[pos : pos + 7]
                raise self._too_large(peek, body, total, pending[0] >> 4)
            self._need = total
        take = self._need - len(pending)
        if n - pos < take:
            pending += memoryview(data)[pos:]
            return -1
        pending += memoryview(data)[pos : pos + take]
        buf = bytes(pending)
        self._pending = _NO_BYTES
        self._need = 0
        self._parse(buf, 0, out)
        return pos + take

    def _parse(self, buf: bytes, pos: int, out: list[Packet]) -> None:  # noqa: PLR0912, PLR0915
        """Parse whole packets from ``buf[pos:]``; keep a trailing partial packet.

        One long function on purpose: the PUBLISH fast path is inlined, with locals for
        every table, because a call per packet would cost more than the parsing.
        """
        n = len(buf)
        limit = self._max
        append = out.append
        empty = EMPTY_PROPERTIES
        publish = Publish
        topics_get = _TOPICS.get
        qos_of, retain_of, dup_of = _QOS, _RETAIN, _DUP
        version = self.version or 0  # 0: no CONNECT decoded yet
        kinds = _KINDS if version else _KINDS_BEFORE_CONNECT
        need = 0
        while pos < n:
            first = buf[pos]
            kind = kinds[first]
            if kind < _PUBLISH:
                raise _first_byte_error(first, kind)
            if pos + 1 >= n:
                break
            size = buf[pos + 1]
            if size < 0x80:
                body = pos + 2
            else:
                header = read_fixed_header_length(buf, pos + 1, n)
                if header is None:
                    break
                size, body = header
                if version == 5 and body - pos - 1 != variable_byte_integer_size(size):
                    raise MalformedPacketError("padded Remaining Length (MQTT-1.5.5-1)")
            end = body + size
            if end - pos > limit:
                raise self._too_large(buf, body, end - pos, first >> 4)
            if end > n:
                need = end - pos
                break
            if kind == 4:  # _PUBLISH; literals keep the hot loop free of global loads
                # Fast path (5.0 §3.3.2): topic, packet id, and no properties.
                if size < 2:
                    raise MalformedPacketError("PUBLISH without a topic name")
                p = body + 2 + ((buf[body] << 8) | buf[body + 1])
                if p > end:
                    raise MalformedPacketError("topic name runs past the packet")
                if first & 0x06:
                    if p + 2 > end:
                        raise MalformedPacketError("Packet Identifier runs past the packet")
                    packet_id = (buf[p] << 8) | buf[p + 1]
                    if not packet_id:
                        raise RemoteProtocolError("Packet Identifier 0 (MQTT-2.2.1-3)")
                    q = p + 2
                else:
                    packet_id = 0
                    q = p
                if version == 5:
                    if q < end and buf[q] == 0:
                        q += 1
                    else:
                        append(read_publish(first, buf, body, end, version))
                        pos = end
                        continue
                raw = buf[body + 2 : p]
                topic = topics_get(raw)
                if topic is None:
                    topic = _new_topic(raw, version)
                append(
                    publish(
                        topic,
                        buf[q:end],
                        qos_of[first],
                        retain_of[first],
                        dup_of[first],
                        packet_id,
                        empty,
                    )
                )
            elif kind == _CONNECT:
                padded = int(body - pos - 1 != variable_byte_integer_size(size))
                connect = read_connect(first, buf, body, end, padded)
                if not version:
                    version = self.version = connect.protocol_version
                    kinds = _KINDS
                append(connect)
            else:
                append(READERS[first >> 4](first, buf, body, end, version))
            pos = end
        if pos < n:
            self._pending = bytearray(memoryview(buf)[pos:])
            self._need = need
