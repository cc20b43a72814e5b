"""The commands people and the plant give a station (through the OPC UA interface).

Each command is checked against the user's role (`station.roles`) and journaled
with the user, refused or not, before it is carried out. `Control` is a part of
`station.runtime.Station`: what it uses of the station is declared at its top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hal.errors import DeviceError
from station import roles
from station.alarms import AlarmList
from station.cycle import set_outputs
from station.devices import DeviceSet
from station.events import (
    AlarmAcked,
    CommandRefused,
    CommandTaken,
    Disposition,
    Entry,
    Override,
)
from station.fsm import Command, IllegalCommand, State, StationMachine, UnitMode
from station.journal import Event
from station.prompts import PromptKind, Prompts
from station.visit import Visit

SYSTEM = "station"
"""The user name of the runtime's own actions."""


class Refused(Exception):
    """A command that was not carried out, with the reason (journaled)."""


class Control:
    """The station's commands; see the module docstring."""

    machine: StationMachine
    alarms: AlarmList
    prompts: Prompts
    devices: DeviceSet
    visit: Visit | None
    _removed: bool

    if TYPE_CHECKING:

        @property
        def vin(self) -> str | None: ...

        async def commit(self, entry: Entry) -> Event: ...

        async def _end_cycle(self, result: str) -> None: ...

    async def _authorize(self, user: str, role: str, action: str, detail: str = "") -> None:
        try:
            roles.check(user, role, action)
        except roles.NotAuthorized as exc:
            await self.commit(
                CommandRefused(operator=user, result=action, data={"role": role, "why": str(exc)})
            )
            raise
        await self.commit(
            CommandTaken(operator=user, result=action, data={"role": role, "detail": detail})
        )

    async def command(self, name: str, user: str, role: str, reason: str = "") -> State:
        """A PackML command (start, stop, hold, unhold, reset, clear, abort, suspend, unsuspend)."""
        try:
            cmd = Command(name)
        except ValueError:
            raise Refused(f"no command {name!r} (commands: {', '.join(Command)})") from None
        await self._authorize(user, role, cmd.value, reason)
        try:
            return await self.machine.command(cmd, f"{user}: {reason}" if reason else user)
        except IllegalCommand as exc:
            await self.commit(
                CommandRefused(operator=user, result=cmd.value, data={"why": str(exc)})
            )
            raise Refused(str(exc)) from exc

    async def acknowledge(self, key: str, user: str, role: str) -> None:
        await self._authorize(user, role, "acknowledge", key)
        try:
            alarm = self.alarms.acknowledge(key, user)
        except KeyError as exc:
            raise Refused(str(exc.args[0])) from exc
        await self.commit(AlarmAcked(operator=user, result=key, data=alarm.to_dict()))

    async def answer(self, kind: PromptKind, value: str, user: str, role: str) -> None:
        """Answer the open prompt: manual_vin, checklist ('done'), verdict, confirm_step."""
        action = {"manual_vin": "manual_vin", "verdict": "verdict"}.get(kind, "confirm")
        await self._authorize(user, role, action, value)
        prompt = self.prompts.current
        if prompt is not None and prompt.kind == kind and role not in prompt.roles:
            await self.commit(CommandRefused(operator=user, result=action, data={"role": role}))
            raise roles.NotAuthorized(user, role, action)
        try:
            self.prompts.answer(kind, value, user, role)
        except Exception as exc:
            raise Refused(str(exc)) from exc

    async def override(self, what: str, reason: str, user: str, role: str) -> None:
        """A supervisor accepts an incomplete photo session, with a reason."""
        await self._authorize(user, role, "override", f"{what}: {reason}")
        if what != "photo_session":
            raise Refused(f"no override for {what!r}: only photo_session can be overridden")
        if not reason.strip():
            raise Refused("an override needs a reason")
        if self.visit is None or self.visit.vin is None:
            raise Refused("no vehicle in the station")
        await self.commit(
            Override(vin=self.vin, operator=user, data={"what": what, "reason": reason})
        )

    async def dispose(self, action: str, reason: str, user: str, role: str) -> None:
        """A supervisor decides on a held vehicle: `retry` the failed step, or
        `remove` it from the station (its record ends as held)."""
        await self._authorize(user, role, "dispose", f"{action}: {reason}")
        if self.machine.state is not State.HELD or self.visit is None:
            raise Refused(f"dispose needs a held vehicle (state {self.machine.state})")
        if action not in ("retry", "remove"):
            raise Refused(f"disposition must be retry or remove (got {action!r})")
        await self.commit(
            Disposition(vin=self.vin, operator=user, data={"action": action, "reason": reason})
        )
        if action == "remove":
            await self._end_cycle("held")
            self._removed = True
        await self.machine.command(Command.UNHOLD, f"{user}: {action}")

    async def set_mode(self, mode: str, user: str, role: str) -> None:
        await self._authorize(user, role, "mode", mode)
        try:
            await self.machine.set_mode(UnitMode(mode), user)
        except Exception as exc:
            raise Refused(str(exc)) from exc

    async def force_output(self, name: str, value: int, user: str, role: str) -> None:
        """Maintenance only: write an output by hand (journaled first)."""
        await self._authorize(user, role, "force_output", f"{name}={value}")
        if self.machine.mode is not UnitMode.MAINTENANCE:
            raise Refused("outputs may be forced in maintenance mode only")
        outputs = self.devices.output_names()
        if name not in outputs:
            raise Refused(f"no output {name!r} (outputs: {', '.join(outputs)})")
        try:
            await set_outputs(
                self.commit, self.devices, self.vin, {name: value}, "forced", operator=user
            )
        except DeviceError as exc:
            raise Refused(str(exc)) from exc
