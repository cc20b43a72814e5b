"""Keyence SR style barcode driver against its simulator, over real ptys and TCP sockets.

docs/faults.md rows: 5 (unplug/replug), 8 (no-read, repeated reads), 9 (two
different codes), 11 (split frames, CR / CR LF / STX ETX, echo), 12
(garbage, a 64 KiB line without terminator). VIN rules are not applied here:
the driver returns raw codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from readers_rig import (
    LINK,
    attached,
    connected,
    outage_seen,
    raw_client,
    running_standalone,
    silent_after_handshake,
    standalone_endpoint,
)

from hal.config import KeyenceBarcodeConfig
from hal.errors import AmbiguousRead, LinkDown, ReaderError, RequestTimeout
from hal.interfaces import CodeRead, CodeReader
from hal.readers.keyence import KeyenceReader
from simulators import barcode
from simulators.barcode import (
    CommandError,
    Echo,
    Garbage,
    MultiCode,
    NoRead,
    SimBarcode,
    SplitFrames,
    Unplug,
)

pytest_plugins = ["readers_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leaked_fds")

VIN = "VF1RFB00X66123456"
OTHER_VIN = "WVWZZZ1JZXW000001"


def reader_config(endpoint: str = "tcp://127.0.0.1:9004", **fields: Any) -> KeyenceBarcodeConfig:
    """A validated config section, as a station file would give it."""
    section = {
        "driver": "keyence_sr",
        "endpoint": endpoint,
        "read_timeout_s": 0.2,
        "link": LINK,
        **fields,
    }
    return KeyenceBarcodeConfig.model_validate(section)


def new_sim(transport: str, config: KeyenceBarcodeConfig) -> SimBarcode:
    return SimBarcode(config, pty=True) if transport == "pty" else SimBarcode(config)


def reader_for(**fields: Any) -> Callable[[dict[str, str]], KeyenceReader]:
    """Makes the driver for a simulator's endpoint (validated: /dev/pts/N or tcp://)."""
    return lambda endpoint: KeyenceReader("barcode", reader_config(**endpoint, **fields))


@pytest.fixture
async def rig(transport: str) -> AsyncIterator[tuple[SimBarcode, KeyenceReader]]:
    sim = new_sim(transport, reader_config())
    async with attached(sim, reader_for()) as reader:
        yield sim, reader


