"""One way to build a station, real or simulated (ophyd-async's `init_devices(mock=...)`):
`station run`, `station line`, the benches and the tests all assemble it here.

`assemble(loaded, state_dir, simulate=...)` is an async context manager that, in
this order:

0. with `serve`, starts the OPC UA server's process first (on the sockets `station
   run` bound, `listeners`), so that it imports asyncua and reads its standard address
   space on the other core while the rest starts;
1. opens the journal (`<state_dir>/journal.sqlite3`);
2. with `simulate`, starts the simulators of every device (real protocols on
   loopback, `SimulatedDevices`), and points the drivers at them; without, the
   drivers of the station file;
3. builds the `Station`, which restores the visit in the station from the journal;
4. with `simulate` and a scenario, builds the world around it (the floor, its
   people, and the feeder of the scenario's vehicles), before the station moves:
   a vehicle restored from the journal is put back where it was;
5. builds its OPC UA server (`serve`) on that process;
6. starts the station (its devices connect meanwhile), then its uplink;
7. has its server start serving (`StationServer.start_soon`) without waiting: the
   station is up (`station run` says READY) while the interface comes up, and says so
   itself (`interface_serving`). A busy port was refused before step 0: its sockets
   are bound before anything starts.

On exit it undoes that in reverse: the station stops, then its server, the
simulators, and the journal closes (on an error too).

`assemble_line(...)` does the same for every station of a line at once (the
simulators and the stations started in parallel, one tag store shared by all):
there the world of each station is its floor alone, which the line's conveyor
drives, with the verdicts of every vehicle planned at its gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.alarms import Priority
from station.defects import SharedDefects
from station.devices import DeviceSet, build_devices
from station.events import UplinkAckIgnored
from station.journal import Journal
from station.runtime import DeviceFactory, Station
from station.state_dir import journal_path

if TYPE_CHECKING:  # a station on real devices loads none of the simulation (nor asyncua)
    from simulators.rfid import TagStore
    from station.config.loader import LoadedStation
    from station.interface.server import ServerProcess, StationServer
    from station.scenario import Scenario
    from station.simulation.devices import SimulatedDevices
    from station.simulation.floor import StationFloor
    from station.simulation.world import StationWorld
    from station.uplink.link import Uplink

Serve = Callable[[Station], "StationServer"]
"""Builds the station's OPC UA server (not started): the assembly starts and stops it."""


@dataclasses.dataclass
class Assembly:
    """A station put together: its journal, its simulators (None for real devices),
    the station, the world around it (simulated with a scenario) and its server."""

    journal: Journal
    sims: SimulatedDevices | None
    station: Station
    floor: StationFloor | None = None
    """The floor around the station (simulated, with a scenario)."""
    world: StationWorld | None = None
    """The feeder of the scenario's vehicles (a station on its own, not on a line)."""
    server: StationServer | None = None
    uplink: Uplink | None = None
    """The plant link, when the station file has an `uplink:` section."""


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """What one station of an assembly is built from."""

    loaded: LoadedStation
    state_dir: Path
    time_scale: float
    simulate: bool = True
    scenario: Scenario | None = None
    on_line: bool = False
    """On a line: the world is the floor alone (the line's conveyor drives it)."""
    autostart: bool = True
    tags: TagStore | None = None
    """Tag memory shared with other stations (a line); else the station's own."""
    defects: SharedDefects | None = None
    """The defect record shared with other stations (a line); else none."""
    listeners: tuple[socket.socket, ...] = ()
    """The sockets its OPC UA server serves on (bound by `station run`); else its own."""


def assemble(
    loaded: LoadedStation,
    state_dir: Path,
    *,
    simulate: bool,
    scenario: Scenario | None = None,
    time_scale: float = 1.0,
    autostart: bool = True,
    serve: Serve | None = None,
    listeners: Sequence[socket.socket] = (),
) -> contextlib.AbstractAsyncContextManager[Assembly]:
    """One station, started (see the module docstring); its journal and, simulated, its
    tags (`sim-tags.json`) and certificates (`sim-pki/`) in `state_dir`. `listeners`:
    the sockets its server is to serve on (bound by `station run`), else it binds its own."""
    wanted = _Wanted(
        loaded,
        state_dir,
        time_scale,
        simulate=simulate,
        scenario=scenario,
        autostart=autostart,
        listeners=tuple(listeners),
    )
    return _one(wanted, serve)


