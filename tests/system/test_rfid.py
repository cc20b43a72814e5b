"""BIS style RFID driver against its simulator, over real ptys and TCP sockets.

docs/faults.md rows: 5 (unplug/replug), 13 (no tag, several tags: explicit, never
pick one), 14 (interrupted write: read-back mismatch, retried, then
WriteNotVerified). Also: what one station writes, the next one reads.
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

from hal.config import BalluffRfidConfig
from hal.errors import AmbiguousRead, ReaderError, RequestTimeout, WriteNotVerified
from hal.interfaces import TagReader
from hal.readers.bis import (
    BAD_TELEGRAM,
    Ack,
    BisTagReader,
    Nak,
    decode_reply,
    decode_request,
    encode_reply,
)
from hal.readers.framing import BlockFramer, encode_block_frame
from simulators import rfid
from simulators.rfid import MultiTag, NoTag, SimRfid, TagStore, Unplug, WriteFail

pytest_plugins = ["readers_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leaked_fds")

TAG = "E0040150A1B2C3D4"
NEIGHBOUR = "E0040150FFEE0001"
PROGRESS = bytes(range(1, 17))
"""Four blocks of a tag's user memory, all different from a blank tag's zeros."""


def head_config(endpoint: str = "tcp://127.0.0.1:10001", **fields: Any) -> BalluffRfidConfig:
    """A validated config section, as a station file would give it."""
    section = {"driver": "balluff_bis", "endpoint": endpoint, "link": LINK, **fields}
    return BalluffRfidConfig.model_validate(section)


def new_sim(transport: str, store: TagStore, name: str = "rfid") -> SimRfid:
    return SimRfid(head_config(), store, pty=transport == "pty", name=name)


def reader_for(name: str = "rfid") -> Callable[[dict[str, str]], BisTagReader]:
    """Makes the driver for a simulator's endpoint (validated: /dev/pts/N or tcp://)."""
    return lambda endpoint: BisTagReader(name, head_config(**endpoint))


@pytest.fixture
async def rig(transport: str) -> AsyncIterator[tuple[SimRfid, BisTagReader]]:
    sim = new_sim(transport, TagStore())
    async with attached(sim, reader_for()) as reader:
        yield sim, reader


async def test_driver_satisfies_the_interface(rig: tuple[SimRfid, BisTagReader]) -> None:
    _, reader = rig
    as_interface: TagReader = reader
    assert (as_interface.block_size, as_interface.tag_blocks) == (4, 28)
    assert as_interface.link.state.up


async def test_row13_scan_no_tag_one_several(rig: tuple[SimRfid, BisTagReader]) -> None:
    sim, reader = rig
    assert await reader.scan() == ()
    sim.present(TAG)
    assert await reader.scan() == (TAG,)
    sim.present_many([TAG, NEIGHBOUR])
    assert await reader.scan() == (TAG, NEIGHBOUR)


async def test_write_verified_then_read(rig: tuple[SimRfid, BisTagReader]) -> None:
    sim, reader = rig
    sim.present(TAG)
    await reader.write_blocks(2, PROGRESS)
    assert await reader.read_blocks(2, 4) == PROGRESS
    assert sim.store.memory(TAG)[8:24] == PROGRESS
    assert sim.writes == 1


async def test_what_one_station_writes_the_next_reads(transport: str) -> None:
    store = TagStore()
    upstream, downstream = new_sim(transport, store, "rfid-a"), new_sim(transport, store, "rfid-b")
    async with (
        attached(upstream, reader_for("rfid-a")) as reader_a,
        attached(downstream, reader_for("rfid-b")) as reader_b,
    ):
        upstream.present(TAG)
        await reader_a.write_blocks(0, PROGRESS)
        upstream.present(None)  # the vehicle moves on, its hang tag with it
        downstream.present(TAG)
        assert await reader_b.read_blocks(0, 4) == PROGRESS


async def test_row13_no_tag_is_an_explicit_error(rig: tuple[SimRfid, BisTagReader]) -> None:
    sim, reader = rig
    with pytest.raises(ReaderError, match="no tag in the field of head 1"):
        await reader.read_blocks(0, 1)
    with pytest.raises(ReaderError, match="no tag in the field of head 1"):
        await reader.write_blocks(0, PROGRESS)
    sim.present(TAG)
    sim.inject(NoTag())
    with pytest.raises(ReaderError, match="no tag"):
        await reader.read_blocks(0, 1)
    assert await reader.read_blocks(0, 1) == bytes(4), "the glitch lasted one telegram"
    assert sim.writes == 0


async def test_row13_several_tags_never_pick_one(rig: tuple[SimRfid, BisTagReader]) -> None:
    sim, reader = rig
    sim.present_many([TAG, NEIGHBOUR])
    with pytest.raises(AmbiguousRead) as raised:
        await reader.read_blocks(0, 4)
    assert raised.value.found == [TAG, NEIGHBOUR]
    with pytest.raises(AmbiguousRead):
        await reader.write_blocks(0, PROGRESS)
    assert sim.writes == 0
    assert sim.store.memory(TAG) == sim.store.memory(NEIGHBOUR) == bytes(112)

    sim.present(TAG)
    sim.inject(MultiTag((NEIGHBOUR,)))
    with pytest.raises(AmbiguousRead) as raised:
        await reader.write_blocks(0, PROGRESS)
    assert raised.value.found == [TAG, NEIGHBOUR]
    assert sim.writes == 0


