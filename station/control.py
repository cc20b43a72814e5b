"""The commands people and the plant give a station (through the OPC UA interface).

Each command is journaled with the user, refused or not, and before it is carried
out, in this order:

1. the user's role (`station.roles`): refused as not authorized;
2. the arguments, type and range, before anything is done or journaled of them
   (`InvalidArgument`, `OutOfRange`);
3. the command itself, journaled as `command` (the user may do it, with these
   arguments);
4. the state (`IllegalInState`: the PackML state, the unit mode, the open prompt, no
   vehicle) and the devices (`DeviceRefused`): refused, with the reason, after the
   `command` event, since the station tried it.

Every refusal is a `refused` event naming its reason and why, and raises `Refused` (or
`roles.NotAuthorized`). Strings that come from outside are bounded before they are
journaled. `Control` is a part of `station.runtime.Station`: what it uses of the
station is declared at its top.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, ClassVar

from hal.errors import DeviceError
from station import roles
from station.alarms import AlarmList
from station.config.loader import LoadedStation
from station.cycle import output_point
from station.devices import DeviceSet
from station.events import (
    AlarmAcked,
    CommandRefused,
    CommandTaken,
    Disposition,
    Entry,
    OutputForced,
    Override,
)
from station.fsm import Command, IllegalCommand, IllegalModeChange, State, StationMachine, UnitMode
from station.journal import Event
from station.prompts import PromptKind, Prompts, WrongPrompt
from station.visit import Visit

SYSTEM = "station"
"""The user name of the runtime's own actions."""

JOURNALED_CHARS = 256
"""Strings from outside (reasons, names, refusal messages) are cut to this length
before they are journaled."""


class Refused(Exception):
    """A command that was not carried out, with the reason (journaled)."""

    REASON: ClassVar[str] = "refused"
    """The refusal's kind, journaled as the `reason` of the `refused` event."""


class IllegalInState(Refused):
    """The station's state, unit mode, open prompt or vehicle does not allow the command."""

    REASON = "illegal_state"


class InvalidArgument(Refused):
    """An argument of the wrong type, or a name the station does not know."""

    REASON = "invalid_argument"


class OutOfRange(Refused):
    """A number outside what its target takes (a coil 0..1, a register 0..65535)."""

    REASON = "out_of_range"


class DeviceRefused(Refused):
    """The device did not do it (link down, Modbus exception, read-back differs)."""

    REASON = "device"


