"""A whole line on one machine: every station of a line, each a real station
runtime over its own simulated devices, and a conveyor moving the vehicles of
a scenario from one to the next (`station line --simulate`).

The stations are those of the station files in the line file's
`../stations/` folder and its sub-folders whose `line:` is this line file;
every station the route names (one per station of a parallel operation, and
the rework bay) must have exactly one. Each gets its own
simulators (`SimulatedDevices`, real protocols on loopback), its own journal
(`RUN/<station>/journal.sqlite3`) and its own people; one `TagStore` is
shared by all (`RUN/sim-tags.json`): the hang tag travels with its vehicle,
so what one station writes the next one reads, and nothing else carries a
vehicle's progress from station to station.

The conveyor, in the world's terms only (the PLC simulators' arrivals and
departures, the readers' fields, the tags):
- vehicles enter at the check-in station in the scenario's order, every
  `takt_s` or as soon as it is free, and queue FIFO at each station;
- a vehicle that leaves a station travels (`TRAVEL_S`, scaled) to the
  station of its next operation, which the route rules give from the
  progress on its tag; a misroute of the scenario presents it instead at the
  misroute's station once it has done the named operation;
- its journey ends `held` when its cycle ended held (a supervisor removed
  it) or when its tag says it waits for a supervisor (rework loops used up),
  `released` when its tag says every due operation is done (after the
  check-out). A run where nothing moves for `stall_s` ends, and the vehicles
  still on the line are `stranded` (the run then fails);
- a vehicle's faults for a station strike at its first visit there; the
  verdicts of a gate are consumed in order over its visits.

What the scenario expects (`expected_final`) comes from the route rules over
the scenario alone: verdicts, misroutes, and the identity faults that make a
supervisor remove a vehicle. The conservation check (`conservation`), run
by the command on every run: every vehicle that entered is released or held;
every journey replays through the route rules (each admission and refusal
as the stations decided, each outcome a transition the rules allow) to the
progress on the vehicle's tag; the cycles per station, per vehicle and per
result match each station's journal; every journal verifies.

With `--plant` (`_plant`): a broker (`--broker`, else Debian's mosquitto as a child
process), the plant collector in the line's process before the stations, an uplink on
every station, and the check extended to the replica: every event of every journal
stored once as written with its chain verified, every vehicle's passport its journey,
the report's counts the line's.

Boundary: the stations are driven only through the simulated world and the
people's public commands; the line reads their journals, their tags and their
status, never their internals. The JSON document is docs/cli.md's contract.
"""

from station.simulation.line._conservation import JournalView, conservation, violations_of
from station.simulation.line._expected import expected_final
from station.simulation.line._layout import LineInputError, LineLayout
from station.simulation.line._plant import PlantInputError, PlantSide, plant_side
from station.simulation.line._records import Final, Journey, LineResult, StationSummary, Stop
from station.simulation.line._run import TAGS_FILE, LineRun
from station.simulation.line._scenario_check import check_scenario

__all__ = [
    "TAGS_FILE",
    "Final",
    "JournalView",
    "Journey",
    "LineInputError",
    "LineLayout",
    "LineResult",
    "LineRun",
    "PlantInputError",
    "PlantSide",
    "StationSummary",
    "Stop",
    "check_scenario",
    "conservation",
    "expected_final",
    "plant_side",
    "violations_of",
]
