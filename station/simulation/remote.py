"""A station in another process, as the simulated world sees it (a `StationView`),
over the station's own OPC UA interface: a hardware-in-the-loop bench
(`station sim world`) feeds an unchanged `station run` on another machine.

What the world reads comes from the two nodes the console reads
(`Station.Status.Json` and `Station.Events.Recent`, through
`station.interface.client.StationClient`): the status snapshot, and the
journal events newer than the last one seen, handed to the floor in journal
order. The events already in the journal when the first snapshot arrives are
history: they are not handed on. What the people do goes through the
station's methods, each person in a session of their own (`sim-operator`,
`sim-inspector`, `sim-supervisor`, users of the station's users file), so the
station checks their roles and journals their calls as for a console.

Limits: the world sees events through `Events/Recent` (the last 50), so a burst
of more than 50 events between two publications loses the oldest (logged as
`remote_events_missed`); the station's status does not say who may answer a
checklist item, so the operator answers and the inspector tries when the
operator is refused; a vehicle restored by a restarted station is not put back
by the world (it starts from an empty floor).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from station.config.loader import LoadedStation
from station.fsm import State
from station.interface.client import CallRefused, Link, NotConnected, Snapshot, StationClient
from station.route import RouteSnapshot
from station.runtime import Refused
from station.simulation.people import INSPECTOR, OPERATOR, SUPERVISOR
from station.status import Status

log = structlog.get_logger("remote")

PEOPLE = (OPERATOR, INSPECTOR, SUPERVISOR)
"""The simulated people, (user, role): each logs in to the station with a password."""

_ANSWERS = {
    "manual_vin": "ManualVin",
    "verdict": "EnterVerdict",
    "measurement": "EnterMeasurement",
    "finding": "EnterFinding",
    "attribute": "EnterAttribute",
    "checklist": "ConfirmChecklistItem",
    "confirm_step": "ConfirmStep",
}
"""Prompt kind -> the station's method that answers it."""


@dataclasses.dataclass(frozen=True)
class RemoteEvent:
    """A journal event of the station, as `Events/Recent` shows it."""

    seq: int
    kind: str
    vin: str | None
    result: str | None


@dataclasses.dataclass(frozen=True)
class RemoteVisit:
    """The vehicle in the station, as its status shows it."""

    vin: str | None
    held: str | None
    step_index: int
    released: bool = False


class _Open:
    """A prompt's answer, pending as long as the station shows the prompt."""

    def done(self) -> bool:
        return False


@dataclasses.dataclass(frozen=True)
class RemotePrompt:
    kind: str
    roles: frozenset[str]
    name: str = ""
    """What a measurement prompt asks for."""
    item: int = 0
    """Which item of the step (a checklist's, a finding's) is asked."""
    future: _Open = dataclasses.field(default_factory=_Open)


