"""The progress on the tag: round-trips, fits in 112 bytes, and is never misread.

Progress values come from random journeys through the route rules
(tests/route_strategies.py), so every reachable progress of any route is a
candidate. Corruption is judged by the error class: a changed, truncated,
blank or foreign tag raises, and never yields a progress.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from route_strategies import CONFIG_LINES, drive, journeys

from station.route import Found, Progress, RouteSnapshot, complete, find, intake
from station.tag import (
    MAX_FOUND,
    TAG_BYTES,
    BlankTag,
    CorruptTag,
    RouteMismatch,
    TagError,
    decode,
    encode,
)

PROPERTY = settings(max_examples=200, deadline=None)
ROUTE = RouteSnapshot.from_line(next(line for line in CONFIG_LINES if line.line == "line-1"))
VIN = "WVWZZZ1JZXW000001"


@st.composite
def reachable(draw: st.DrawFn) -> tuple[RouteSnapshot, Progress]:
    """A route and a progress the rules reach on it, with any write counter."""
    route, vin, attributes, presentations = draw(journeys)
    progress = intake(route, vin, attributes)
    for event in drive(route, vin, attributes, presentations):
        progress = event.after or progress
    assume(len(progress.found) <= MAX_FOUND)
    return route, Progress(**{**progress.__dict__, "seq": draw(st.integers(0, 2**32 - 1))})


def line1_vehicle() -> Progress:
    """An EV of line 1 that failed technical control once, reworked, now held at it."""
    progress = intake(ROUTE, VIN, ["ev"])
    for operation in ["intake", "diagnosis", "electromechanics", "cleaning"]:
        progress = complete(ROUTE, progress, operation, "passed")
    for outcome in ["failed", "rework", "failed", "rework", "failed"]:
        operation = "rework" if outcome == "rework" else "technical-control"
        progress = complete(
            ROUTE, progress, operation, "passed" if outcome == "rework" else outcome
        )
    return progress.next_write()


LINE1_VEHICLE_V1 = bytes.fromhex(
    "565001015756575a5a5a314a5a5857303030303031000000013c260500575334b20000000100000000000000"
    "17000000000000000005050000000000000000000000000000000000000000000000000000000000200000"
    "00000001000000000000000000000000000000000027dc2a11"
)
"""`line1_vehicle()` as layout version 1 wrote it (the encoder before found attributes),
with line 1's route hash since parallel stations (stations left out of the hash)."""


def resealed(data: bytes, offset: int, value: bytes) -> bytes:
    """The tag with `value` written at `offset` and a CRC made to match: a valid
    frame with content only the route checks can refuse."""
    body = data[:offset] + value + data[offset + len(value) : TAG_BYTES - 4]
    return body + struct.pack(">I", zlib.crc32(body))


def test_layout_is_28_blocks_of_4_bytes() -> None:
    assert TAG_BYTES == 28 * 4
    assert len(encode(line1_vehicle(), ROUTE)) == TAG_BYTES


@PROPERTY
@given(reachable())
def test_encode_decode_round_trips_any_reachable_progress(
    case: tuple[RouteSnapshot, Progress],
) -> None:
    route, progress = case
    data = encode(progress, route)
    assert len(data) == TAG_BYTES
    assert decode(data, route) == progress


@PROPERTY
@given(reachable(), st.integers(0, TAG_BYTES - 1), st.integers(1, 255))
def test_any_single_corrupted_byte_is_detected(
    case: tuple[RouteSnapshot, Progress], position: int, flip: int
) -> None:
    route, progress = case
    data = bytearray(encode(progress, route))
    data[position] ^= flip
    with pytest.raises(CorruptTag):
        decode(bytes(data), route)


def test_every_single_byte_corruption_of_a_held_vehicle_is_detected() -> None:
    progress = line1_vehicle()
    assert progress.on_hold is not None
    data = encode(progress, ROUTE)
    for position in range(TAG_BYTES):
        for flip in range(1, 256):
            corrupted = bytearray(data)
            corrupted[position] ^= flip
            with pytest.raises(CorruptTag):
                decode(bytes(corrupted), ROUTE)


@pytest.mark.parametrize("length", [0, 4, 56, TAG_BYTES - 1, TAG_BYTES + 1])
def test_truncated_or_overlong_data_is_corrupt(length: int) -> None:
    data = (encode(line1_vehicle(), ROUTE) * 2)[:length]
    with pytest.raises(CorruptTag, match=f"tag data is {length} bytes, expected 112"):
        decode(data, ROUTE)


@pytest.mark.parametrize(("fill", "shown"), [(0x00, "00"), (0xFF, "FF")])
def test_a_blank_tag_is_told_apart_from_a_corrupt_one(fill: int, shown: str) -> None:
    with pytest.raises(BlankTag, match=f"blank tag \\(all 0x{shown}\\): no progress written yet"):
        decode(bytes([fill]) * TAG_BYTES, ROUTE)


