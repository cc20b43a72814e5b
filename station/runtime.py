"""The station runtime: the PackML machine, the cycle, the journal, the people.

One `Station` per station process. It owns:

- the state machine (`station.fsm`), whose single after-change hook journals
  the change, starts the work of acting states (Resetting, Starting,
  Holding, Stopping, Aborting, Clearing ...) in a task that completes the
  state when done, and starts or cancels the cycle task on entering or
  leaving Execute;
- the cycle task, which runs the configured steps (`station.cycle`) for the
  vehicle in the station, resuming a visit restored from the journal
  (`station.visit`) at the step it was in; a step is given a
  `station.step_context.StepContext`, never the station;
- the journal: every event is committed before the output it causes, and
  folded into the visit right after (so memory never runs ahead of disk);
- the alarms and the open prompt (a question to an operator or inspector);
- the commands people and the plant issue (through the OPC UA interface):
  each is checked against the user's role and journaled with the user,
  refused or not (`station.control`, a part of `Station`);
- the status snapshot (`station.snapshot`).

Events are journaled as typed entries (`station.events`) with `commit`.

Device links and outputs (`station.links`, a part of `Station`): a link down
(lost, or not up since the start) raises a critical alarm and, when the station
is running, aborts it (or holds it, per `on_device_loss`); Aborting writes
every output's safe value where the link still allows; Clearing waits for
the links to come back; an operator's reset and start then resume the
vehicle at the step it was in. Leaving maintenance mode drops every force.

Config swap (`station.config_swap`, a part of `Station`): a new config is
validated first (a failing one never replaces the running one), then taken
only while no vehicle is in the station. Both outcomes are journaled with the
hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from hal.errors import DeviceError
from station import cycle
from station.alarms import AlarmList, Priority
from station.config.loader import LoadedStation
from station.config.models import WaitInputStep
from station.config_swap import CONNECT_TIMEOUT_S, ConfigSwap, DeviceFactory
from station.control import (
    Control,
    DeviceRefused,
    IllegalInState,
    InvalidArgument,
    OutOfRange,
    Refused,
)
from station.defects import DefectRecord, NoDefectRecord
from station.devices import DeviceSet, NotConnected
from station.events import (
    AlarmCleared,
    AlarmRaised,
    CycleEnded,
    CycleStarted,
    Entry,
    EventKind,
    Fault,
    Hold,
    StateChanged,
    StationStarted,
    StationStopped,
    StepDone,
    StepStarted,
)
from station.fsm import MODE_TRIGGER, Command, IllegalCommand, State, StationMachine, UnitMode
from station.journal import Event, Journal, JournalFull, JournalStorageError
from station.journal_care import JournalCare
from station.links import Links
from station.prompts import Prompts
from station.readings import Readings
from station.route import RouteSnapshot
from station.snapshot import StationView, build_status
from station.status import Status
from station.step_context import (
    NoOrders,
    Orders,
    StepContext,
    StepFailed,
    StepReport,
    device_failure,
)
from station.visit import VISIT_KINDS, Visit, restore

__all__ = [
    "DeviceFactory",
    "DeviceRefused",
    "IllegalInState",
    "InvalidArgument",
    "OutOfRange",
    "Refused",
    "Station",
]
"""What callers import from here (`Refused` and its kinds live with the commands,
`DeviceFactory` with the config swap)."""

DISK_LOW_BYTES = 64 * 1024 * 1024
"""Below this much free space the station raises an alarm and accepts no new vehicle."""


class Station(Control, ConfigSwap, Links, JournalCare):
    """One station: see the module docstring."""

    def __init__(
        self,
        config: LoadedStation,
        journal: Journal,
        devices: DeviceSet,
        *,
        device_factory: DeviceFactory | None = None,
        orders: Orders | None = None,
        defects: DefectRecord | None = None,
        time_scale: float = 1.0,
        autostart: bool = False,
        disk_low_bytes: int = DISK_LOW_BYTES,
    ) -> None:
        self.config = config
        self.disk_low_bytes = disk_low_bytes
        self.name = config.model.station
        self.route = RouteSnapshot.from_line(config.line.model)
        self.journal = journal
        self.devices = devices
        self.device_factory = device_factory
        self.orders: Orders = orders or NoOrders()
        self.defects: DefectRecord = defects or NoDefectRecord()
        self.time_scale = time_scale
        self.autostart = autostart
        self.machine = StationMachine(initial=State.STOPPED)
        self.machine.on_change(self._on_state)
        self.alarms = AlarmList()
        self.prompts = Prompts(on_change=self.changed)
        self.visit: Visit | None = None
        self.counts: Counter[str] = Counter()
        self.report = StepReport(changed=self.changed)
        """The running step's progress, and whether the vehicle waits to leave."""
        self.pending_config: LoadedStation | None = None
        self.log = structlog.get_logger("station").bind(station=self.name)
        self._cycle_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[Event], None]] = []
        self._swap_lock = asyncio.Lock()
        self._stopping = False
        self._journal_failure: str | None = None
        """Why the journal refused an append (its files failed); None while it works."""
        self.forced: dict[str, int] = {}
        """Outputs forced in maintenance mode, with their value (dropped on leaving it)."""
        self._mode = self.machine.mode
        """The unit mode as of the last change journaled."""
        self._removed = False
        """A held vehicle was removed: the next cycle waits until the station is empty."""
        self._recover()

    # --- lifecycle -----------------------------------------------------------------

    def _recover(self) -> None:
        """The vehicle in the station and the counts, from the journal."""
        self.journal.config_hash = self.config.content_hash
        events = self.journal.events()
        self.visit = restore(events)
        self.readings = Readings.of(events)
        ended = (e.result or "" for e in events if e.kind == EventKind.CYCLE_ENDED)
        self.counts.update(ended)
        self.counts["cycles"] = sum(self.counts[k] for k in ("passed", "failed", "rework", "held"))

    async def start(self) -> None:
        """Start the devices and (autostart) run. The visit was restored from the journal
        at construction, so a simulated world can put the vehicle back first."""
        self._watch_links()
        await self.commit(
            StationStarted(
                vin=self.visit.vin if self.visit else None,
                data={
                    "route": self.route.label,
                    "config": str(self.config.path),
                    "resumed_step": self.visit.step_index if self.visit else None,
                },
            )
        )
        await self.devices.start()
        if self.config.model.journal.anchor_key is not None:
            self._spawn(self._anchor_every(), "anchor")
        if self.autostart:
            await self.machine.command(Command.RESET, "autostart")

    async def stop(self) -> None:
        """Stop every task and device; the journal stays open for the caller to close."""
        self._stopping = True  # links going down now are the shutdown, not a fault
        await self._cancel_cycle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.devices.stop()
        with contextlib.suppress(JournalFull, JournalStorageError):
            await self.commit(StationStopped(result=str(self.machine.state)))
            await self._anchor()

    # --- journal, status ---------------------------------------------------------------

    async def commit(self, entry: Entry) -> Event:
        """Commit an event, then fold it into the visit and tell the listeners."""
        return await self.record(entry.KIND, **entry.fields())

    async def commit_if_possible(self, entry: Entry) -> Event | None:
        """`commit` for what goes on even when the journal cannot take it (a state change,
        the safe state, an alarm): a full or failed journal is logged, not raised; it is
        alarmed where it was raised, and the safe state above all must not wait on it."""
        try:
            return await self.commit(entry)
        except (JournalFull, JournalStorageError) as exc:
            self.log.error("not_journaled", kind=str(entry.KIND), error=str(exc))
            self.changed()  # what changed is still shown (the state, an alarm)
            return None

    def commit_later(self, entry: Entry) -> None:
        """`commit_if_possible` for a synchronous caller (a callback of the plant link)."""
        self._spawn(self.commit_if_possible(entry), f"journal:{entry.KIND}")

    async def record(self, kind: str, **fields: Any) -> Event:
        """`commit` for a caller without an entry: `kind` must be an `EventKind` value
        (ValueError otherwise) and `fields` the columns and data its entry declares."""
        kind = EventKind(kind)
        try:
            event = await self.journal.append(kind.value, **fields)
        except JournalStorageError as exc:
            self._journal_failed(exc)
            raise
        if kind is EventKind.CYCLE_STARTED:
            self.visit = Visit.begin(CycleStarted.of(event))
        elif self.visit is not None and kind in VISIT_KINDS:
            self.visit.apply(event)
        self.readings.apply(event)
        for listener in self._event_listeners:
            listener(event)
        self.changed()
        return event

    def on_event(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` with every event, right after it is committed."""
        self._event_listeners.append(listener)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every change of the station's status; returns the
        function that unregisters it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    @property
    def vin(self) -> str | None:
        return self.visit.vin if self.visit is not None else None

    @property
    def state(self) -> State:
        return self.machine.state

    @property
    def starved(self) -> bool:
        """Running but no vehicle: waiting for upstream."""
        visit = self.visit
        return self.state is State.EXECUTE and (
            visit is None or (visit.vin is None and visit.step_index == 0)
        )

    @property
    def idle(self) -> bool:
        """No vehicle in the station (the config may be swapped)."""
        return self.visit is None or (self.visit.vin is None and not self.visit.step_running)

    # --- alarms -------------------------------------------------------------------------

    def alarms_raise(self, key: str, priority: Priority, text: str) -> None:
        alarm = self.alarms.raise_(key, priority, text)
        if alarm is not None:
            self.log.warning("alarm", key=key, text=text, priority=int(priority))
            self._spawn(
                self.commit_if_possible(AlarmRaised(result=key, data=alarm.to_dict())), "alarm"
            )

    def alarms_clear(self, key: str) -> None:
        if self.alarms.clear(key) is not None:
            self._spawn(self.commit_if_possible(AlarmCleared(result=key)), "alarm")

    # --- state machine hook and acting states ---------------------------------------------

    async def _on_state(self, old: State, new: State, trigger: str, reason: str) -> None:
        await self.commit_if_possible(
            StateChanged(
                result=str(new), data={"from": str(old), "trigger": trigger, "reason": reason}
            )
        )
        self.log.info("state", old=str(old), new=str(new), trigger=trigger, reason=reason)
        if trigger == MODE_TRIGGER:
            left, self._mode = self._mode, self.machine.mode
            if left is UnitMode.MAINTENANCE:
                await self._release_forces(reason, self._mode)
        if old is State.EXECUTE and new is not State.EXECUTE:
            self._interrupt_cycle()
        if new is State.EXECUTE:
            self._start_cycle()
        elif self.machine.is_acting(new):
            self._spawn(self._act(new), f"act:{new}")

    async def _act(self, state: State) -> None:
        """The work of an acting state, then its state-complete."""
        if state in (State.ABORTING, State.STOPPING):
            await self._enter_safe_state()
        elif state is State.STARTING:
            try:
                await self.devices.wait_connected(CONNECT_TIMEOUT_S * self.time_scale + 1.0)
            except NotConnected as exc:
                self.alarms_raise("start", Priority.CRITICAL, str(exc))
                await self._command_system(Command.ABORT, str(exc))
                return
        elif state is State.CLEARING:
            await self._wait_links()
        elif state is State.RESETTING:
            self.alarms_clear("start")
        with contextlib.suppress(IllegalCommand):
            new = await self.machine.state_complete(f"{state} done", of=state)
            if new is State.IDLE and self.autostart and self.machine.mode is UnitMode.PRODUCTION:
                await self.machine.command(Command.START, "autostart")

    async def _command_system(self, command: Command, reason: str) -> None:
        try:
            await self.machine.command(command, reason)
        except IllegalCommand as exc:
            self.log.info("system_command_not_taken", command=str(command), reason=str(exc))

    # --- the cycle task ---------------------------------------------------------------------

    def _start_cycle(self) -> None:
        if self._cycle_task is None or self._cycle_task.done():
            self._cycle_task = asyncio.create_task(self._run_cycles(), name=f"cycle:{self.name}")

    def _interrupt_cycle(self) -> None:
        """Leaving Execute: cancel the cycle task (unless it is the one leaving)."""
        task = self._cycle_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _cancel_cycle(self) -> None:
        """Stopping the station: cancel the cycle task and wait until it has ended."""
        task, self._cycle_task = self._cycle_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_cycles(self) -> None:
        while True:
            try:
                await self._one_cycle()
            except StepFailed as failure:
                await self._on_failure(failure)
                return
            except DeviceError as exc:  # between steps: resuming, waiting for an empty station
                await self._on_failure(device_failure(exc, "between vehicles"))
                return
            except JournalFull as exc:
                self.alarms_raise("disk", Priority.CRITICAL, str(exc))
                self._spawn(self._command_system(Command.ABORT, str(exc)), "disk_full")
                return
            except JournalStorageError:
                return  # `record` raised the alarm and aborts the station

    async def _one_cycle(self) -> None:
        if self.visit is None:
            await self._before_vehicle()
            number = self.counts["cycles"] + 1
            await self.commit(CycleStarted(data={"cycle": number}))
        elif self.visit.outputs:
            # Resuming (after a hold, an abort or a restart): the PLC may have put its
            # outputs to safe values meanwhile; assert again what this visit had set.
            outputs = dict(self.visit.outputs)
            await cycle.set_outputs(self.commit, self.devices, self.vin, outputs, "resume")
        visit = self.visit
        assert visit is not None
        context = self._step_context(visit)
        steps = self.config.model.cycle
        for index in range(visit.step_index, len(steps)):
            step = steps[index]
            if self.machine.mode is UnitMode.MANUAL:
                await self.prompts.ask(
                    "confirm_step",
                    f"run step {index + 1}/{len(steps)}: {step.label or step.step}",
                    frozenset({"operator", "supervisor"}),
                    options=("go",),
                    item=index,
                )
            self.report.progress = 0.0
            await self.commit(StepStarted(vin=visit.vin, step=f"{index}:{step.step}"))
            await cycle.run_step(context, index, step)
            await self.commit(StepDone(vin=self.vin, step=f"{index}:{step.step}", result="ok"))
        result = "rework" if visit.rework else visit.outcome
        await self._end_cycle(result)

    def _step_context(self, visit: Visit) -> StepContext:
        """What the steps get for this vehicle (the config and devices do not change
        while a vehicle is in the station)."""
        return StepContext(
            station=self.config.model,
            route=self.route,
            visit=visit,
            devices=self.devices,
            prompts=self.prompts,
            orders=self.orders,
            defects=self.defects,
            record=self.commit,
            raise_alarm=self.alarms_raise,
            clear_alarm=self.alarms_clear,
            report=self.report,
            time_scale=self.time_scale,
            log=self.log,
        )

    async def _end_cycle(self, result: str) -> None:
        await self.commit(CycleEnded(vin=self.vin, result=result))
        self.counts[result] += 1
        self.counts["cycles"] += 1
        self.visit = None
        self.changed()

    async def _before_vehicle(self) -> None:
        """Between vehicles: wait until a removed vehicle is really gone, take a pending
        config, refuse vehicles while the disk is low."""
        first = self.config.model.cycle[0]
        if self._removed and isinstance(first, WaitInputStep):
            # the arrival input must first read 'empty', or the next cycle would take
            # the removed vehicle (still in front of the photo-eye) for a new one
            plc = self.devices.plc_with_input(first.input)
            await plc.wait_for(first.input, 0 if first.value else 1, None)
        self._removed = False
        if self.pending_config is not None:
            await self._apply_config()
        while (free := self.journal.free_bytes()) < self.disk_low_bytes:
            self.alarms_raise(
                "disk",
                Priority.CRITICAL,
                f"journal disk almost full ({free // 1024} KiB left): no new vehicle accepted",
            )
            await asyncio.sleep(5.0)
        self.alarms_clear("disk")

    async def _on_failure(self, failure: StepFailed) -> None:
        vin = self.vin or failure.vin
        entry = Hold if failure.action == "hold" else Fault
        data = {"message": failure.message, **failure.data}
        await self.commit(entry(vin=vin, result=failure.kind, data=data))
        self.alarms_raise(f"{failure.kind}:{vin or self.name}", failure.priority, failure.message)
        command = Command.HOLD if failure.action == "hold" else Command.ABORT
        self._spawn(self._command_system(command, failure.message), "step_failed")

    # --- status snapshot ------------------------------------------------------------------------

    def status(self) -> Status:
        """Everything the console and SCADA show, as plain data."""
        return build_status(
            StationView(
                config=self.config,
                route=self.route,
                machine=self.machine,
                visit=self.visit,
                report=self.report,
                prompts=self.prompts,
                readings=self.readings,
                alarms=self.alarms,
                counts=self.counts,
                starved=self.starved,
                devices=self.devices,
            )
        )

    # --- tasks ----------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task_failed", task=task.get_name(), error=repr(task.exception()))