async def test_driver_satisfies_the_interface(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    _, reader = rig
    as_interface: CodeReader = reader
    assert as_interface.link.state.up


async def test_presented_code_is_read(rig: tuple[SimBarcode, KeyenceReader]) -> None:
    sim, reader = rig
    sim.present(VIN)
    assert await reader.read() == CodeRead((VIN,))
    assert sim.triggers == 1


@pytest.mark.parametrize(
    ("reader_framing", "driver_framing"),
    [("cr", "cr"), ("crlf", "crlf"), ("stx_etx", "stx_etx"), ("crlf", "cr"), ("cr", "crlf")],
)
async def test_row11_framings_and_cr_crlf_mixup(
    transport: str, reader_framing: str, driver_framing: str
) -> None:
    sim = new_sim(transport, reader_config(framing=reader_framing))
    async with attached(sim, reader_for(framing=driver_framing)) as reader:
        sim.present(VIN)
        assert await reader.read() == CodeRead((VIN,))
        sim.present(None)
        assert await reader.read() == CodeRead(())  # the no-read string, framed alike
        assert reader.counters.garbage_bytes == 0


async def test_row11_echo_tolerated(rig: tuple[SimBarcode, KeyenceReader]) -> None:
    sim, reader = rig
    sim.inject(Echo(on=True))
    sim.present(VIN)
    assert await reader.read() == CodeRead((VIN,))
    sim.present(None)
    assert await reader.read() == CodeRead(())
    # OK,LON and OK,LOFF of both triggers: the sim answers in order, and the second
    # read ends only after the no-read string that follows the last OK,LOFF
    assert reader.counters.echoes == 4


async def test_row11_frame_split_across_reads_is_reassembled(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    sim, reader = rig
    sim.inject(SplitFrames(pieces=4, gap_s=0.005))
    sim.present(VIN)
    chunks_before = reader.port.chunks
    assert await reader.read() == CodeRead((VIN,))
    assert reader.port.chunks - chunks_before >= 2, "the frame did not arrive in pieces"


async def test_row8_noread_then_repeated_reads(rig: tuple[SimBarcode, KeyenceReader]) -> None:
    sim, reader = rig
    sim.present(VIN)
    sim.inject(NoRead(count=2))
    results = [await reader.read() for _ in range(3)]
    assert results == [CodeRead(()), CodeRead(()), CodeRead((VIN,))]
    assert results[0].noread
    assert sim.triggers == 3


async def test_row9_two_different_codes_are_ambiguous(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    sim, reader = rig
    sim.present(VIN)
    sim.inject(MultiCode((VIN, OTHER_VIN)))
    with pytest.raises(AmbiguousRead) as raised:
        await reader.read()
    assert raised.value.found == [VIN, OTHER_VIN]
    assert raised.value.device == "barcode"
    assert await reader.read() == CodeRead((VIN,)), "the next trigger reads normally"


async def test_identical_codes_from_one_trigger_are_one_read(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    sim, reader = rig
    sim.inject(MultiCode((VIN, VIN, VIN)))
    assert await reader.read() == CodeRead((VIN,))


async def test_row12_garbage_line_dropped_and_counted(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    sim, reader = rig
    junk = b"\x00\xff\x13@@junk"
    sim.inject(Garbage(junk + b"\r"))
    sim.present(VIN)
    assert await reader.read() == CodeRead((VIN,))
    assert reader.counters.garbage_bytes == len(junk)


async def test_row12_64k_line_without_terminator_is_bounded(
    rig: tuple[SimBarcode, KeyenceReader],
) -> None:
    sim, reader = rig
    sim.present(VIN)
    sim.inject(Garbage(b"X" * 65536))
    # The code is glued to the endless line and dropped with it: a no-read, never a wrong code.
    assert await reader.read() == CodeRead(())
    assert reader.counters.overlong_lines == 1
    assert reader.framer.buffered <= reader.config.max_line_bytes
    assert await reader.read() == CodeRead((VIN,))


async def test_reader_error_reply_is_surfaced(rig: tuple[SimBarcode, KeyenceReader]) -> None:
    sim, reader = rig
    sim.inject(CommandError(code=14))
    with pytest.raises(ReaderError, match="refused LON: error 14"):
        await reader.read()
    assert reader.counters.errors == ["ER,LON,14"]


async def test_simulator_refuses_an_unknown_command() -> None:
    async with raw_client(SimBarcode(reader_config())) as (stream_reader, writer):
        writer.write(b"HELLO\r")
        async with asyncio.timeout(2.0):
            assert await stream_reader.readuntil(b"\r") == b"ER,HELLO,00\r"


async def test_row5_unplugged_and_replugged_without_restart(transport: str, tmp_path: Path) -> None:
    # A pty is reached through a link, as a USB adapter through /dev/serial/by-id; the
    # link lives outside /dev, so the config is copied rather than validated.
    config = reader_config()
    pty = str(tmp_path / "ttyUSB0") if transport == "pty" else False
    sim = SimBarcode(config, pty=pty)

    def linked(endpoint: dict[str, str]) -> KeyenceReader:
        return KeyenceReader("barcode", config.model_copy(update=endpoint))

    async with attached(sim, linked) as reader:
        sim.present(VIN)
        assert await reader.read() == CodeRead((VIN,))
        sim.inject(Unplug(seconds=0.3))
        await outage_seen(reader, reader.read)
        assert await reader.read() == CodeRead((VIN,))


async def test_absent_port_marks_the_reader_down() -> None:
    reader = KeyenceReader("barcode", reader_config("/dev/ttyNOSUCHREADER"))
    await reader.start()
    try:
        with pytest.raises(TimeoutError):
            await reader.link.wait_up(0.3)
        assert "could not open port /dev/ttyNOSUCHREADER" in reader.link.state.reason
        with pytest.raises(LinkDown, match="barcode: link down"):
            await reader.read()
    finally:
        await reader.stop()


async def test_silent_reader_is_a_timeout_not_a_noread() -> None:
    async with (
        silent_after_handshake(b"OK,RVER,SR-1000 1.00\r") as (path, _),
        connected(KeyenceReader("barcode", reader_config(path))) as reader,
    ):
        with pytest.raises(RequestTimeout, match="no byte in reply to LON/LOFF"):
            await reader.read()


async def test_bad_timeout_is_refused(rig: tuple[SimBarcode, KeyenceReader]) -> None:
    _, reader = rig
    with pytest.raises(ValueError, match="read timeout must be > 0"):
        await reader.read(timeout=0)


async def test_bad_label_is_refused() -> None:
    sim = SimBarcode(reader_config())
    with pytest.raises(ValueError, match="without a comma"):
        sim.present("A,B")
    with pytest.raises(ValueError, match="printable ASCII"):
        sim.present("VIN\r")


@pytest.mark.parametrize("mode", ["listen", "pty"])
async def test_standalone_simulator(mode: str, free_port: int, tmp_path: Path) -> None:
    config = reader_config()
    listen, pty, endpoint = standalone_endpoint(mode, free_port, tmp_path, "barcode")
    async with running_standalone(barcode.run_standalone(config, listen, pty), "sim-barcode"):
        reader = KeyenceReader("barcode", config.model_copy(update={"endpoint": endpoint}))
        async with connected(reader):
            assert await reader.read() == CodeRead(()), "no label in front of a bench reader"
    assert not (tmp_path / "ttyBARCODE").is_symlink()