def test_a_tag_written_under_another_route_is_a_route_mismatch_with_both_versions() -> None:
    data = encode(line1_vehicle(), ROUTE)
    line = next(line for line in CONFIG_LINES if line.line == "line-1")
    edited = RouteSnapshot.from_line(
        line.model_copy(update={"route": line.route.model_copy(update={"version": 2})})
    )
    with pytest.raises(RouteMismatch) as caught:
        decode(data, edited)
    mismatch = caught.value
    assert (mismatch.vin, mismatch.tag_version, mismatch.route_version) == (VIN, 1, 2)
    assert (mismatch.tag_hash, mismatch.route_hash) == (ROUTE.hash, edited.hash)
    violation = mismatch.violation
    assert (violation.kind, violation.expected, violation.found) == (
        "route_changed",
        f"v1 #{ROUTE.hash}",
        f"v2 #{edited.hash}",
    )
    assert str(mismatch) == violation.message


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (2, b"\x03", "foreign layout version 3: this station reads 1 and 2"),
        (2, b"\x02", "layout 2 with found-attribute slots empty or out of place"),
        (4, b"WVWZZZ1JZXW00000O", "not a valid VIN: .*letter 'O' at position 17"),
        (4, b"1M8GDM9A0KP042788", "check digit at position 9 is '0', expected 'X'"),
        (33, b"\x00\x00\x00\x04", "attribute bits set beyond the route's size"),
        (37, b"\x00\x00\x00\x00\x00\x00\x04\x0f", "done bits set beyond"),
        (37, b"\x00\x00\x00\x00\x00\x00\x00\x15", "done intake, electromechanics, cleaning is not"),
        (45, b"\x00\x00\x00\x00\x00\x00\x00\x02", "gates passed diagnosis are not the gates done"),
        (53, b"\xfe", "rework awaits rework but the next operation is technical-control"),
        (53, b"\x40", "operation index 64 beyond the route's 10"),
        (3, b"\x03", "hold cause 3 with operation index 5 is not a valid hold"),
        (3, b"\x02", r"held \(failed\) at technical-control cannot happen here"),
        (55 + 31, b"\x30", r"rework loops .* outside 1..2"),
        (55, b"\x01", "rework-loop bits set beyond the route's size"),
        (100, b"\x01", "reserved bytes are not zero"),
        (107, b"\x01", "reserved bytes are not zero"),
    ],
)
def test_a_valid_frame_with_impossible_content_is_corrupt(
    offset: int, value: bytes, message: str
) -> None:
    data = resealed(encode(line1_vehicle(), ROUTE), offset, value)
    with pytest.raises(CorruptTag, match=message):
        decode(data, ROUTE)


def test_another_magic_is_not_a_progress_tag() -> None:
    data = b"NDEF" + encode(line1_vehicle(), ROUTE)[4:]
    with pytest.raises(CorruptTag, match="not a progress tag: magic b'ND', expected b'VP'"):
        decode(data, ROUTE)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=TAG_BYTES, max_size=TAG_BYTES))
def test_random_bytes_never_decode(data: bytes) -> None:
    with pytest.raises(TagError):
        decode(data, ROUTE)


def test_encode_refuses_what_the_tag_cannot_hold() -> None:
    progress = line1_vehicle()
    other = RouteSnapshot.from_line(next(line for line in CONFIG_LINES if line.line == "line-2"))
    with pytest.raises(TagError, match=f"progress is for route v1 #{ROUTE.hash}, not v1 #"):
        encode(progress, other)
    too_many_writes = Progress(**{**progress.__dict__, "seq": 2**32})
    with pytest.raises(TagError, match=r"write counter 4294967296 is outside 0\.\.4294967295"):
        encode(too_many_writes, ROUTE)


def test_a_tag_written_in_layout_1_reads_as_before_and_is_written_the_same() -> None:
    assert decode(LINE1_VEHICLE_V1, ROUTE) == line1_vehicle()
    assert encode(line1_vehicle(), ROUTE) == LINE1_VEHICLE_V1


@PROPERTY
@given(reachable())
def test_nothing_found_is_layout_1_anything_found_layout_2(
    case: tuple[RouteSnapshot, Progress],
) -> None:
    route, progress = case
    data = encode(progress, route)
    assert data[2] == (2 if progress.found else 1)
    if not progress.found:
        assert data[91:108] == bytes(17)


def diagnosed() -> Progress:
    """A line-1 vehicle whose diagnosis found body damage, at electromechanics."""
    progress = complete(ROUTE, intake(ROUTE, VIN, []), "intake", "passed")
    progress = find(ROUTE, progress, "diagnosis", "needs_bodywork", True)
    return complete(ROUTE, progress, "diagnosis", "passed").next_write()


def test_a_found_attribute_is_written_in_layout_2_with_its_finder() -> None:
    data = encode(diagnosed(), ROUTE)
    assert data[2] == 2
    assert data[91:95] == bytes([0x80 | 0x40 | 1, 1, 0, 0])  # needs_bodywork, diagnosis
    assert decode(data, ROUTE).found == (Found("needs_bodywork", True, "diagnosis"),)


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (91, b"\x00\x00", "slots empty or out of place"),
        (95, b"\x80\x01", "slots empty or out of place"),  # a used slot after an empty one
        (93, b"\x80\x00", "found attributes out of route order"),  # intake after diagnosis
        (91, b"\x02\x01", "slot 02 01 is not valid"),  # not marked used
        (91, b"\xa1\x01", "slot A1 01 is not valid"),  # bit 5: attribute 33
        (91, b"\xc2\x01", "slot C2 01 is not valid"),  # attribute index 2 of 2
        (91, b"\xc1\x0a", "slot C1 0A is not valid"),  # operation index 10 of 10
        (91, b"\xc1\x03", "attributes found at bodywork: not operations reached"),
        (93, b"\xc1\x01", "found twice at one operation"),
    ],
)
def test_a_layout_2_frame_with_impossible_found_attributes_is_corrupt(
    offset: int, value: bytes, message: str
) -> None:
    data = resealed(encode(diagnosed(), ROUTE), offset, value)
    with pytest.raises(CorruptTag, match=message):
        decode(data, ROUTE)


def test_encode_refuses_more_found_attributes_than_the_tag_holds() -> None:
    found = tuple(Found("ev", index % 2 == 0, "intake") for index in range(MAX_FOUND + 1))
    too_many = Progress(**{**diagnosed().__dict__, "found": found})
    with pytest.raises(TagError, match="9 attributes found on the way; the tag holds 8"):
        encode(too_many, ROUTE)
