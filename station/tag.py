"""A vehicle's progress in the user memory of its RFID hang tag.

An ISO 15693 tag of 28 blocks of 4 bytes gives 112 bytes. Layout version 2,
all integers big-endian; bit i of a bitmask is operation i of the route (or
attribute i of the line, in declaration order):

    offset size  field
       0    2    magic b"VP"
       2    1    layout version (1)
       3    1    hold cause: 0 none, 1 rework loops used up, 2 operation failed
       4   17    VIN, ASCII
      21    4    route version
      25    8    route hash (the 16 hex characters of RouteSnapshot.hash)
      33    4    attribute bitmask (attributes that hold)
      37    8    done bitmask
      45    8    gate-passed bitmask
      53    1    operation awaiting rework (0xFF: none)
      54    1    operation the hold is about (0xFE: the rework bay, 0xFF: none)
      55   32    rework loops: a 256-bit integer, operation i's count in bits 4i..4i+3
      87    4    write sequence counter (Progress.seq)
      91   16    attributes found on the way (Progress.found): 8 slots of 2 bytes, in
                 route order, the used ones first; a slot is 0x00 0x00 when unused, else
                 byte 0: 0x80 | value << 6 | attribute index (bit 5 zero), byte 1: the
                 index of the operation that found it
     107    1    reserved, zero
     108    4    CRC-32 (zlib) of bytes 0..107

The layout holds routes of up to 64 operations (the config's bound), lines of
up to 32 attributes and 8 attributes found on the way; a loop count above 15
cannot be written.

Layout version 1 is version 2 without found attributes (bytes 91..107
reserved, zero). A progress with nothing found is written as version 1, byte
for byte what stations of version 1 wrote and read, so they keep reading every
vehicle without a found attribute; one with found attributes is version 2.
Both versions are read.

Boundary: pure encode/decode, no I/O; the RFID driver moves the bytes.
Decoding trusts nothing: length, blank tag, magic, CRC and layout version
are checked in that order, then the route (a tag written under another
route is a `RouteMismatch`, never read against the wrong one), then that
the content is a progress the route rules can reach. Anything else raises;
decoding never returns wrong progress.
"""

from __future__ import annotations

import struct
import zlib
from typing import get_args

from station.progress_check import check_progress
from station.route import (
    Found,
    Hold,
    HoldCause,
    Progress,
    RouteSnapshot,
    Violation,
    route_changed,
)
from station.vin import VinError, parse_vin

TAG_BYTES = 112
MAGIC = b"VP"
LAYOUT_VERSION = 2
"""The newest layout: what is written when something was found on the way."""
LAYOUTS = (1, 2)
"""The layouts read."""
_LOOP_BYTES = 32
MAX_FOUND = 8
_FOUND_BYTES = 2 * MAX_FOUND
_BODY = struct.Struct(f">2sBB17sI8sIQQBB{_LOOP_BYTES}sI{_FOUND_BYTES}sx")
_CRC = struct.Struct(">I")
NONE_INDEX = 0xFF
REWORK_INDEX = 0xFE
MAX_OPERATIONS = 64
MAX_ATTRIBUTES = 32
MAX_LOOPS = 15
MAX_SEQ = 0xFFFF_FFFF
_HOLD_CAUSES: tuple[HoldCause, ...] = get_args(HoldCause)
"""Hold cause codes on the tag: 1 + index in this tuple."""


class TagError(ValueError):
    """Progress that cannot be written to, or read from, a tag."""


class BlankTag(TagError):
    """A tag with nothing written (all 0x00 or all 0xFF): a new tag, fit for intake."""


class CorruptTag(TagError):
    """Tag bytes that are not a valid progress of this layout: truncated, bad CRC,
    another magic or layout version, or content the route cannot have."""


class RouteMismatch(TagError):
    """A valid tag written under another route (version or hash) than the station's."""

    def __init__(self, vin: str, tag_version: int, tag_hash: str, route: RouteSnapshot) -> None:
        self.vin = vin
        self.tag_version = tag_version
        self.tag_hash = tag_hash
        self.route_version = route.version
        self.route_hash = route.hash
        self.violation: Violation = route_changed(route, vin, tag_version, tag_hash)
        """The refusal to report (kind route_changed)."""
        super().__init__(self.violation.message)


