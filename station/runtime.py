"""The station runtime: the PackML machine, the cycle, the journal, the people.

One `Station` per station process. It owns:

- the state machine (`station.fsm`), whose single after-change hook journals
  the change, starts the work of acting states (Resetting, Starting,
  Holding, Stopping, Aborting, Clearing ...) in a task that completes the
  state when done, and starts or cancels the cycle task on entering or
  leaving Execute;
- the cycle task, which runs the configured steps (`station.cycle`) for the
  vehicle in the station, resuming a visit restored from the journal
  (`station.visit`) at the step it was in;
- the journal: every event is committed before the output it causes, and
  folded into the visit right after (so memory never runs ahead of disk);
- the alarms and the open prompt (a question to an operator or inspector);
- the commands people and the plant issue (through the OPC UA interface):
  each is checked against the user's role and journaled with the user,
  refused or not.

Device loss: a link going down raises a critical alarm and, when the station
is running, aborts it (or holds it, per `on_device_loss`); Aborting writes
every output's safe value where the link still allows; Clearing waits for
the links to come back; an operator's reset and start then resume the
vehicle at the step it was in.

Config swap: a new config is validated first (a failing one never replaces
the running one), then taken only while no vehicle is in the station. Both
outcomes are journaled with the hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import structlog

from hal.errors import DeviceError
from hal.link import LinkState
from station import cycle, roles
from station import tag as tagfmt
from station.alarms import AlarmList, Priority
from station.config.loader import ConfigError, LoadedStation, load_station
from station.config.models import WaitInputStep
from station.devices import DeviceSet, NotConnected
from station.fsm import Command, IllegalCommand, State, StationMachine, UnitMode
from station.journal import Event, Journal, JournalFull
from station.prompts import PromptKind, Prompts
from station.route import RouteSnapshot
from station.status import RouteStop, Status
from station.visit import VISIT_KINDS, Visit, restore

SYSTEM = "station"
"""The user name of the runtime's own actions."""

DISK_LOW_BYTES = 64 * 1024 * 1024
"""Below this much free space the station raises an alarm and accepts no new vehicle."""

CONNECT_TIMEOUT_S = 10.0
"""Starting waits this long for every device link before it aborts."""


class Orders(Protocol):
    """The plant's order data for a VIN (the line simulator's scenario, or an MES)."""

    def attributes(self, vin: str) -> frozenset[str]: ...

    def model(self, vin: str) -> str: ...


class NoOrders:
    """No order system: no vehicle attributes at intake, no model names."""

    def attributes(self, vin: str) -> frozenset[str]:
        return frozenset()

    def model(self, vin: str) -> str:
        return ""


class Refused(Exception):
    """A command that was not carried out, with the reason (journaled)."""


DeviceFactory = Callable[[LoadedStation], DeviceSet]


