"""What the simulated world sees of the station it feeds, and how it acts on it.

The floor, its people and the world (`floor.py`, `people.py`, `world.py`) need a
few things of a station: its journal events as they happen, its state, its open
question, its links, and its people's commands. `StationView` names exactly
those. The runtime's `Station` is one (in process: `station run --simulate`, the
line); `RemoteStation` (`station.simulation.remote`) is another: a station in
another process, seen and commanded over its OPC UA interface, as on a bench
(`station sim world`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from station.config.loader import LoadedStation
from station.fsm import State
from station.route import RouteSnapshot


class Happened(Protocol):
    """A journal event as the world reads it."""

    @property
    def kind(self) -> str: ...
    @property
    def vin(self) -> str | None: ...
    @property
    def result(self) -> str | None: ...


class VisitView(Protocol):
    """The vehicle in the station, as the journal has it."""

    @property
    def vin(self) -> str | None: ...
    @property
    def held(self) -> str | None: ...
    @property
    def released(self) -> bool: ...
    @property
    def step_index(self) -> int: ...


class Pending(Protocol):
    def done(self) -> bool: ...


class PromptView(Protocol):
    """The question the station asks a person."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def item(self) -> int: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def future(self) -> Pending: ...


class PromptsView(Protocol):
    @property
    def current(self) -> PromptView | None: ...


class InputWaiter(Protocol):
    async def wait_for(self, name: str, value: int, timeout: float | None) -> None: ...


class DevicesView(Protocol):
    """The station's devices as its drivers see them."""

    def down(self) -> Mapping[str, str]: ...
    def input_names(self) -> Collection[str]: ...
    def plc_with_input(self, name: str) -> InputWaiter: ...


class JournalView(Protocol):
    def events(self, *, kinds: Sequence[str]) -> Iterable[Happened]: ...


class StationView(Protocol):
    """A station as the simulated world around it sees it (module docstring)."""

    @property
    def name(self) -> str: ...
    @property
    def config(self) -> LoadedStation: ...
    @property
    def route(self) -> RouteSnapshot: ...
    @property
    def autostart(self) -> bool: ...
    @property
    def state(self) -> State: ...
    @property
    def vin(self) -> str | None: ...
    @property
    def visit(self) -> VisitView | None: ...
    @property
    def prompts(self) -> PromptsView: ...
    @property
    def devices(self) -> DevicesView: ...
    @property
    def journal(self) -> JournalView: ...

    def on_event(self, listener: Callable[[Any], None]) -> None: ...
    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]: ...
    async def answer(self, kind: Any, value: str, user: str, role: str) -> None: ...
    async def dispose(self, action: str, reason: str, user: str, role: str) -> None: ...
    async def command(self, name: str, user: str, role: str, reason: str = "") -> Any: ...