class RemoteStation:
    """See the module docstring. `run()` keeps the people's sessions until cancelled
    (`LoginRefused` when the station refuses one of them)."""

    def __init__(self, loaded: LoadedStation, endpoint: str, passwords: Mapping[str, str]) -> None:
        self.config = loaded
        self.name = loaded.model.station
        self.route = RouteSnapshot.from_line(loaded.line.model)
        self.autostart = False
        """A station on real devices waits for a reset and a start: the operator gives them."""
        self.endpoint = endpoint
        self.status: Status | None = None
        """The station's last status snapshot (None before the first)."""
        self.links: dict[str, Link] = {}
        """Each person's session, by user."""
        self.connected = asyncio.Event()
        """Set once the operator's session has its first snapshot."""
        self._recent: list[dict[str, Any]] = []
        self._last_seq: int | None = None
        self._event_listeners: list[Callable[[Any], None]] = []
        self._change_listeners: list[Callable[[], None]] = []
        self._waiters: list[asyncio.Event] = []
        self._clients = {
            user: StationClient(
                endpoint,
                user,
                passwords[user],
                on_snapshot=self._on_snapshot if user == OPERATOR[0] else _ignore,
                on_link=self._on_link,
            )
            for user, _role in PEOPLE
        }

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for user, client in self._clients.items():
                group.create_task(client.run(), name=f"remote:{user}")

    # --- what the world reads --------------------------------------------------------------

    @property
    def state(self) -> State:
        return State(self.status["state"]) if self.status is not None else State.STOPPED

    @property
    def vin(self) -> str | None:
        return self.status["vin"] if self.status is not None else None

    @property
    def visit(self) -> RemoteVisit | None:
        status = self.status
        if status is None or (status["vin"] is None and status["held"] is None):
            return None
        return RemoteVisit(status["vin"], status["held"], status["step_index"])

    @property
    def prompts(self) -> RemoteStation:
        """Itself: `current` is the open prompt (a `PromptsView`)."""
        return self

    @property
    def current(self) -> RemotePrompt | None:
        prompt = self.status["prompt"] if self.status is not None else None
        if prompt is None:
            return None
        # The status does not say who may answer: the operator tries first (`answer`).
        everyone = frozenset({"operator", "inspector", "supervisor"})
        return RemotePrompt(
            prompt["kind"], everyone, prompt.get("name", ""), int(prompt.get("item", 0))
        )

    @property
    def devices(self) -> RemoteStation:
        """Itself: the links and inputs the status shows (a `DevicesView`)."""
        return self

    def down(self) -> dict[str, str]:
        if self.status is None:
            return {name: "no status yet" for name in self.config.model.devices}
        return {name: "link down" for name, up in self.status["links"].items() if not up}

    def input_names(self) -> list[str]:
        return list(self.status["inputs"]) if self.status is not None else []

    def plc_with_input(self, name: str) -> RemoteStation:
        return self

    async def wait_for(self, name: str, value: int, timeout: float | None) -> None:
        """Return once the station shows input `name` at `value`; TimeoutError."""
        async with asyncio.timeout(timeout):
            while self.status is None or self.status["inputs"].get(name) != value:
                changed = asyncio.Event()
                self._waiters.append(changed)
                await changed.wait()

    @property
    def journal(self) -> RemoteStation:
        """Itself: the recent events (a `JournalView`)."""
        return self

    def events(self, *, kinds: Sequence[str]) -> list[RemoteEvent]:
        return [_event(e) for e in self._recent if e.get("kind") in kinds]

    def on_event(self, listener: Callable[[Any], None]) -> None:
        self._event_listeners.append(listener)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    # --- what the people do --------------------------------------------------------------

    async def answer(self, kind: Any, value: str, user: str, role: str) -> None:
        method = _ANSWERS[kind]
        args = () if kind in ("checklist", "confirm_step") else (value,)
        try:
            await self._call(user, method, *args)
        except Refused as exc:
            cause = exc.__cause__
            denied = isinstance(cause, CallRefused) and cause.status == "BadUserAccessDenied"
            if kind != "checklist" or not denied or user == INSPECTOR[0]:
                raise
            await self._call(INSPECTOR[0], method)

    async def dispose(self, action: str, reason: str, user: str, role: str) -> None:
        await self._call(user, "Dispose", action, reason)

    async def command(self, name: str, user: str, role: str, reason: str = "") -> None:
        await self._call(user, name.capitalize())

    async def _call(self, user: str, method: str, *args: str | int) -> None:
        try:
            await self._clients[user].call(method, *args)
        except (CallRefused, NotConnected) as exc:
            raise Refused(str(exc)) from exc

    # --- what the sessions report --------------------------------------------------------

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.status = snapshot.status
        self._recent = snapshot.events
        seqs = [int(e["seq"]) for e in snapshot.events]
        if self._last_seq is None:  # history: what happened before the world looked
            self._last_seq = max(seqs, default=0)
            self.connected.set()
        new = [e for e in snapshot.events if int(e["seq"]) > self._last_seq]
        if new and int(new[0]["seq"]) > self._last_seq + 1:
            log.warning("remote_events_missed", after=self._last_seq, next=new[0]["seq"])
        for data in new:
            self._last_seq = int(data["seq"])
            for listener in list(self._event_listeners):
                listener(_event(data))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()
        for change in list(self._change_listeners):
            change()

    def _on_link(self, link: Link) -> None:
        user = next((u for u, c in self._clients.items() if c.link is link), link.user)
        self.links[user] = link
        log.info("remote_link", user=user, connected=link.connected, reason=link.reason)


def _event(data: dict[str, Any]) -> RemoteEvent:
    return RemoteEvent(int(data["seq"]), str(data["kind"]), data.get("vin"), data.get("result"))


def _ignore(snapshot: Snapshot) -> None:
    """The other people's sessions: the operator's snapshots are the world's."""
