"""The station's device links and outputs: link alarms, the reaction to a lost link,
safe values, and the forces of maintenance mode.

- A link down raises a critical alarm `link:NAME` until it is up again: a link lost
  while running, and a link whose first attempt after the station's start failed (a
  station whose PLC is down is served and shows why; it is not restarted in a loop).
- A link lost while the station runs aborts it (or holds it, per `on_device_loss`).
- Aborting and stopping write every output's safe value where the link allows;
  Clearing waits for the links to come back.
- Leaving maintenance mode drops every force: every output goes back to its
  configured (safe) value, journaled first (`ForcesReleased`).

`Links` is a part of `station.runtime.Station`: what it uses of the station is
declared at its top.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from hal.interfaces import Device
from hal.link import LinkState
from station.alarms import Priority
from station.config.loader import LoadedStation
from station.cycle import safe_value
from station.devices import DeviceSet
from station.events import Entry, ForcesReleased, SafeState
from station.fsm import Command, State, UnitMode
from station.journal import Event

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from structlog.typing import FilteringBoundLogger

STOPPED_STATES = frozenset(
    {State.STOPPED, State.STOPPING, State.ABORTING, State.ABORTED, State.CLEARING, State.IDLE}
)
"""States in which a lost link changes nothing but the alarm."""


class Links:
    """Device links and outputs; see the module docstring."""

    config: LoadedStation
    devices: DeviceSet
    forced: dict[str, int]
    log: FilteringBoundLogger
    _stopping: bool

    if TYPE_CHECKING:

        @property
        def state(self) -> State: ...

        async def commit(self, entry: Entry) -> Event: ...

        async def commit_if_possible(self, entry: Entry) -> Event | None: ...

        def alarms_raise(self, key: str, priority: Priority, text: str) -> None: ...

        def alarms_clear(self, key: str) -> None: ...

        def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...

        async def _command_system(self, command: Command, reason: str) -> None: ...

    def _watch_links(self) -> None:
        """Follow every device's link from now on (the station starts, new devices)."""
        for name, device in self.devices.all.items():
            device.link.on_change(functools.partial(self._on_link, name))
            self._spawn(self._first_link(name, device), f"first_link:{name}")

    async def _first_link(self, name: str, device: Device) -> None:
        """Alarm a device whose first connection attempt failed (later losses: `_on_link`)."""
        await device.link.wait_tried()
        state = device.link.state
        if not state.up and not self._stopping:
            self.alarms_raise(
                f"link:{name}", Priority.CRITICAL, f"{name} link down: {state.reason}"
            )

    def _on_link(self, name: str, state: LinkState) -> None:
        if self._stopping:
            return
        key = f"link:{name}"
        if state.up:
            self.alarms_clear(key)
            return
        self.alarms_raise(key, Priority.CRITICAL, f"{name} link lost: {state.reason}")
        if self.state in STOPPED_STATES:
            return
        hold = self.config.model.on_device_loss == "hold" and self.state is State.EXECUTE
        command = Command.HOLD if hold else Command.ABORT
        self._spawn(self._command_system(command, f"{name} link lost"), "device_loss")

    async def _wait_links(self) -> None:
        while down := self.devices.down():
            name = next(iter(down))
            await self.devices.all[name].link.wait_up()

    async def _write_safe(self) -> list[str]:
        """Every output to its safe value, as far as the links allow; the names not written."""
        not_written: list[str] = []
        for name, plc in self.devices.plcs.items():
            failed = await plc.write_safe()
            if failed:
                self.log.warning("safe_values_not_written", plc=name, outputs=failed)
            not_written += failed
        return not_written

    async def _enter_safe_state(self) -> None:
        await self._write_safe()
        await self.commit_if_possible(SafeState(result="outputs to safe values"))

    async def _release_forces(self, user: str, mode: UnitMode) -> None:
        """Leaving maintenance: journal, then every output to its configured value."""
        outputs = {
            name: safe_value(self.config.model, name) for name in self.devices.output_names()
        }
        forced, self.forced = self.forced, {}
        await self.commit(
            ForcesReleased(
                operator=user, result=str(mode), data={"forced": forced, "outputs": outputs}
            )
        )
        not_written = await self._write_safe()
        if not_written:
            self.alarms_raise(
                "forces",
                Priority.HIGH,
                f"outputs not put back after maintenance: {', '.join(not_written)}",
            )
        else:
            self.alarms_clear("forces")
