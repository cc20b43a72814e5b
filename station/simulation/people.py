"""The people of a simulated plant: operators, inspectors and a supervisor who
answer a station's prompts and recover it, as the scenario says.

They act only through the station's public commands, with their own user
names and roles, so everything they do is journaled and role-checked like a
real person's action. Their rules:

- a checklist item is confirmed, a manual-mode step is confirmed;
- a verdict is the scenario's next verdict for that vehicle and gate (pass
  when the scenario says nothing);
- a measured value the inspector types is this visit's value of the scenario
  (`measured`, from the floor: within the limits when the scenario says nothing);
- findings the inspector types are this visit's of the scenario (`found`, from the
  floor), one code at a time in order, then 'none';
- an attribute found on the way: yes when the scenario's `found` has it for the
  station's operation, else no;
- after a final no-read the operator types the VIN (when the scenario allows);
- a held vehicle: the supervisor removes it from the station when the hold is
  a route violation or an identity problem, and retries the step otherwise
  (a failed tag write, a timeout);
- an aborted station: once every device link is back, the operator clears,
  resets and starts it again; the vehicle resumes where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import get_args

import structlog

from station.findings import NONE
from station.fsm import State
from station.route import ViolationKind
from station.runtime import Refused
from station.scenario import Scenario, ScenarioFinding, ScenarioVehicle
from station.simulation.view import PromptView, StationView

REMOVE_ON = frozenset(get_args(ViolationKind)) | {
    "id_mismatch",
    "ambiguous_read",
    "several_tags",
    "no_tag",
    "tag_corrupt",
    "noread",
}
"""Hold kinds a supervisor resolves by taking the vehicle out of the station."""

OPERATOR = ("sim-operator", "operator")
INSPECTOR = ("sim-inspector", "inspector")
SUPERVISOR = ("sim-supervisor", "supervisor")

log = structlog.get_logger("people")


def _who(prompt: PromptView) -> tuple[str, str]:
    """Who answers a prompt an operator or an inspector may answer: the operator, unless
    the prompt is the inspector's."""
    return INSPECTOR if "operator" not in prompt.roles else OPERATOR


class ScenarioOrders:
    """Order data of the scenario's vehicles (attributes at intake, model names)."""

    def __init__(self, scenario: Scenario) -> None:
        self.vehicles = {v.vin: v for v in scenario.vehicles}

    def attributes(self, vin: str) -> frozenset[str]:
        vehicle = self.vehicles.get(vin)
        return vehicle.true_attributes() if vehicle is not None else frozenset()

    def model(self, vin: str) -> str:
        vehicle = self.vehicles.get(vin)
        return vehicle.model if vehicle is not None else ""


class Verdicts:
    """The scenario's verdicts, consumed in order per (vehicle, gate)."""

    def __init__(self, scenario: Scenario) -> None:
        self._left: dict[tuple[str, str], deque[str]] = defaultdict(deque)
        for vehicle in scenario.vehicles:
            for gate, verdicts in vehicle.verdicts.items():
                self._left[(vehicle.vin, gate)].extend(verdicts)

    def next(self, vin: str, gate: str) -> str:
        left = self._left.get((vin, gate))
        return left.popleft() if left else "pass"


