"""Hypothesis fuzzing of the reader framers and the BIS telegram decoders.

One stream per example: arbitrary noise, a valid frame, arbitrary noise,
cut into arbitrary chunks. Properties:
- nothing but a frame list comes out of `feed` (no exception escapes);
- the buffer never holds more than one frame's bound, and the kept error
  texts stay bounded;
- the frames and the counts do not depend on where the stream was cut;
- the valid frame is found: in line modes after any noise ended by a
  terminator, in STX modes after any noise at all;
- every BIS telegram body found decodes to a request/reply or a ValueError,
  nothing else.

Pure: no I/O. 10,000 examples per framer; the noise of an example is one
cheap draw of bytes whose values are remapped so that terminators and
control bytes are frequent (uniform bytes would rarely hold two of them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.readers.bis import (
    Ack,
    Nak,
    ReadData,
    Scan,
    Version,
    WriteData,
    decode_reply,
    decode_request,
    decode_scan_payload,
)
from hal.readers.framing import (
    MAX_ERRORS_KEPT,
    BlockFramer,
    Framing,
    LineFramer,
    encode_block_frame,
    encode_line,
    parse_reply,
)

FUZZ = settings(max_examples=10_000, deadline=None)
FRAMINGS: list[Framing] = ["cr", "crlf", "stx_etx"]

# Bytes 0x80..0x9f become the ones framers care about (1 in 8 bytes of the noise).
_SPECIAL = b"\r\n\x02\x03\x06\x15,\x00" * 4
_TO_SPECIAL = bytes.maketrans(bytes(range(0x80, 0xA0)), _SPECIAL)
noise = st.one_of(
    st.binary(max_size=120).map(lambda b: b.translate(_TO_SPECIAL)),
    st.integers(1, 600).map(lambda n: b"Z" * n),  # over-long lines and telegrams
)
texts = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64),
    st.sampled_from(["OK,LON", "ER,LON,01", "ER,LOFF,02", "ERROR", "A,B"]),
)
bodies = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\x02", b"").replace(b"\x03", b"")),
    st.sampled_from(
        [b"S1", b"\x06S01", b"\x06S00", b"\x15L03", b"L1", b"P1E004", b"V", b"\x06VBIS 1.0"]
    ),
)
cuts = st.lists(st.integers(0, 2_000), max_size=6)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """`data` split at the given offsets (any values, sorted and clipped)."""
    offsets = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(offsets)]


def check_decoders(body: bytes) -> None:
    """Every BIS decoder gives its result type or a ValueError that says what is wrong."""
    decoders: list[tuple[Callable[[bytes], object], tuple[type, ...]]] = [
        (decode_request, (Version, Scan, ReadData, WriteData)),
        (decode_reply, (Ack, Nak)),
        (decode_scan_payload, (tuple,)),
    ]
    for decode, kinds in decoders:
        try:
            result = decode(body)
        except ValueError as exc:
            assert str(exc), f"{decode.__name__}: a ValueError without a message"
        else:
            assert isinstance(result, kinds)


def feed_in_chunks(
    new_framer: Callable[[], LineFramer | BlockFramer], stream: bytes, points: list[int]
) -> list[object]:
    """The frames of `stream` fed in chunks, checked against feeding it whole:
    bounded buffer and error list at every step, same frames, same counts."""
    whole = new_framer()
    expected = list(whole.feed(stream))
    framer = new_framer()
    found: list[object] = []
    for chunk in cut(stream, points):
        found.extend(framer.feed(chunk))
        assert framer.buffered <= framer.bound
        assert len(framer.counters.errors) <= MAX_ERRORS_KEPT
    assert found == expected
    assert framer.counters == whole.counters
    assert framer.counters.frames == len(found)
    return found


@FUZZ
@given(
    framing=st.sampled_from(FRAMINGS),
    max_line=st.integers(1, 64),
    before=noise,
    text=texts,
    after=noise,
    points=cuts,
)
def test_line_framer(
    framing: Framing, max_line: int, before: bytes, text: str, after: bytes, points: list[int]
) -> None:
    separator = b"" if framing == "stx_etx" else b"\r"
    stream = before + separator + encode_line(text, framing) + after
    found = feed_in_chunks(lambda: LineFramer(framing, max_line), stream, points)
    if len(text) <= max_line:
        assert parse_reply(text) in found


@FUZZ
@given(max_body=st.integers(1, 80), before=noise, body=bodies, after=noise, points=cuts)
def test_block_framer(
    max_body: int, before: bytes, body: bytes, after: bytes, points: list[int]
) -> None:
    stream = before + encode_block_frame(body) + after
    found = feed_in_chunks(lambda: BlockFramer(max_body), stream, points)
    for frame in found:
        assert isinstance(frame, bytes) and len(frame) <= max_body
        check_decoders(frame)
    if len(body) <= max_body:
        assert body in found