def _bits(names: tuple[str, ...] | frozenset[str], order: list[str]) -> int:
    return sum(1 << order.index(name) for name in names)


def _names(mask: int, order: list[str]) -> list[str]:
    return [name for index, name in enumerate(order) if mask >> index & 1]


def encode(progress: Progress, route: RouteSnapshot) -> bytes:
    """The 112 bytes to write to the tag; TagError if this progress cannot be written."""
    if (progress.route_version, progress.route_hash) != (route.version, route.hash):
        raise TagError(
            f"{progress.vin}: progress is for route v{progress.route_version} "
            f"#{progress.route_hash}, not {route.label}"
        )
    if len(route.operations) > MAX_OPERATIONS or len(route.attributes) > MAX_ATTRIBUTES:
        raise TagError(
            f"route {route.line} has {len(route.operations)} operations and "
            f"{len(route.attributes)} attributes; the tag holds {MAX_OPERATIONS} and "
            f"{MAX_ATTRIBUTES}"
        )
    if not 0 <= progress.seq <= MAX_SEQ:
        raise TagError(f"{progress.vin}: write counter {progress.seq} is outside 0..{MAX_SEQ}")
    names = route.names()
    loops = 0
    for name, count in progress.rework_loops:
        if not 0 <= count <= MAX_LOOPS:
            raise TagError(f"{progress.vin}: {count} rework loops at {name}; the tag holds 0..15")
        loops |= count << (4 * route.index(name))
    hold_cause, hold_index = 0, NONE_INDEX
    if progress.on_hold is not None:
        hold_cause = 1 + _HOLD_CAUSES.index(progress.on_hold.cause)
        hold_op = progress.on_hold.operation
        hold_index = REWORK_INDEX if hold_op == route.rework.operation else route.index(hold_op)
    failed = NONE_INDEX if progress.failed_gate is None else route.index(progress.failed_gate)
    body = _BODY.pack(
        MAGIC,
        LAYOUT_VERSION if progress.found else 1,
        hold_cause,
        progress.vin.encode("ascii"),
        route.version,
        bytes.fromhex(route.hash),
        _bits(progress.attributes, list(route.attributes)),
        _bits(progress.done, names),
        _bits(progress.gates_passed, names),
        failed,
        hold_index,
        loops.to_bytes(_LOOP_BYTES),
        progress.seq,
        _found_bytes(progress, route),
    )
    return body + _CRC.pack(zlib.crc32(body))


def _found_bytes(progress: Progress, route: RouteSnapshot) -> bytes:
    if len(progress.found) > MAX_FOUND:
        raise TagError(
            f"{progress.vin}: {len(progress.found)} attributes found on the way; "
            f"the tag holds {MAX_FOUND}"
        )
    slots = b"".join(
        bytes(
            (
                0x80 | entry.value << 6 | route.attributes.index(entry.attribute),
                route.index(entry.operation),
            )
        )
        for entry in progress.found
    )
    return slots.ljust(_FOUND_BYTES, b"\0")


def _found(route: RouteSnapshot, vin: str, layout: int, raw: bytes) -> tuple[Found, ...]:
    """The found attributes of the slots (none in layout 1, where the bytes are reserved)."""
    if layout == 1:
        if raw != bytes(_FOUND_BYTES):
            raise CorruptTag(f"{vin}: reserved bytes are not zero")
        return ()
    slots = [raw[i : i + 2] for i in range(0, _FOUND_BYTES, 2)]
    used = [slot for slot in slots if slot != b"\0\0"]
    if not used or slots[: len(used)] != used:
        raise CorruptTag(f"{vin}: layout 2 with found-attribute slots empty or out of place")
    entries = []
    for head, index in used:
        attribute = head & 0x3F
        if not head & 0x80 or attribute >= len(route.attributes) or index >= len(route.operations):
            raise CorruptTag(f"{vin}: found-attribute slot {head:02X} {index:02X} is not valid")
        entries.append(Found(route.attributes[attribute], bool(head & 0x40), route.names()[index]))
    return tuple(entries)


