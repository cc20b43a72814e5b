"""HF RFID read/write head with a Balluff BIS style protocol, over serial or TCP.

Modelled on the BIS processors' serial protocol (ASCII telegrams, control
characters, an XOR block check, ACK/NAK with an error number, decimal
start address and byte count), made self-delimiting so that a framer can
resynchronise after noise (real BIS data telegrams rely on the length of
the request instead), and addressed by tag UID (ISO 15693 addressed mode) so
that a write and its read-back go to the same tag. The exact format:

    telegram = STX body ETX BCC          BCC = XOR of the body bytes and ETX

    request bodies (host -> head), ASCII:
      version 'V'                         the processor's, whatever the head
      scan    'S' h                       h: head number '1'..'4'
      read    'L' h UID aaaa nnnn         UID: 16 upper-case hex digits
      write   'P' h UID aaaa nnnn DD..    aaaa: start byte address, decimal
                                          nnnn: byte count 1..9999, decimal
                                          DD..: 2 x nnnn upper-case hex digits
    reply bodies (head -> host):
      ACK c payload                      ACK = 0x06, c = the request's command
        version: text                    model and firmware, printable ASCII
        scan:  nn UID1 UID2 ...          nn: tags in the field, 2 decimal digits
        read:  DD..                      the bytes read, hex
        write: (nothing)
      NAK c ee                           NAK = 0x15, ee: error number, 2 digits

    error numbers: 01 no tag (or not this UID) in the field, 02 tag read or
    write failed, 03 address out of the tag's range, 04 bad telegram,
    05 no such head.

A telegram with a bad block check is dropped by the framer and not
answered; the host times out and repeats the request up to
`link.retries` times (every request is idempotent).

Handshake: when the port opens the driver asks the version ('V'); the link is
up only once an ACK to it came, in a telegram whose block check holds
(`hal.readers.transport`). The version belongs to the processor, not to a
head, so a head number the processor lacks is still refused per request
(error 05), with the link up.

Driver: every read and write first scans: no tag is ReaderError, several
tags AmbiguousRead (never pick one); the read or write is then addressed to
the one UID seen, so a neighbour's tag entering the field meanwhile cannot
take it. A write is read back and compared; a mismatch or error 02 is
retried up to `write_attempts` writes in all, then WriteNotVerified. One
request at a time (a lock held for a whole write-and-verify); replies to
another command (late ones) are dropped.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import structlog

from hal.config import BalluffRfidConfig
from hal.errors import AmbiguousRead, ReaderError, RequestTimeout, WriteNotVerified
from hal.readers.framing import BlockFramer, encode_block_frame
from hal.readers.transport import Handshake, ReaderDevice, ReaderPort

log = structlog.get_logger(__name__)

ACK = 0x06
NAK = 0x15

NO_TAG = 1
TAG_FAILED = 2
OUT_OF_RANGE = 3
BAD_TELEGRAM = 4
NO_SUCH_HEAD = 5
ERROR_TEXT = {
    NO_TAG: "no tag in the field",
    TAG_FAILED: "tag read/write failed",
    OUT_OF_RANGE: "address out of the tag's range",
    BAD_TELEGRAM: "bad telegram",
    NO_SUCH_HEAD: "no such head",
}

MAX_TAGS = 99
"""Tags a scan reply can list (two digits)."""
UID_DIGITS = 16
MAX_BYTES = 9999
"""Largest byte count of one read or write (four digits)."""

_UID = re.compile(r"[0-9A-F]{16}")
_HEX = re.compile(rb"(?:[0-9A-F]{2})*")


def check_uid(uid: str) -> str:
    """A tag UID: 16 hex digits, returned upper case; ValueError otherwise."""
    upper = uid.upper()
    if not _UID.fullmatch(upper):
        raise ValueError(f"a tag UID is 16 hex digits (got {uid!r})")
    return upper


@dataclass(frozen=True)
class Version:
    pass


@dataclass(frozen=True)
class Scan:
    head: int


@dataclass(frozen=True)
class ReadData:
    head: int
    uid: str
    address: int
    count: int


@dataclass(frozen=True)
class WriteData:
    head: int
    uid: str
    address: int
    data: bytes


Request = Version | Scan | ReadData | WriteData


@dataclass(frozen=True)
class Ack:
    command: str
    payload: bytes


@dataclass(frozen=True)
class Nak:
    command: str
    error: int


Reply = Ack | Nak


def command_of(request: Request) -> str:
    return {Version: "V", Scan: "S", ReadData: "L", WriteData: "P"}[type(request)]


def _decimal(field: bytes, what: str, low: int, high: int) -> int:
    if not field.isdigit():
        raise ValueError(f"{what}: expected decimal digits (got {field!r})")
    value = int(field)
    if not low <= value <= high:
        raise ValueError(f"{what}: must be {low}..{high} (got {value})")
    return value


def _hex_data(field: bytes, what: str) -> bytes:
    if not _HEX.fullmatch(field):
        raise ValueError(f"{what}: expected pairs of upper-case hex digits (got {field[:40]!r})")
    return bytes.fromhex(field.decode("ascii"))


def encode_request(request: Request) -> bytes:
    """The telegram body of a request."""
    match request:
        case Version():
            text = "V"
        case Scan(head=head):
            text = f"S{head:d}"
        case ReadData(head=head, uid=uid, address=address, count=count):
            text = f"L{head:d}{check_uid(uid)}{address:04d}{count:04d}"
        case WriteData(head=head, uid=uid, address=address, data=data):
            text = f"P{head:d}{check_uid(uid)}{address:04d}{len(data):04d}{data.hex().upper()}"
    return text.encode("ascii")


def decode_request(body: bytes) -> Request:
    """A request from its telegram body; ValueError naming the faulty field."""
    if body == b"V":
        return Version()
    if len(body) < 2:
        raise ValueError(f"request too short: {body!r}")
    command, head = chr(body[0]), _decimal(body[1:2], "head", 1, 4)
    if command == "S" and len(body) == 2:
        return Scan(head)
    if command not in "LP" or len(body) < 26:
        raise ValueError(f"not a scan, read or write request: {body[:40]!r}")
    try:
        uid = check_uid(body[2:18].decode("ascii"))
    except UnicodeDecodeError:
        raise ValueError(f"UID: not ASCII: {body[2:18]!r}") from None
    address = _decimal(body[18:22], "address", 0, MAX_BYTES)
    count = _decimal(body[22:26], "count", 1, MAX_BYTES)
    if command == "L":
        if len(body) != 26:
            raise ValueError(f"read request: {len(body) - 26} bytes too many")
        return ReadData(head, uid, address, count)
    data = _hex_data(body[26:], "write data")
    if len(data) != count:
        raise ValueError(f"write request: count {count} but {len(data)} bytes of data")
    return WriteData(head, uid, address, data)


def encode_reply(reply: Reply) -> bytes:
    """The telegram body of a reply."""
    if isinstance(reply, Nak):
        return bytes([NAK]) + f"{reply.command}{reply.error:02d}".encode("ascii")
    return bytes([ACK]) + reply.command.encode("ascii") + reply.payload


def decode_reply(body: bytes) -> Reply:
    """A reply from its telegram body; ValueError naming what is wrong."""
    if len(body) < 2 or body[0] not in (ACK, NAK) or chr(body[1]) not in "VSLP":
        raise ValueError(f"not an ACK/NAK reply to V, S, L or P: {body[:40]!r}")
    command = chr(body[1])
    if body[0] == ACK:
        return Ack(command, body[2:])
    if len(body) != 4:
        raise ValueError(f"NAK: expected a 2-digit error number (got {body[2:]!r})")
    return Nak(command, _decimal(body[2:], "error number", 0, 99))


def encode_scan_payload(uids: list[str]) -> bytes:
    if len(uids) > MAX_TAGS:
        raise ValueError(f"a scan reply lists at most {MAX_TAGS} tags (got {len(uids)})")
    return f"{len(uids):02d}{''.join(check_uid(u) for u in uids)}".encode("ascii")


def decode_scan_payload(payload: bytes) -> tuple[str, ...]:
    count = _decimal(payload[:2], "tag count", 0, MAX_TAGS)
    uids = payload[2:]
    if len(uids) != count * UID_DIGITS:
        raise ValueError(f"scan reply: {count} tags but {len(uids)} UID digits")
    text = uids.decode("ascii", "replace")
    return tuple(check_uid(text[i : i + UID_DIGITS]) for i in range(0, len(text), UID_DIGITS))


def version_of(body: bytes) -> str | None:
    """The processor's version if the telegram `body` is the ACK of a version request."""
    try:
        reply = decode_reply(body)
    except ValueError:
        return None
    if isinstance(reply, Ack) and reply.command == "V" and reply.payload.isascii():
        return reply.payload.decode("ascii")
    return None