class Station:
    """One station: see the module docstring."""

    def __init__(
        self,
        config: LoadedStation,
        journal: Journal,
        devices: DeviceSet,
        *,
        device_factory: DeviceFactory | None = None,
        orders: Orders | None = None,
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
        self.time_scale = time_scale
        self.autostart = autostart
        self.machine = StationMachine(initial=State.STOPPED)
        self.machine.on_change(self._on_state)
        self.alarms = AlarmList()
        self.prompts = Prompts(on_change=self.changed)
        self.visit: Visit | None = None
        self.counts: Counter[str] = Counter()
        self.step_progress = 0.0
        self.blocked = False
        self.pending_config: LoadedStation | None = None
        self.log = structlog.get_logger("station").bind(station=self.name)
        self.started_at = time.monotonic()
        self._cycle_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[Event], None]] = []
        self._swap_lock = asyncio.Lock()
        self._stopping = False
        self._removed = False
        """A held vehicle was removed: the next cycle waits until the station is empty."""
        self._recover()

    # --- lifecycle -----------------------------------------------------------------

    def _recover(self) -> None:
        """The vehicle in the station and the counts, from the journal."""
        self.journal.config_hash = self.config.content_hash
        events = self.journal.events()
        self.visit = restore(events)
        self.counts.update(e.result or "" for e in events if e.kind == "cycle_ended")
        self.counts["cycles"] = sum(self.counts[k] for k in ("passed", "failed", "rework", "held"))

    async def start(self) -> None:
        """Start the devices and (autostart) run. The visit was restored from the journal
        at construction, so a simulated world can put the vehicle back first."""
        self._watch_links()
        await self.record(
            "station_started",
            vin=self.visit.vin if self.visit else None,
            data={
                "route": self.route.label,
                "config": str(self.config.path),
                "resumed_step": self.visit.step_index if self.visit else None,
            },
        )
        await self.devices.start()
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
        with contextlib.suppress(JournalFull):
            await self.record("station_stopped", result=str(self.machine.state))

    # --- journal, status ---------------------------------------------------------------

    async def record(self, kind: str, **fields: Any) -> Event:
        """Commit an event, then fold it into the visit and tell the listeners."""
        event = await self.journal.append(kind, **fields)
        if kind == "cycle_started":
            self.visit = Visit(cycle=int(event.data["cycle"]))
        elif self.visit is not None and kind in VISIT_KINDS:
            self.visit.apply(event)
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

    def attributes_of(self, vin: str) -> frozenset[str]:
        return self.orders.attributes(vin)

    def model_of(self, vin: str) -> str:
        return self.orders.model(vin)

    def safe_value(self, output: str) -> int:
        for device in self.config.model.devices.values():
            outputs = getattr(device, "outputs", {})
            if output in outputs:
                return int(outputs[output].safe)
        raise KeyError(output)

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
            self._spawn(self.record("alarm_raised", result=key, data=alarm.to_dict()), "alarm")

    def alarms_clear(self, key: str) -> None:
        if self.alarms.clear(key) is not None:
            self._spawn(self.record("alarm_cleared", result=key), "alarm")

    # --- state machine hook and acting states ---------------------------------------------

    async def _on_state(self, old: State, new: State, trigger: str, reason: str) -> None:
        await self.record(
            "state", result=str(new), data={"from": str(old), "trigger": trigger, "reason": reason}
        )
        self.log.info("state", old=str(old), new=str(new), trigger=trigger, reason=reason)
        if old is State.EXECUTE and new is not State.EXECUTE:
            self._stop_cycle()
        if new is State.EXECUTE:
            self._start_cycle()
        elif self.machine.is_acting(new):
            self._spawn(self._act(new), f"act:{new}")

    async def _act(self, state: State) -> None:
        """The work of an acting state, then its state-complete."""
        if state in (State.ABORTING, State.STOPPING):
            await self._write_safe()
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

    async def _write_safe(self) -> None:
        for name, plc in self.devices.plcs.items():
            not_written = await plc.write_safe()
            if not_written:
                self.log.warning("safe_values_not_written", plc=name, outputs=not_written)
        await self.record("safe_state", result="outputs to safe values")

    async def _wait_links(self) -> None:
        while down := self.devices.down():
            name = next(iter(down))
            await self.devices.all[name].link.wait_up()

    def _watch_links(self) -> None:
        for name, device in self.devices.all.items():
            device.link.on_change(functools.partial(self._on_link, name))

    def _on_link(self, name: str, state: LinkState) -> None:
        if self._stopping:
            return
        key = f"link:{name}"
        if state.up:
            self.alarms_clear(key)
            return
        self.alarms_raise(key, Priority.CRITICAL, f"{name} link lost: {state.reason}")
        running = self.state not in (
            State.STOPPED,
            State.STOPPING,
            State.ABORTING,
            State.ABORTED,
            State.CLEARING,
            State.IDLE,
        )
        if not running:
            return
        hold = self.config.model.on_device_loss == "hold" and self.state is State.EXECUTE
        command = Command.HOLD if hold else Command.ABORT
        self._spawn(self._command_system(command, f"{name} link lost"), "device_loss")

    async def _command_system(self, command: Command, reason: str) -> None:
        try:
            await self.machine.command(command, reason)
        except IllegalCommand as exc:
            self.log.info("system_command_not_taken", command=str(command), reason=str(exc))

    # --- the cycle task ---------------------------------------------------------------------

    def _start_cycle(self) -> None:
        if self._cycle_task is None or self._cycle_task.done():
            self._cycle_task = asyncio.create_task(self._run_cycles(), name=f"cycle:{self.name}")

    def _stop_cycle(self) -> None:
        task = self._cycle_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _cancel_cycle(self) -> None:
        task, self._cycle_task = self._cycle_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_cycles(self) -> None:
        while True:
            try:
                await self._one_cycle()
            except cycle.StepFailed as failure:
                await self._on_failure(failure)
                return
            except DeviceError as exc:  # between steps: resuming, waiting for an empty station
                await self._on_failure(cycle.device_failure(exc, "between vehicles"))
                return
            except JournalFull as exc:
                self.alarms_raise("disk", Priority.CRITICAL, str(exc))
                self._spawn(self._command_system(Command.ABORT, str(exc)), "disk_full")
                return

    async def _one_cycle(self) -> None:
        if self.visit is None:
            await self._before_vehicle()
            number = self.counts["cycles"] + 1
            await self.record("cycle_started", data={"cycle": number})
        elif self.visit.outputs:
            # Resuming (after a hold, an abort or a restart): the PLC may have put its
            # outputs to safe values meanwhile; assert again what this visit had set.
            await cycle.set_outputs(self, dict(self.visit.outputs), "resume")
        visit = self.visit
        assert visit is not None
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
            self.step_progress = 0.0
            await self.record("step_started", vin=visit.vin, step=f"{index}:{step.step}")
            await cycle.run_step(self, index, step)
            await self.record("step_done", vin=self.vin, step=f"{index}:{step.step}", result="ok")
        result = "rework" if visit.rework else cycle.outcome(self)
        await self._end_cycle(result)

    async def _end_cycle(self, result: str) -> None:
        await self.record("cycle_ended", vin=self.vin, result=result)
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

    async def _on_failure(self, failure: cycle.StepFailed) -> None:
        vin = self.vin or failure.vin
        await self.record(
            "hold" if failure.action == "hold" else "fault",
            vin=vin,
            result=failure.kind,
            data={"message": failure.message, **failure.data},
        )
        self.alarms_raise(f"{failure.kind}:{vin or self.name}", failure.priority, failure.message)
        command = Command.HOLD if failure.action == "hold" else Command.ABORT
        self._spawn(self._command_system(command, failure.message), "step_failed")

    # --- commands from people and the plant -----------------------------------------------------

    async def _authorize(self, user: str, role: str, action: str, detail: str = "") -> None:
        try:
            roles.check(user, role, action)
        except roles.NotAuthorized as exc:
            await self.record(
                "refused", operator=user, result=action, data={"role": role, "why": str(exc)}
            )
            raise
        await self.record(
            "command", operator=user, result=action, data={"role": role, "detail": detail}
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
            await self.record("refused", operator=user, result=cmd.value, data={"why": str(exc)})
            raise Refused(str(exc)) from exc

    async def acknowledge(self, key: str, user: str, role: str) -> None:
        await self._authorize(user, role, "acknowledge", key)
        try:
            alarm = self.alarms.acknowledge(key, user)
        except KeyError as exc:
            raise Refused(str(exc.args[0])) from exc
        await self.record("alarm_acked", operator=user, result=key, data=alarm.to_dict())

    async def answer(self, kind: PromptKind, value: str, user: str, role: str) -> None:
        """Answer the open prompt: manual_vin, checklist ('done'), verdict, confirm_step."""
        action = {"manual_vin": "manual_vin", "verdict": "verdict"}.get(kind, "confirm")
        await self._authorize(user, role, action, value)
        prompt = self.prompts.current
        if prompt is not None and prompt.kind == kind and role not in prompt.roles:
            await self.record("refused", operator=user, result=action, data={"role": role})
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
        await self.record(
            "override", vin=self.vin, operator=user, data={"what": what, "reason": reason}
        )

    async def dispose(self, action: str, reason: str, user: str, role: str) -> None:
        """A supervisor decides on a held vehicle: `retry` the failed step, or
        `remove` it from the station (its record ends as held)."""
        await self._authorize(user, role, "dispose", f"{action}: {reason}")
        if self.state is not State.HELD or self.visit is None:
            raise Refused(f"dispose needs a held vehicle (state {self.state})")
        if action not in ("retry", "remove"):
            raise Refused(f"disposition must be retry or remove (got {action!r})")
        await self.record(
            "disposition", vin=self.vin, operator=user, data={"action": action, "reason": reason}
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
        if name not in self.devices.output_names():
            raise Refused(f"no output {name!r} (outputs: {', '.join(self.devices.output_names())})")
        try:
            await cycle.set_outputs(self, {name: value}, "forced", operator=user)
        except DeviceError as exc:
            raise Refused(str(exc)) from exc

    # --- config swap ------------------------------------------------------------------------

    async def request_config(self, path: Path | str, user: str = SYSTEM, role: str = "") -> str:
        """Validate a new config; take it now if no vehicle is in the station, else
        after the vehicle leaves. A config that fails validation changes nothing."""
        if user != SYSTEM:
            await self._authorize(user, role, "swap_config", str(path))
        try:
            new = load_station(path)
            if new.model.station != self.name:
                raise Refused(f"{path} is for station {new.model.station}, not {self.name}")
        except (ConfigError, Refused) as exc:
            errors = [str(i) for i in exc.issues] if isinstance(exc, ConfigError) else [str(exc)]
            await self.record(
                "config_rejected",
                operator=user,
                data={"path": str(path), "errors": errors, "running": self.config.content_hash},
            )
            self.alarms_raise("config", Priority.MEDIUM, f"config {path} rejected: {errors[0]}")
            raise
        self.alarms_clear("config")
        self.pending_config = new
        await self.record(
            "config_pending",
            operator=user,
            data={"path": str(path), "new": new.content_hash, "running": self.config.content_hash},
        )
        if self.idle and self.state is not State.EXECUTE:
            await self._apply_config()
            return "taken"
        return "pending"

    async def _apply_config(self) -> None:
        async with self._swap_lock:
            new = self.pending_config
            if new is None:
                return
            self.pending_config = None
            old_hash = self.config.content_hash
            if new.model.devices != self.config.model.devices and self.device_factory is not None:
                await self.devices.stop()
                self.devices = self.device_factory(new)
                self._watch_links()
                await self.devices.start()
                await self.devices.wait_connected(CONNECT_TIMEOUT_S)
            self.config = new
            self.route = RouteSnapshot.from_line(new.line.model)
            self.journal.config_hash = new.content_hash
            await self.record("config_swapped", data={"old": old_hash, "new": new.content_hash})

    # --- status snapshot ------------------------------------------------------------------------

    def status(self) -> Status:
        """Everything the console and SCADA show, as plain data."""
        visit = self.visit
        steps = self.config.model.cycle
        index = visit.step_index if visit is not None else 0
        step = steps[min(index, len(steps) - 1)]
        return {
            "station": self.name,
            "operation": self.config.model.operation,
            "state": str(self.state),
            "mode": str(self.machine.mode),
            "vin": visit.vin if visit else None,
            "model": visit.model if visit else "",
            "held": visit.held if visit else None,
            "route": self._route_strip(),
            "step_index": index,
            "step_count": len(steps),
            "step": step.label or step.step,
            "step_progress": round(self.step_progress, 3),
            "prompt": self.prompts.current.to_dict() if self.prompts.current else None,
            "alarms": [a.to_dict() for a in self.alarms.all()],
            "counts": {
                "cycles": self.counts["cycles"],
                "passed": self.counts["passed"],
                "failed": self.counts["failed"],
                "rework": self.counts["rework"],
                "held": self.counts["held"],
            },
            "blocked": self.blocked,
            "starved": self.starved,
            "inputs": {n: self.devices.input_value(n) for n in self.devices.input_names()},
            "outputs": {
                n: self.devices.plc_with_output(n).output(n) for n in self.devices.output_names()
            },
            "links": {n: d.link.state.up for n, d in self.devices.all.items()},
            "config_hash": self.config.content_hash,
            "route_version": self.route.version,
        }

    def _route_strip(self) -> list[RouteStop]:
        """The route as the console draws it: each operation, gate or not, done or not."""
        done: set[str] = set()
        if self.visit is not None:
            # a tag of another route or a corrupt one shows nothing done (the step says why)
            with contextlib.suppress(tagfmt.TagError):
                progress = cycle.progress_in(self)
                done = set(progress.done) if progress else set()
        here = self.config.model.operation
        return [
            {
                "step": op.step,
                "operation": op.operation,
                "gate": op.gate,
                "done": op.operation in done,
                "here": op.operation == here,
            }
            for op in self.route.operations
        ]

    # --- tasks ----------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task_failed", task=task.get_name(), error=repr(task.exception()))