def decode(data: bytes, route: RouteSnapshot) -> Progress:
    """The progress on a tag read at a station running `route`.

    Raises BlankTag, CorruptTag or RouteMismatch; never returns wrong progress.
    """
    if len(data) != TAG_BYTES:
        raise CorruptTag(f"tag data is {len(data)} bytes, expected {TAG_BYTES} (truncated?)")
    if data in (bytes(TAG_BYTES), b"\xff" * TAG_BYTES):
        raise BlankTag(f"blank tag (all 0x{data[0]:02X}): no progress written yet")
    body, (stored_crc,) = data[: _BODY.size], _CRC.unpack(data[_BODY.size :])
    (magic, layout, hold_cause, raw_vin, version, raw_hash, attribute_mask, done_mask, gate_mask,
     failed, hold_index, raw_loops, seq, raw_found) = _BODY.unpack(body)  # fmt: skip
    if magic != MAGIC:
        raise CorruptTag(f"not a progress tag: magic {magic!r}, expected {MAGIC!r}")
    computed = zlib.crc32(body)
    if stored_crc != computed:
        raise CorruptTag(f"CRC-32 mismatch: stored {stored_crc:08X}, computed {computed:08X}")
    if layout not in LAYOUTS:
        readable = " and ".join(map(str, LAYOUTS))
        raise CorruptTag(f"foreign layout version {layout}: this station reads {readable}")
    try:
        vin = parse_vin(raw_vin.decode("ascii")).value
    except (UnicodeDecodeError, VinError) as exc:
        raise CorruptTag(f"tag VIN {raw_vin!r} is not a valid VIN: {exc}") from exc
    if (version, raw_hash.hex()) != (route.version, route.hash):
        raise RouteMismatch(vin, version, raw_hash.hex(), route)
    names = route.names()
    operations = len(names)
    loops = int.from_bytes(raw_loops)
    beyond = {
        "attribute": attribute_mask >> len(route.attributes),
        "done": done_mask >> operations,
        "gate-passed": gate_mask >> operations,
        "rework-loop": loops >> (4 * operations),
    }
    for field, extra in beyond.items():
        if extra:
            raise CorruptTag(f"{vin}: {field} bits set beyond the route's size")
    if body[-1]:
        raise CorruptTag(f"{vin}: reserved bytes are not zero")
    progress = Progress(
        vin=vin,
        route_version=version,
        route_hash=route.hash,
        attributes=frozenset(_names(attribute_mask, list(route.attributes))),
        done=tuple(_names(done_mask, names)),
        gates_passed=tuple(_names(gate_mask, names)),
        failed_gate=_operation_at(route, failed),
        rework_loops=tuple(
            (name, count)
            for index, name in enumerate(names)
            if (count := loops >> (4 * index) & 0xF)
        ),
        on_hold=_hold(route, hold_cause, hold_index),
        found=_found(route, vin, layout, raw_found),
        seq=seq,
    )
    problems = check_progress(route, progress)
    if problems:
        raise CorruptTag(f"{vin}: progress the route cannot reach: {'; '.join(problems)}")
    return progress


def _operation_at(route: RouteSnapshot, index: int) -> str | None:
    if index == NONE_INDEX:
        return None
    if index == REWORK_INDEX:
        return route.rework.operation
    if index >= len(route.operations):
        raise CorruptTag(f"operation index {index} beyond the route's {len(route.operations)}")
    return route.operations[index].operation


def _hold(route: RouteSnapshot, cause: int, index: int) -> Hold | None:
    operation = _operation_at(route, index)
    if cause == 0 and operation is None:
        return None
    if not 1 <= cause <= len(_HOLD_CAUSES) or operation is None:
        raise CorruptTag(f"hold cause {cause} with operation index {index} is not a valid hold")
    return Hold(_HOLD_CAUSES[cause - 1], operation)