def max_body(capacity: int) -> int:
    """Longest telegram body either side sends for a tag of `capacity` bytes."""
    write_request = 2 + UID_DIGITS + 8 + 2 * capacity
    scan_reply = 4 + MAX_TAGS * UID_DIGITS
    return max(write_request, scan_reply)


class BisTagReader(ReaderDevice[bytes]):
    """A `hal.interfaces.TagReader` for a BIS style HF read/write head."""

    def __init__(self, name: str, config: BalluffRfidConfig) -> None:
        self.config = config
        self.block_size: int = config.block_size
        self.tag_blocks: int = config.tag_blocks
        self.framer = BlockFramer(max_body(config.tag_blocks * config.block_size))
        request = encode_block_frame(encode_request(Version()))
        handshake = Handshake("V", request, version_of, "a BIS processor")
        super().__init__(name, ReaderPort(name, config, self.framer, handshake))

    async def scan(self) -> tuple[str, ...]:
        async with self._lock:
            return await self._scan()

    async def read_blocks(self, first: int, count: int) -> bytes:
        self._check_range(first, count)
        async with self._lock:
            uid = await self._single_tag()
            return await self._read(uid, first, count)

    async def write_blocks(self, first: int, data: bytes) -> None:
        if not data or len(data) % self.block_size:
            raise ValueError(
                f"{self.name}: write of {len(data)} bytes: not a whole number of "
                f"{self.block_size}-byte blocks"
            )
        count = len(data) // self.block_size
        self._check_range(first, count)
        where = f"blocks {first}..{first + count - 1}"
        async with self._lock:
            uid = await self._single_tag()
            failures: list[str] = []
            for attempt in range(1, self.config.write_attempts + 1):
                request = WriteData(self.config.head, uid, first * self.block_size, data)
                reply = await self._exchange(request)
                if isinstance(reply, Nak) and reply.error == TAG_FAILED:
                    failures.append(f"attempt {attempt}: {ERROR_TEXT[TAG_FAILED]}")
                else:
                    self._accepted(reply, uid)
                    back = await self._read(uid, first, count)
                    if back == data:
                        return
                    differs = next(
                        i for i, (a, b) in enumerate(zip(back, data, strict=True)) if a != b
                    )
                    failures.append(f"attempt {attempt}: read-back differs at byte {differs}")
                log.warning("tag_write_retry", reader=self.name, uid=uid, failure=failures[-1])
        raise WriteNotVerified(
            self.name,
            f"{where} of tag {uid} not verified after {len(failures)} writes: "
            + "; ".join(failures),
        )

    def _check_range(self, first: int, count: int) -> None:
        if first < 0 or count < 1 or first + count > self.tag_blocks:
            raise ValueError(
                f"{self.name}: blocks {first}..{first + count - 1} outside the tag's "
                f"0..{self.tag_blocks - 1}"
            )

    async def _scan(self) -> tuple[str, ...]:
        ack = self._accepted(await self._exchange(Scan(self.config.head)), None)
        try:
            return decode_scan_payload(ack.payload)
        except ValueError as exc:
            raise ReaderError(self.name, f"malformed scan reply: {exc}") from None

    async def _single_tag(self) -> str:
        uids = await self._scan()
        if not uids:
            raise ReaderError(self.name, f"no tag in the field of head {self.config.head}")
        if len(uids) > 1:
            raise AmbiguousRead(self.name, list(uids))
        return uids[0]

    async def _read(self, uid: str, first: int, count: int) -> bytes:
        size = count * self.block_size
        request = ReadData(self.config.head, uid, first * self.block_size, size)
        ack = self._accepted(await self._exchange(request), uid)
        try:
            data = _hex_data(ack.payload, "read data")
        except ValueError as exc:
            raise ReaderError(self.name, f"malformed read reply: {exc}") from None
        if len(data) != size:
            raise ReaderError(self.name, f"asked {size} bytes of tag {uid}, got {len(data)}")
        return data

    def _accepted(self, reply: Reply, uid: str | None) -> Ack:
        """The ACK, or the error its NAK stands for."""
        if isinstance(reply, Ack):
            return reply
        if reply.error == NO_TAG and uid is not None:
            raise ReaderError(self.name, f"tag {uid} left the field of head {self.config.head}")
        text = ERROR_TEXT.get(reply.error, "unknown error")
        raise ReaderError(
            self.name, f"head {self.config.head} refused {reply.command}: {reply.error:02d} {text}"
        )

    async def _exchange(self, request: Request) -> Reply:
        """Send a request and take its reply, repeated after a timeout up to link.retries."""
        command = command_of(request)
        telegram = encode_block_frame(encode_request(request))
        timeout = self.config.link.request_timeout_s
        loop = asyncio.get_running_loop()
        attempts = 1 + self.config.link.retries
        for _ in range(attempts):
            self.port.check_up()
            self.port.discard_frames()
            await self.port.send(telegram, timeout)
            deadline = loop.time() + timeout
            while (body := await self.port.next_frame(deadline)) is not None:
                try:
                    reply = decode_reply(body)
                except ValueError as exc:
                    raise ReaderError(self.name, f"malformed reply to {command}: {exc}") from None
                if reply.command == command:
                    return reply
                self.port.stale_frames += 1  # a late reply to an earlier request
        raise RequestTimeout(
            self.name, f"no reply to {command} within {timeout} s ({attempts} attempts)"
        )
