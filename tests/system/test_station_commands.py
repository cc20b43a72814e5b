"""Commands at a real station runtime (the exit station's PLC, barcode reader and RFID
head simulated over their real protocols, in process): maintenance forces and their end,
what the audit trail says of a command carried out or refused, and devices down at start.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from test_runtime_basic import wait_until

from station.assembly import assemble
from station.config.loader import LoadedStation, load_station
from station.control import JOURNALED_CHARS
from station.cycle import safe_value
from station.devices import DeviceSet, build_devices
from station.fsm import State
from station.journal import Event, Journal, JournalStorageError
from station.roles import NotAuthorized
from station.runtime import (
    IllegalInState,
    InvalidArgument,
    OutOfRange,
    Refused,
    Station,
)
from station.simulation.devices import SimulatedDevices

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
MAX = ("max", "maintenance")
"""A maintenance technician (user, role)."""


@dataclasses.dataclass
class Exit:
    station: Station
    sims: SimulatedDevices

    def output(self, name: str) -> int:
        """The output as the simulated PLC holds it."""
        return self.sims.plcs["plc"].output(name)

    def events(self, kind: str) -> list[Event]:
        return self.station.journal.events(kinds=[kind])


@pytest.fixture
async def exit_station(tmp_path: Path) -> AsyncIterator[Exit]:
    """The exit station on its simulators, started as with real devices (Stopped)."""
    loaded = load_station(STATIONS / "exit.yaml")
    async with assemble(loaded, tmp_path, simulate=True, autostart=False) as built:
        assert built.sims is not None
        await built.station.devices.wait_connected(10)
        yield Exit(built.station, built.sims)


# --- maintenance forces (docs/faults.md row 33) ---------------------------------------------------


async def test_leaving_maintenance_drops_every_force_journaled_first(exit_station: Exit) -> None:
    station = exit_station.station
    await station.set_mode("maintenance", *MAX)
    await station.force_output("exit_gate_open", 1, *MAX)
    await station.force_output("stack_red", 1, *MAX)
    await station.force_output("stack_green", 1, *MAX)
    assert exit_station.output("exit_gate_open") == 1 and exit_station.output("stack_green") == 1

    await station.set_mode("production", *MAX)
    names = station.devices.output_names()
    configured = {name: safe_value(station.config.model, name) for name in names}
    assert {name: exit_station.output(name) for name in names} == configured
    (released,) = exit_station.events("forces_released")
    assert (released.operator, released.result) == ("max", "production")
    assert released.data == {
        "forced": {"exit_gate_open": 1, "stack_red": 1, "stack_green": 1},
        "outputs": configured,
    }
    writes = exit_station.sims.plcs["plc"].writes
    gate_closed = [w for w in writes if w.name == "exit_gate_open" and not w.value]
    assert gate_closed and released.mono_ns / 1e9 < gate_closed[-1].at, "journaled before written"

    await station.command("reset", "olga", "operator")
    await wait_until(station, lambda: station.state is State.IDLE)
    await station.command("start", "olga", "operator")
    await wait_until(station, lambda: station.state is State.EXECUTE)
    await wait_until(station, lambda: station.journal.last("cycle_started") is not None)
    assert exit_station.output("exit_gate_open") == 0 and exit_station.output("stack_green") == 0
    assert station.visit is not None and station.visit.outputs == {}, "a force is no visit output"
    assert [e.data for e in exit_station.events("output_forced")] == [
        {"exit_gate_open": 1},
        {"stack_red": 1},
        {"stack_green": 1},
    ]
    assert exit_station.events("outputs") == []


# --- the audit trail: what was done, what was refused and why (docs/faults.md rows 29, 32) -------


async def test_arguments_are_checked_before_anything_is_written_or_journaled(
    exit_station: Exit,
) -> None:
    station = exit_station.station
    await station.set_mode("maintenance", *MAX)
    plc = exit_station.sims.plcs["plc"]
    writes = len(plc.writes)
    taken = len(exit_station.events("command"))
    huge = "x" * 1_000_000
    cases: list[tuple[str, object, type[Refused], str]] = [
        ("stack_red", 70000, OutOfRange, "out_of_range"),
        ("stack_red", 2, OutOfRange, "out_of_range"),
        ("stack_red", -1, OutOfRange, "out_of_range"),
        ("stack_red", True, InvalidArgument, "invalid_argument"),
        ("stack_red", "1", InvalidArgument, "invalid_argument"),
        ("bogus", 1, InvalidArgument, "invalid_argument"),
        (huge, 1, InvalidArgument, "invalid_argument"),
    ]
    for name, value, error, _ in cases:
        with pytest.raises(error):
            await station.force_output(name, value, *MAX)  # type: ignore[arg-type]
    refused = exit_station.events("refused")
    assert [(e.result, e.data["reason"]) for e in refused] == [
        ("force_output", reason) for *_, reason in cases
    ]
    assert "stack_red is a coil: it takes 0..1, not 70000" in refused[0].data["why"]
    for event in refused:
        assert len(event.data["why"]) < 2 * JOURNALED_CHARS
        assert len(event.data["detail"]) < 2 * JOURNALED_CHARS
    assert len(plc.writes) == writes, "nothing written"
    assert len(exit_station.events("command")) == taken, "a refused argument is no command"
    assert exit_station.events("output_forced") == exit_station.events("outputs") == []


async def test_every_refusal_is_journaled_with_its_reason(exit_station: Exit) -> None:
    station = exit_station.station
    with pytest.raises(IllegalInState, match="maintenance mode only"):
        await station.force_output("stack_red", 1, *MAX)
    with pytest.raises(NotAuthorized):
        await station.force_output("stack_red", 1, "olga", "operator")
    with pytest.raises(IllegalInState, match="clear"):
        await station.command("clear", "olga", "operator")
    with pytest.raises(InvalidArgument, match="no command"):
        await station.command("explode", "olga", "operator")
    with pytest.raises(InvalidArgument, match="no unit mode"):
        await station.set_mode("turbo", *MAX)
    with pytest.raises(InvalidArgument, match="no alarm"):
        await station.acknowledge("nothing", "olga", "operator")
    with pytest.raises(IllegalInState, match="held vehicle"):
        await station.dispose("retry", "why not", "sam", "supervisor")
    await station.command("reset", "olga", "operator")
    await wait_until(station, lambda: station.state is State.IDLE)
    await station.command("start", "olga", "operator")
    await wait_until(station, lambda: station.state is State.EXECUTE)
    with pytest.raises(IllegalInState, match="Execute"):
        await station.set_mode("maintenance", *MAX)

    refused = [(e.operator, e.result, e.data["reason"]) for e in exit_station.events("refused")]
    assert refused == [
        ("max", "force_output", "illegal_state"),
        ("olga", "force_output", "not_authorized"),
        ("olga", "clear", "illegal_state"),
        ("olga", "explode", "invalid_argument"),
        ("max", "mode", "invalid_argument"),
        ("olga", "acknowledge", "invalid_argument"),
        ("sam", "dispose", "illegal_state"),
        ("max", "mode", "illegal_state"),
    ]
    taken = [(e.operator, e.result) for e in exit_station.events("command")]
    assert taken == [
        ("max", "force_output"),  # tried (arguments valid), refused by the mode
        ("olga", "clear"),
        ("sam", "dispose"),
        ("olga", "reset"),
        ("olga", "start"),
        ("max", "mode"),
    ]
    assert station.machine.mode.value == "production"


# --- devices down at start (docs/faults.md row 1) ----------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def pointed_at(loaded: LoadedStation, port: int) -> LoadedStation:
    """The station file with every device's endpoint at 127.0.0.1:`port`."""
    fields = {"host": "127.0.0.1", "port": port, "endpoint": f"tcp://127.0.0.1:{port}"}
    devices = {
        name: config.model_copy(update={k: v for k, v in fields.items() if hasattr(config, k)})
        for name, config in loaded.model.devices.items()
    }
    return dataclasses.replace(loaded, model=loaded.model.model_copy(update={"devices": devices}))