@contextlib.asynccontextmanager
async def _one(wanted: _Wanted, serve: Serve | None) -> AsyncIterator[Assembly]:
    async with _assembled([wanted], serve) as (assembly,):
        yield assembly


def assemble_line(
    stations: Mapping[str, LoadedStation],
    run_dir: Path,
    scenario: Scenario,
    tags: TagStore,
    *,
    time_scale: float = 1.0,
    drain: Callable[[], Awaitable[None]] | None = None,
) -> contextlib.AbstractAsyncContextManager[list[Assembly]]:
    """Every station of a line, simulated and started, in the order of `stations`:
    each with its state in `run_dir/<station>/`, all sharing `tags`; the world of each
    is its floor (the line's conveyor drives it). `drain`, when given, is awaited on
    exit once the stations stopped, before their uplinks stop (the line's plant waits
    there for their last events)."""
    wanted = []
    defects = SharedDefects()
    for name, loaded in stations.items():
        folder = run_dir / name
        folder.mkdir(exist_ok=True)
        wanted.append(
            _Wanted(
                loaded,
                folder,
                time_scale,
                scenario=scenario,
                on_line=True,
                tags=tags,
                defects=defects,
            )
        )
    return _assembled(wanted, None, drain)


@contextlib.asynccontextmanager
async def _assembled(
    wanted: Sequence[_Wanted],
    serve: Serve | None,
    drain: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[list[Assembly]]:
    """The stations of `wanted` in the module docstring's order (the simulators, then
    the stations, started in parallel), undone in reverse on exit."""
    journals: list[Journal] = []
    sims: list[SimulatedDevices] = []
    early: list[ServerProcess] = []
    async with contextlib.AsyncExitStack() as stack:
        if serve is not None:  # the servers' processes build their address space meanwhile
            from station.interface.server import ServerProcess

            stack.push_async_callback(_end_servers, early)
            early.extend([await ServerProcess.spawn(each.listeners) for each in wanted])
        stack.push_async_callback(_close_journals, journals)
        for each in wanted:
            journals.append(Journal.open(journal_path(each.state_dir), each.loaded.model.station))
        stack.push_async_callback(_stop_simulators, sims)
        devices = [_simulators(each) if each.simulate else None for each in wanted]
        sims.extend(simulated for simulated in devices if simulated is not None)
        await asyncio.gather(*(simulated.start() for simulated in sims))
        assemblies = [
            _station(each, journal, simulated)
            for each, journal, simulated in zip(wanted, journals, devices, strict=True)
        ]
        if serve is not None:
            for assembly in assemblies:
                assembly.server = serve(assembly.station)
                assembly.server.adopt(early.pop(0))
                stack.push_async_callback(assembly.server.stop)
        uplinks: list[Uplink] = []
        stack.push_async_callback(_stop_uplinks, uplinks)  # after the stations' last events
        if drain is not None:
            stack.push_async_callback(drain)
        stack.push_async_callback(_stop_stations, assemblies)
        await asyncio.gather(*(assembly.station.start() for assembly in assemblies))
        for each, assembly in zip(wanted, assemblies, strict=True):
            if each.loaded.model.uplink is not None:
                assembly.uplink = _uplink(each, assembly.station)
                uplinks.append(assembly.uplink)
                await assembly.uplink.start()
        for assembly in assemblies:
            if assembly.server is not None:
                assembly.server.start_soon()
        yield assemblies


def _simulators(wanted: _Wanted) -> SimulatedDevices:
    """The simulators of `wanted`'s devices (not started)."""
    from station.simulation.devices import SimulatedDevices

    return SimulatedDevices(
        wanted.loaded, time_scale=wanted.time_scale, tags=wanted.tags, state_dir=wanted.state_dir
    )


def _uplink(wanted: _Wanted, station: Station) -> Uplink:
    """The station's plant link (its `uplink:` section): alarms on the station's list,
    ignored acks journaled, every change of the station forwarded."""
    # the MQTT client is loaded only for a station that has an uplink
    from station.uplink.link import Uplink as Link
    from station.uplink.stream import ALARM_ACK

    section = wanted.loaded.model.uplink
    assert section is not None

    def on_alarm(key: str, text: str | None) -> None:
        if text is None:
            station.alarms_clear(key)
        else:
            priority = Priority.HIGH if key == ALARM_ACK else Priority.MEDIUM
            station.alarms_raise(key, priority, text)

    def on_note(kind: str, data: dict[str, Any]) -> None:
        note = UplinkAckIgnored(
            data={"seq": data.get("seq"), "hash": data.get("hash"), "reason": data["reason"]}
        )
        station.commit_later(note)

    uplink = Link(
        section.resolved(wanted.loaded.path.parent),
        journal_path(wanted.state_dir),
        station.name,
        wanted.loaded.line.model.line,
        wanted.state_dir,
        station.status,
        on_alarm,
        on_note,
    )
    station.on_change(uplink.changed)
    return uplink


def freeze_start_up_heap() -> None:
    """Take what start-up allocated (the libraries, the config, the restored visit) out of
    the garbage collector's full passes, which otherwise walk it all (10-20 ms with the
    control loop waiting). Once per process, when the station is up (`station run`)."""
    gc.freeze()


async def _end_servers(early: Sequence[ServerProcess]) -> None:
    """The servers' processes no server adopted (the assembly failed before)."""
    for spawned in early:
        await spawned.end()


async def _stop_uplinks(uplinks: Sequence[Uplink]) -> None:
    for uplink in uplinks:
        await uplink.stop()


def _station(wanted: _Wanted, journal: Journal, sims: SimulatedDevices | None) -> Assembly:
    """The station over its devices, and the world around it (before it moves)."""
    factory: DeviceFactory
    if sims is not None:
        factory = sims.build
    else:

        def factory(new: LoadedStation) -> DeviceSet:
            return build_devices(new.model)

    scenario = wanted.scenario
    orders = None
    if scenario is not None:
        from station.simulation.people import ScenarioOrders

        orders = ScenarioOrders(scenario)
    station = Station(
        wanted.loaded,
        journal,
        factory(wanted.loaded),
        device_factory=factory,
        orders=orders,
        defects=wanted.defects,
        time_scale=wanted.time_scale,
        autostart=wanted.autostart,
    )
    if wanted.defects is not None:
        station.on_event(wanted.defects.listener(wanted.loaded.model.operation))
    assembly = Assembly(journal, sims, station)
    if sims is None or scenario is None:
        return assembly
    from station.simulation.floor import StationFloor
    from station.simulation.people import Verdicts
    from station.simulation.world import StationWorld

    if wanted.on_line:
        vehicles = {vehicle.vin: vehicle for vehicle in scenario.vehicles}
        assembly.floor = StationFloor(station, sims, vehicles, Verdicts(scenario))
        operation = wanted.loaded.model.operation
        for vehicle in scenario.vehicles:  # a vehicle may come at any time, and come back
            sims.plan_verdicts(vehicle.vin, list(vehicle.verdicts.get(operation, [])))
    else:
        assembly.world = StationWorld(station, sims, scenario, time_scale=wanted.time_scale)
        assembly.floor = assembly.world.floor
    return assembly


async def _stop_stations(assemblies: Sequence[Assembly]) -> None:
    for assembly in assemblies:
        await assembly.station.stop()


async def _stop_simulators(sims: Sequence[SimulatedDevices]) -> None:
    await asyncio.gather(*(simulated.stop() for simulated in sims))


async def _close_journals(journals: Sequence[Journal]) -> None:
    for journal in journals:
        await journal.close()