class People:
    """Answers one station's prompts and recovers it (see the module docstring)."""

    def __init__(
        self,
        station: StationView,
        vehicles: dict[str, ScenarioVehicle],
        verdicts: Verdicts,
        *,
        present: Callable[[], str | None],
        links_up: Callable[[], bool] | None = None,
        before_remove: Callable[[], Awaitable[None]] | None = None,
        measured: Callable[[str], float | None] | None = None,
        found: Callable[[], Sequence[ScenarioFinding]] | None = None,
    ) -> None:
        self.station = station
        self.present = present
        self.measured = measured or (lambda name: None)
        """The value a quantity has this visit (what the inspector reads off his
        instrument and types), by name."""
        self.found = found or (lambda: ())
        """The defects the vehicle has this visit (what the inspector types)."""
        self.before_remove = before_remove
        """What happens before the supervisor removes a held vehicle (on a floor: it is
        pushed out of the station first, as on a real one)."""
        self.vehicles = vehicles
        self.found_answer: Callable[[str, str | None], str | None] = self._found_in_scenario
        """The operator's answer to an attribute prompt (None: left to the interface)."""
        self.verdicts = verdicts
        self.links_up = links_up or (lambda: not station.devices.down())
        self.actions: list[str] = []
        self._changed = asyncio.Event()
        station.on_change(self._changed.set)

    async def run(self) -> None:
        """Act on every change of the station until cancelled."""
        while True:
            self._changed.clear()
            with contextlib.suppress(Refused, PermissionError):
                await self._act()
            with contextlib.suppress(TimeoutError):
                # re-check now and then: a link may come back without a status change
                async with asyncio.timeout(0.2):
                    await self._changed.wait()

    def _found_in_scenario(self, vin: str, name: str | None) -> str | None:
        """What the operator answers when asked whether `name` is found on `vin`: yes when
        the scenario's `found` has it at this station's operation, else no."""
        vehicle = self.vehicles.get(vin)
        finds = (
            {} if vehicle is None else vehicle.found.get(self.station.config.model.operation, {})
        )
        return "yes" if name in finds else "no"

    async def _act(self) -> None:
        st = self.station
        prompt = st.prompts.current
        vin = st.vin
        if prompt is not None and not prompt.future.done():
            if prompt.kind == "checklist":
                await self._answer("checklist", "done", _who(prompt))
            elif prompt.kind == "attribute" and vin is not None:
                answer = self.found_answer(vin, prompt.name)
                if answer is not None:
                    await self._answer("attribute", answer, _who(prompt))
            elif prompt.kind == "confirm_step":
                await self._answer("confirm_step", "go", OPERATOR)
            elif prompt.kind == "verdict" and vin is not None:
                verdict = self.verdicts.next(vin, st.config.model.operation)
                await self._answer("verdict", verdict, INSPECTOR)
            elif prompt.kind == "measurement" and vin is not None:
                # `name` is not in `PromptView` yet (view.py is another branch's): a
                # remote station's prompt without it is left to a person
                value = self.measured(prompt.name)
                if value is not None:
                    await self._answer("measurement", repr(value), INSPECTOR)
            elif prompt.kind == "finding" and vin is not None:
                found = self.found()
                code = found[prompt.item].code if prompt.item < len(found) else NONE
                await self._answer("finding", code, INSPECTOR)
            elif prompt.kind == "manual_vin" and vin is None:
                expected = self._expected_vin()
                if expected is not None:
                    await self._answer("manual_vin", expected, OPERATOR)
            return
        state = st.state
        if state is State.HELD and st.visit is not None:
            kind = st.visit.held or ""
            action = "remove" if kind in REMOVE_ON else "retry"
            if action == "remove" and self.before_remove is not None:
                await self.before_remove()
            self.actions.append(f"dispose:{action}:{kind}")
            await st.dispose(action, f"scenario: {kind}", *SUPERVISOR)
        elif state is State.ABORTED and self.links_up():
            self.actions.append("clear")
            await st.command("clear", *OPERATOR, "links back")
        elif state is State.STOPPED and self.links_up():
            await st.command("reset", *OPERATOR)
        elif state is State.IDLE and not st.autostart:
            await st.command("start", *OPERATOR)

    async def _answer(self, kind: str, value: str, who: tuple[str, str]) -> None:
        self.actions.append(f"{kind}:{value}")
        await self.station.answer(kind, value, *who)

    def _expected_vin(self) -> str | None:
        """The VIN of the vehicle physically at the station, as the operator reads it."""
        present = self.present()
        vehicle = self.vehicles.get(present) if present is not None else None
        return vehicle.vin if vehicle is not None and vehicle.manual_vin else None