async def test_devices_down_at_start_are_alarmed_at_their_first_attempt(
    tmp_path: Path, closed_port: int
) -> None:
    loaded = pointed_at(load_station(STATIONS / "photo-studio.yaml"), closed_port)
    devices: DeviceSet = build_devices(loaded.model)
    assert len(devices.all) == 5  # plc, turntable, cameras, barcode, rfid
    journal = Journal.open(tmp_path / "journal.sqlite3", loaded.model.station)
    station = Station(loaded, journal, devices)
    started = time.monotonic()
    try:
        await station.start()
        expected = {f"link:{name}" for name in devices.all}

        def alarmed() -> set[str]:
            return {a["key"] for a in station.status()["alarms"] if a["active"]}

        def journaled() -> set[str | None]:  # each alarm is journaled by a task of its own
            return {e.result for e in journal.events(kinds=["alarm_raised"])}

        # from the first failed attempt, not after the 11 s of connect timeouts and retries
        # it took before; 3 s of margin for a loaded CI machine (1 s measured on a quiet one)
        await wait_until(station, lambda: alarmed() == expected, timeout=3.0)
        assert time.monotonic() - started < 3.0
        alarms = station.status()["alarms"]
        assert all(a["priority"] == 1 and "link down" in a["text"] for a in alarms)
        assert station.state is State.STOPPED, "a station with no device is served, not aborted"
        await wait_until(station, lambda: journaled() == expected, timeout=3.0)
    finally:
        await station.stop()
        await journal.close()


# --- the journal's files failing under a running station (docs/faults.md row 35) ----------------


async def test_a_wal_removed_under_the_station_alarms_and_aborts_it(
    exit_station: Exit, tmp_path: Path
) -> None:
    station = exit_station.station
    await station.command("reset", "olga", "operator")
    await wait_until(station, lambda: station.state is State.IDLE)
    Path(f"{station.journal.path}-wal").unlink()  # noqa: ASYNC240 (the fault under test)

    with pytest.raises(JournalStorageError):
        await station.command("start", "olga", "operator")
    await wait_until(station, lambda: station.state is State.ABORTED)
    alarms = {a["key"]: a for a in station.status()["alarms"]}
    assert alarms["journal"]["active"] and "restart the station" in alarms["journal"]["text"]
    # the safe state was written though it could not be journaled
    safe = safe_value(station.config.model, "exit_gate_open")
    assert exit_station.output("exit_gate_open") == safe
    # nothing more is journaled, and no vehicle can be accepted: a reset is refused too
    with pytest.raises(JournalStorageError):
        await station.command("reset", "olga", "operator")