def bounded(text: object, limit: int = JOURNALED_CHARS) -> str:
    """`text` as a string of at most about `limit` characters, saying how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class Control:
    """The station's commands; see the module docstring."""

    config: LoadedStation
    machine: StationMachine
    alarms: AlarmList
    prompts: Prompts
    devices: DeviceSet
    visit: Visit | None
    forced: dict[str, int]
    _removed: bool

    if TYPE_CHECKING:

        @property
        def vin(self) -> str | None: ...

        async def commit(self, entry: Entry) -> Event: ...

        async def _end_cycle(self, result: str) -> None: ...

    @asynccontextmanager
    async def _refusals(
        self, user: str, role: str, action: str, detail: str
    ) -> AsyncIterator[None]:
        """Journal a refusal raised in the block (`Refused`, `NotAuthorized`), then raise it."""
        try:
            yield
        except (Refused, roles.NotAuthorized) as exc:
            reason = exc.REASON if isinstance(exc, Refused) else "not_authorized"
            await self.commit(
                CommandRefused(
                    operator=user,
                    result=bounded(action),
                    data={
                        "role": role,
                        "reason": reason,
                        "why": bounded(exc),
                        "detail": bounded(detail),
                    },
                )
            )
            raise

    async def _taken(self, user: str, role: str, action: str, detail: str) -> None:
        await self.commit(
            CommandTaken(
                operator=user, result=action, data={"role": role, "detail": bounded(detail)}
            )
        )

    async def _authorize(self, user: str, role: str, action: str, detail: str = "") -> None:
        """The role check, journaled: refused, or taken."""
        async with self._refusals(user, role, action, detail):
            roles.check(user, role, action)
        await self._taken(user, role, action, detail)

    async def command(self, name: str, user: str, role: str, reason: str = "") -> State:
        """A PackML command (start, stop, hold, unhold, reset, clear, abort, suspend, unsuspend)."""
        async with self._refusals(user, role, name, reason):
            try:
                cmd = Command(name)
            except ValueError:
                raise InvalidArgument(
                    f"no command {bounded(name)!r} (commands: {', '.join(Command)})"
                ) from None
            roles.check(user, role, cmd.value)
            await self._taken(user, role, cmd.value, reason)
            try:
                return await self.machine.command(cmd, f"{user}: {reason}" if reason else user)
            except IllegalCommand as exc:
                raise IllegalInState(str(exc)) from exc

    async def acknowledge(self, key: str, user: str, role: str) -> None:
        async with self._refusals(user, role, "acknowledge", key):
            roles.check(user, role, "acknowledge")
            if key not in {alarm.key for alarm in self.alarms.all()}:
                known = ", ".join(alarm.key for alarm in self.alarms.all()) or "none"
                raise InvalidArgument(f"no alarm {bounded(key)!r} (alarms: {known})")
            await self._taken(user, role, "acknowledge", key)
            try:
                alarm = self.alarms.acknowledge(key, user)
            except KeyError as exc:  # acknowledged and cleared meanwhile
                raise IllegalInState(str(exc.args[0])) from exc
        await self.commit(AlarmAcked(operator=user, result=key, data=alarm.to_dict()))

    async def answer(self, kind: PromptKind, value: str, user: str, role: str) -> None:
        """Answer the open prompt: manual_vin, checklist ('done'), verdict, measurement (a
        number within the quantity's physical range, else refused and still asked),
        finding (a code of the catalogue and a note, or 'none'; any other code refused,
        invalid_argument, and still asked), attribute (yes or no: a route attribute found
        on the way), confirm_step."""
        action = {
            "manual_vin": "manual_vin",
            "verdict": "verdict",
            "measurement": "measure",
            "finding": "finding",
        }.get(kind, "confirm")
        async with self._refusals(user, role, action, value):
            roles.check(user, role, action)
            prompt = self.prompts.current
            if prompt is not None and prompt.kind == kind:
                if role not in prompt.roles:
                    raise roles.NotAuthorized(user, role, action)
                if prompt.options and value not in prompt.options:
                    options = ", ".join(prompt.options)
                    raise InvalidArgument(
                        f"answer must be one of {options} (got {bounded(value)!r})"
                    )
                if prompt.check is not None and (why := prompt.check(value)) is not None:
                    # a finding's code not in the catalogue is not a number out of range
                    refusal = InvalidArgument if kind == "finding" else OutOfRange
                    raise refusal(f"{prompt.name or kind}: {bounded(why)}; enter it again")
            await self._taken(user, role, action, value)
            try:
                self.prompts.answer(kind, value, user, role)
            except WrongPrompt as exc:
                raise IllegalInState(str(exc)) from exc

    async def override(self, what: str, reason: str, user: str, role: str) -> None:
        """A supervisor accepts an incomplete photo session, with a reason."""
        async with self._refusals(user, role, "override", f"{what}: {reason}"):
            roles.check(user, role, "override")
            if what != "photo_session":
                raise InvalidArgument(
                    f"no override for {bounded(what)!r}: only photo_session can be overridden"
                )
            if not reason.strip():
                raise InvalidArgument("an override needs a reason")
            await self._taken(user, role, "override", f"{what}: {reason}")
            if self.visit is None or self.visit.vin is None:
                raise IllegalInState("no vehicle in the station")
        await self.commit(
            Override(vin=self.vin, operator=user, data={"what": what, "reason": bounded(reason)})
        )

    async def dispose(self, action: str, reason: str, user: str, role: str) -> None:
        """A supervisor decides on a held vehicle: `retry` the failed step, or
        `remove` it from the station (its record ends as held)."""
        async with self._refusals(user, role, "dispose", f"{action}: {reason}"):
            roles.check(user, role, "dispose")
            if action not in ("retry", "remove"):
                raise InvalidArgument(
                    f"disposition must be retry or remove (got {bounded(action)!r})"
                )
            await self._taken(user, role, "dispose", f"{action}: {reason}")
            if self.machine.state is not State.HELD or self.visit is None:
                raise IllegalInState(f"dispose needs a held vehicle (state {self.machine.state})")
        await self.commit(
            Disposition(
                vin=self.vin, operator=user, data={"action": action, "reason": bounded(reason)}
            )
        )
        if action == "remove":
            await self._end_cycle("held")
            self._removed = True
        await self.machine.command(Command.UNHOLD, f"{user}: {action}")

    async def set_mode(self, mode: str, user: str, role: str) -> None:
        """Change the unit mode (production, manual, maintenance). Leaving maintenance
        drops every force (`Station`, on the mode change)."""
        async with self._refusals(user, role, "mode", mode):
            roles.check(user, role, "mode")
            try:
                unit_mode = UnitMode(mode)
            except ValueError:
                modes = ", ".join(UnitMode)
                raise InvalidArgument(f"no unit mode {bounded(mode)!r} (modes: {modes})") from None
            await self._taken(user, role, "mode", mode)
            try:
                await self.machine.set_mode(unit_mode, user)
            except IllegalModeChange as exc:
                raise IllegalInState(str(exc)) from exc

    async def force_output(self, name: str, value: int, user: str, role: str) -> None:
        """Maintenance only: write an output by hand (journaled first). Forces last until
        the station leaves maintenance mode."""
        detail = f"{name}={value}"
        async with self._refusals(user, role, "force_output", detail):
            roles.check(user, role, "force_output")
            self._check_output(name, value)
            await self._taken(user, role, "force_output", detail)
            if self.machine.mode is not UnitMode.MAINTENANCE:
                raise IllegalInState(
                    f"outputs may be forced in maintenance mode only (mode {self.machine.mode})"
                )
            await self.commit(OutputForced(operator=user, data={name: value}))
            try:
                await self.devices.plc_with_output(name).write(name, value)
            except DeviceError as exc:
                raise DeviceRefused(str(exc)) from exc
            self.forced[name] = value

    def _check_output(self, name: object, value: object) -> None:
        """An output the station has, and a value its table takes."""
        outputs = self.devices.output_names()
        if not isinstance(name, str) or name not in outputs:
            raise InvalidArgument(f"no output {bounded(name)!r} (outputs: {', '.join(outputs)})")
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(
                f"the value of {name} must be an integer (got {bounded(value)!r})"
            )
        point = output_point(self.config.model, name)
        top = 1 if point.table == "coil" else 65535
        if not 0 <= value <= top:
            raise OutOfRange(f"{name} is a {point.table}: it takes 0..{top}, not {value}")
