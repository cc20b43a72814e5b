"""A Balluff BIS style HF read/write head on a pty or TCP (`hal.readers.bis` is its
driver and documents the telegrams).

Tag memory lives in a `TagStore`, keyed by tag UID, shared by every head of
a simulated line: the hang tag travels with its vehicle, so what one
station writes the next one reads. A head sees the tags `present()`-ed in
its field: a scan lists them all; a read or write goes to the tag it
addresses, error 01 if that one is not in the field. The version request
(the driver's handshake) is answered with `VERSION`, whatever the head.

Faults (`inject`), each for the next telegram(s):
- NoTag(): the next telegram finds the field empty.
- MultiTag(uids): the next telegram also finds these tags in the field.
- WriteFail(count, acknowledged): the next `count` writes are interrupted:
  only the first half of the data reaches the tag. Acknowledged (default),
  the head does not notice and only the read-back can tell; otherwise it
  answers error 02.
- Unplug(seconds): see `simulators.reader_port`.
A telegram that does not decode is answered error 04 when its command is
known, else ignored (logged), as a bad block check is.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from hal.config import BalluffRfidConfig
from hal.readers.bis import (
    BAD_TELEGRAM,
    NO_SUCH_HEAD,
    NO_TAG,
    OUT_OF_RANGE,
    TAG_FAILED,
    Ack,
    Nak,
    ReadData,
    Reply,
    Scan,
    Version,
    check_uid,
    command_of,
    decode_request,
    encode_reply,
    encode_scan_payload,
    max_body,
)
from hal.readers.framing import BlockFramer, encode_block_frame
from hal.readers.transport import ByteStream
from simulators.reader_port import SimReader, Unplug, serve_until_cancelled

__all__ = [
    "MultiTag",
    "NoTag",
    "SimRfid",
    "TagStore",
    "Unplug",
    "WriteFail",
    "run_standalone",
]

log = structlog.get_logger(__name__)

VERSION = "BIS-style processor simulator 1.0"
"""What the simulator answers to a version request."""


@dataclass(frozen=True)
class NoTag:
    pass


@dataclass(frozen=True)
class MultiTag:
    uids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.uids:
            raise ValueError("MultiTag needs at least one more tag UID")
        for uid in self.uids:
            check_uid(uid)


@dataclass(frozen=True)
class WriteFail:
    count: int = 1
    acknowledged: bool = True

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"WriteFail.count must be >= 1 (got {self.count})")


RfidFault = NoTag | MultiTag | WriteFail | Unplug


class TagStore:
    """User memory of every tag, by UID; a new tag reads as zeros."""

    def __init__(self, capacity: int = 112) -> None:
        if not 1 <= capacity <= 9999:
            raise ValueError(f"tag capacity must be 1..9999 bytes (got {capacity})")
        self.capacity = capacity
        self._tags: dict[str, bytearray] = {}

    def in_range(self, address: int, count: int) -> bool:
        return address >= 0 and count > 0 and address + count <= self.capacity

    def uids(self) -> list[str]:
        """Every tag seen so far."""
        return list(self._tags)

    def memory(self, uid: str) -> bytes:
        """The whole user memory of a tag."""
        return bytes(self._tag(uid))

    def read(self, uid: str, address: int, count: int) -> bytes:
        self._check_range(address, count)
        return bytes(self._tag(uid)[address : address + count])

    def write(self, uid: str, address: int, data: bytes) -> None:
        self._check_range(address, len(data))
        self._tag(uid)[address : address + len(data)] = data

    def _check_range(self, address: int, count: int) -> None:
        if not self.in_range(address, count):
            raise ValueError(
                f"bytes {address}..{address + count - 1} outside the tag's 0..{self.capacity - 1}"
            )

    def _tag(self, uid: str) -> bytearray:
        return self._tags.setdefault(check_uid(uid), bytearray(self.capacity))


class SimRfid(SimReader):
    """A simulated BIS style read/write head (see the module docstring)."""

    def __init__(
        self,
        config: BalluffRfidConfig,
        store: TagStore,
        *,
        pty: bool | str = False,
        listen: tuple[str, int] | None = None,
        name: str = "rfid",
    ) -> None:
        self.config = config
        self.store = store
        super().__init__(name, pty=pty, listen=listen)
        self.field: tuple[str, ...] = ()
        """UIDs of the tags in front of the head."""
        self.writes = 0
        """Write telegrams received so far."""
        self._no_tag = False
        self._extra: tuple[str, ...] = ()
        self._write_fails: list[bool] = []
        """One entry per write to interrupt: whether the head acknowledges it."""

    def present(self, uid: str | None) -> None:
        """One tag in the field (None: none)."""
        self.present_many([] if uid is None else [uid])

    def present_many(self, uids: list[str]) -> None:
        """Several tags in the field at once."""
        self.field = tuple(dict.fromkeys(check_uid(uid) for uid in uids))

    def inject(self, fault: RfidFault) -> None:
        match fault:
            case NoTag():
                self._no_tag = True
            case MultiTag(uids=uids):
                self._extra = tuple(check_uid(uid) for uid in uids)
            case WriteFail(count=count, acknowledged=acknowledged):
                self._write_fails.extend([acknowledged] * count)
            case Unplug(seconds=seconds):
                self.port.unplug(seconds)

    async def _serve(self, stream: ByteStream) -> None:
        framer = BlockFramer(max_body(self.store.capacity))
        while True:
            for body in framer.feed(await stream.read_chunk()):
                reply = self._answer(body)
                if reply is not None:
                    await stream.write(encode_block_frame(encode_reply(reply)))

    def _take_field(self) -> tuple[str, ...]:
        field = () if self._no_tag else tuple(dict.fromkeys((*self.field, *self._extra)))
        self._no_tag, self._extra = False, ()
        return field

    def _answer(self, body: bytes) -> Reply | None:
        try:
            request = decode_request(body)
        except ValueError as exc:
            command = chr(body[0]) if body else ""
            log.warning("sim_bad_telegram", sim=self.port.name, error=str(exc))
            return Nak(command, BAD_TELEGRAM) if command and command in "SLP" else None
        command = command_of(request)
        if isinstance(request, Version):
            return Ack(command, VERSION.encode("ascii"))
        if request.head != self.config.head:
            return Nak(command, NO_SUCH_HEAD)
        field = self._take_field()
        if isinstance(request, Scan):
            return Ack(command, encode_scan_payload(list(field)))
        if request.uid not in field:
            return Nak(command, NO_TAG)
        if isinstance(request, ReadData):
            if not self.store.in_range(request.address, request.count):
                return Nak(command, OUT_OF_RANGE)
            data = self.store.read(request.uid, request.address, request.count)
            return Ack(command, data.hex().upper().encode("ascii"))
        if not self.store.in_range(request.address, len(request.data)):
            return Nak(command, OUT_OF_RANGE)
        self.writes += 1
        if self._write_fails:
            half = request.data[: len(request.data) // 2]
            self.store.write(request.uid, request.address, half)
            return Ack(command, b"") if self._write_fails.pop(0) else Nak(command, TAG_FAILED)
        self.store.write(request.uid, request.address, request.data)
        return Ack(command, b"")


async def run_standalone(
    config: BalluffRfidConfig, listen: tuple[str, int] | None, pty: str | None
) -> None:
    """`station sim rfid`: serve on `listen` or on a pty linked at `pty`, until cancelled."""
    store = TagStore(config.tag_blocks * config.block_size)
    await serve_until_cancelled(SimRfid(config, store, pty=pty or False, listen=listen), "rfid")