@pytest.mark.parametrize("acknowledged", [True, False], ids=["silent", "reported"])
async def test_row14_interrupted_write_is_retried(
    rig: tuple[SimRfid, BisTagReader], acknowledged: bool
) -> None:
    sim, reader = rig
    sim.present(TAG)
    sim.inject(WriteFail(count=2, acknowledged=acknowledged))
    await reader.write_blocks(0, PROGRESS)
    # silent: caught by the read-back; reported: the head's error 02
    assert sim.writes == 3, "two interrupted writes, then one good"
    assert sim.store.memory(TAG)[:16] == PROGRESS


async def test_row14_write_never_verified_raises(rig: tuple[SimRfid, BisTagReader]) -> None:
    sim, reader = rig
    sim.present(TAG)
    attempts = reader.config.write_attempts
    sim.inject(WriteFail(count=attempts))
    with pytest.raises(WriteNotVerified) as raised:
        await reader.write_blocks(0, PROGRESS)
    assert sim.writes == attempts
    assert f"not verified after {attempts} writes" in str(raised.value)
    assert "read-back differs at byte 8" in str(raised.value)
    assert sim.store.memory(TAG)[:16] != PROGRESS


async def test_row5_unplugged_and_replugged_without_restart(transport: str, tmp_path: Path) -> None:
    # the pty through a link, like /dev/serial/by-id: copied into the config, not validated
    pty = str(tmp_path / "ttyUSB1") if transport == "pty" else False
    sim = SimRfid(head_config(), TagStore(), pty=pty)

    def linked(endpoint: dict[str, str]) -> BisTagReader:
        return BisTagReader("rfid", head_config().model_copy(update=endpoint))

    async with attached(sim, linked) as reader:
        sim.present(TAG)
        await reader.write_blocks(0, PROGRESS)
        sim.inject(Unplug(seconds=0.3))
        await outage_seen(reader, reader.scan)
        assert await reader.read_blocks(0, 4) == PROGRESS


async def test_silent_head_times_out_after_configured_retries() -> None:
    version = encode_block_frame(encode_reply(Ack("V", b"BIS 1.0")))
    async with silent_after_handshake(version) as (path, head):
        config = head_config(path, link={**LINK, "retries": 1})
        async with connected(BisTagReader("rfid", config)) as reader:
            with pytest.raises(RequestTimeout, match=r"no reply to S within 0.2 s \(2 attempts\)"):
                await reader.scan()
        # what reached the head after the handshake: the scan telegram, twice
        framer = BlockFramer(64)
        telegrams = framer.feed(await head.read_chunk())
        assert [decode_request(body) for body in telegrams] == [decode_request(b"S1")] * 2


async def test_wrong_head_is_refused(transport: str) -> None:
    sim = new_sim(transport, TagStore())

    def head_two(endpoint: dict[str, str]) -> BisTagReader:
        return BisTagReader("rfid", head_config(head=2, **endpoint))

    async with attached(sim, head_two) as reader:
        with pytest.raises(ReaderError, match="head 2 refused S: 05 no such head"):
            await reader.scan()


async def test_smaller_tag_than_configured_is_refused(transport: str) -> None:
    sim = new_sim(transport, TagStore(capacity=16))  # a 4-block tag, the config says 28
    async with attached(sim, reader_for()) as reader:
        sim.present(TAG)
        assert await reader.read_blocks(3, 1) == bytes(4)
        with pytest.raises(ReaderError, match="refused L: 03 address out of the tag's range"):
            await reader.read_blocks(4, 1)


async def test_simulator_answers_a_bad_telegram_with_error_04() -> None:
    async with raw_client(new_sim("tcp", TagStore())) as (stream_reader, writer):
        writer.write(encode_block_frame(b"L1NOT-A-UID"))
        framer = BlockFramer(64)
        bodies: list[bytes] = []
        async with asyncio.timeout(2.0):
            while not bodies:
                chunk = await stream_reader.read(4096)
                assert chunk, "the simulator closed the connection"
                bodies = framer.feed(chunk)
        assert [decode_reply(body) for body in bodies] == [Nak("L", BAD_TELEGRAM)]


async def test_bad_ranges_are_refused(rig: tuple[SimRfid, BisTagReader]) -> None:
    _, reader = rig
    with pytest.raises(ValueError, match="not a whole number of 4-byte blocks"):
        await reader.write_blocks(0, b"\x01\x02\x03")
    with pytest.raises(ValueError, match=r"blocks 27..28 outside the tag's 0..27"):
        await reader.read_blocks(27, 2)
    with pytest.raises(ValueError, match="16 hex digits"):
        MultiTag(("not-a-uid",))


@pytest.mark.parametrize("mode", ["listen", "pty"])
async def test_standalone_simulator(mode: str, free_port: int, tmp_path: Path) -> None:
    config = head_config()
    listen, pty, endpoint = standalone_endpoint(mode, free_port, tmp_path, "rfid")
    async with running_standalone(rfid.run_standalone(config, listen, pty), "sim-rfid"):
        reader = BisTagReader("rfid", config.model_copy(update={"endpoint": endpoint}))
        async with connected(reader):
            assert await reader.scan() == (), "no tag in front of a bench head"
    assert not (tmp_path / "ttyRFID").is_symlink()
