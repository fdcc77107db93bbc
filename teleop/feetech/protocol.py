"""Feetech's serial protocol 0 (the STS/SMS series): packet layout, checksum and signed values.

Packets (all multi-byte fields little-endian, checksum = ~(sum of the bytes after the header) & 0xFF)::

    instruction: 0xFF 0xFF  id  length  instruction  params...  checksum     length = len(params) + 2
    status:      0xFF 0xFF  id  length  error        params...  checksum     length = len(params) + 2
"""

from __future__ import annotations

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
"""Instructions to this id reach every servo; only a ping to it is answered (by every servo)."""

PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
INSTRUCTION_NAMES: dict[int, str] = {
    PING: "ping",
    READ: "read",
    WRITE: "write",
    SYNC_READ: "sync_read",
    SYNC_WRITE: "sync_write",
}
"""The instructions the emulator serves, by code."""


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    """Feetech's signed encoding: magnitude in the bits below ``sign_bit``, sign in ``sign_bit``."""
    magnitude = abs(value)
    if magnitude >= 1 << sign_bit:
        raise ValueError(f"{value} does not fit a sign-magnitude field with its sign in bit {sign_bit}")
    return magnitude | ((value < 0) << sign_bit)


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    """Inverse of ``encode_sign_magnitude``."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw >> sign_bit & 1 else magnitude


def checksum(body: bytes | bytearray) -> int:
    """Feetech checksum of the bytes between the 0xFF 0xFF header and the checksum byte."""
    return ~sum(body) & 0xFF


def instruction_packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """Encode an instruction packet (what a host sends), e.g. to talk to the emulator with raw pyserial."""
    body = bytes([servo_id, len(params) + 2, instruction]) + params
    return HEADER + body + bytes([checksum(body)])


def status_packet(servo_id: int, params: bytes = b"", error: int = 0, corrupt: bool = False) -> bytes:
    """Encode a status packet (a servo's answer); ``corrupt`` spoils its checksum, as line noise would."""
    body = bytes([servo_id, len(params) + 2, error]) + params
    return HEADER + body + bytes([checksum(body) ^ (0xFF if corrupt else 0)])


def split_packets(buffer: bytearray) -> tuple[list[bytes], int]:
    """Take the complete packets out of ``buffer``, dropping noise before a header.

    Returns:
        The well-formed packets in order, and how many complete packets were dropped for a bad length or
        checksum. An incomplete packet at the end stays in ``buffer`` for the next call.
    """
    packets: list[bytes] = []
    dropped = 0
    while True:
        start = buffer.find(HEADER)
        if start < 0:
            # Keep a trailing 0xFF: it may be the first half of the next header.
            del buffer[: max(len(buffer) - 1, 0)]
            return packets, dropped
        # Skip repeated 0xFF so the id byte is the first one that is not a header byte.
        while start + 2 < len(buffer) and buffer[start + 2] == 0xFF:
            start += 1
        del buffer[:start]
        if len(buffer) < 4:
            return packets, dropped
        end = 4 + buffer[3]
        if len(buffer) < end:
            return packets, dropped
        packet = bytes(buffer[:end])
        del buffer[:end]
        if packet[3] < 2 or packet[-1] != checksum(packet[2:-1]):
            dropped += 1
            continue
        packets.append(packet)
