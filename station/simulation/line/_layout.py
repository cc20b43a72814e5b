"""The line's stations: a line file, its route and the station files that name it."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from station import route as rules
from station.config.loader import ConfigError, LoadedLine, LoadedStation, load_line, load_station
from station.config.models import Operation, Rework
from station.scenario import Scenario, ScenarioVehicle, found_questions
from station.scenario_mix import generated


class LineInputError(Exception):
    """The line or the scenario cannot be run; each problem names where and what."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclasses.dataclass(frozen=True)
class LineLayout:
    """A line file, its route and its station files (route order, rework bay last)."""

    line: LoadedLine
    route: rules.RouteSnapshot
    stations: dict[str, LoadedStation]

    @classmethod
    def load(cls, line_path: Path) -> LineLayout:
        """The line and the station files under its `../stations/` folder that name it.
        ConfigError for an invalid file, LineInputError for a station missing or twice."""
        line = load_line(line_path)
        route = rules.RouteSnapshot.from_line(line.model)
        folder = (line_path.parent / ".." / "stations").resolve()
        found: dict[str, list[LoadedStation]] = {}
        issues = []
        for path in _station_files(folder, line_path.resolve()):
            try:
                loaded = load_station(path)
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            found.setdefault(loaded.model.station, []).append(loaded)
        if issues:
            raise ConfigError(issues)
        wanted = [*dict.fromkeys(s for op in route.operations for s in op.served_by)]
        wanted.append(route.rework.station)
        problems = [
            f"{line_path}: no station file in {folder} for station {name!r} "
            f"(a file with `station: {name}` and `line:` pointing at this line file)"
            for name in wanted
            if name not in found
        ]
        problems += [
            f"{line_path}: station {name!r} has {len(files)} station files: "
            + ", ".join(str(f.path) for f in files)
            for name, files in found.items()
            if len(files) > 1
        ]
        if problems:
            raise LineInputError(problems)
        return cls(line, route, {name: found[name][0] for name in wanted})

    @property
    def name(self) -> str:
        return self.line.model.line

    @property
    def checkin(self) -> str:
        """The (first) station of the route's first operation."""
        return self.route.operations[0].served_by[0]

    def generated(self, count: int, seed: int) -> Scenario:
        """A generated mix of `count` vehicles for this line (`station.scenario_mix.generated`):
        its gates fail now and then, labels go unread at its check-in, its stations find
        the attributes their find_attributes steps ask about now and then; attributes the
        line does not declare are dropped (an EV line need not declare `ev`)."""
        gates = [op.operation for op in self.route.operations if op.gate]
        finds = [
            (op.operation, name, rule.value)
            for op in self.route.operations
            for name, rule in found_questions(self.stations[op.served_by[0]].model).items()
        ]
        mix = generated(count, seed, gates=gates, noread_station=self.checkin, finds=finds)
        declared = self.route.attributes
        vehicles = [
            vehicle.model_copy(
                update={
                    "ev": vehicle.ev and "ev" in declared,
                    "attributes": {k: v for k, v in vehicle.attributes.items() if k in declared},
                }
            )
            for vehicle in mix.vehicles
        ]
        return mix.model_copy(update={"vehicles": vehicles})

    def operation_of(self, station: str) -> str:
        return self.stations[station].model.operation

    def pinned(
        self, vehicle: ScenarioVehicle, target: Operation | Rework, visited: Collection[str]
    ) -> str | None:
        """The station of `target` the vehicle's faults name, when it has not been there
        yet (faults strike at the first visit of their station): the line sends it there
        rather than to another parallel station."""
        faulted = {fault.station for fault in vehicle.faults}
        stations = target.served_by
        return next((s for s in stations if s in faulted and s not in visited), None)

    def step_of(self, operation: str) -> int | None:
        """The route step of an operation (None for the rework bay)."""
        target = self.route.find(operation)
        return target.step if isinstance(target, Operation) else None


def _station_files(folder: Path, line_path: Path) -> list[Path]:
    """Station files in `folder` and its sub-folders (one a line, say) whose `line:`
    resolves to `line_path`; a file that is not YAML is kept, so that loading it
    reports its error."""
    yaml = YAML(typ="safe")
    chosen = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            data = yaml.load(path)
        except YAMLError:
            chosen.append(path)
            continue
        if not isinstance(data, dict) or data.get("kind") != "station":
            continue
        if (path.parent / str(data.get("line", ""))).resolve() == line_path:
            chosen.append(path)
    return chosen
