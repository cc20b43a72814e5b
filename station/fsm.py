"""The station state machine after PackML (ISA-TR88.00.02), defined as data.

States are PackML's; commands are verbs; SC ("state complete") is the runtime
telling an acting state that its work is done::

             Stopped
                | reset
                v
       +--> Resetting
       |        | SC
       |        v
       |      Idle
       |        | start
       |        v
       |     Starting
       |        | SC
       |        v         hold                         suspend
       |     Execute ------------> Holding      Execute -----------> Suspending
       |        | SC                  | SC                                | SC
       |        v                     v                                   v
       |    Completing              Held                              Suspended
       |        | SC                  | unhold                            | unsuspend
       |        v                     v                                   v
       |     Complete             Unholding -SC-> Execute           Unsuspending -SC-> Execute
       |        |
       +-reset--+

       stop:  Resetting, Idle, Starting, Execute, Completing, Complete, Holding, Held,
              Unholding, Suspending, Suspended, Unsuspending --stop--> Stopping -SC-> Stopped
       abort: every state but Aborting and Aborted --abort--> Aborting -SC-> Aborted
              Aborted --clear--> Clearing -SC-> Stopped

Choices where the standard leaves room:
- Hold is taken in Execute only (the base model). TR88.00.02-2015 draws hold
  from further states as optional (dashed) transitions; they are left out: a
  suspended station waits on an external cause with its cycle paused, so no
  internal cause arises there, and a device fault aborts. Adding one is a
  change to the hold row of `COMMAND_TRANSITIONS`.
- Stop is taken in every state of the stoppable region, i.e. all but Stopped,
  Stopping and the abort branch (Aborting, Aborted, Clearing); abort in every
  state but Aborting and Aborted, Stopped and Clearing included.
- Unit mode changes are taken in Stopped, Idle and Aborted only, the wait
  states with no cycle under way: Held and Suspended have a vehicle
  mid-cycle, and Complete goes on with reset to Idle, where the mode may
  change. In maintenance mode `start` is refused, so the station never
  reaches Execute and accepts no vehicle; a machine can therefore not be
  restored in maintenance mode in a state only `start` leads to.

Boundary: the machine knows states, commands and modes, nothing of devices,
vehicles or the journal. The runtime issues commands and state-complete, and
registers `on_change` callbacks, the one after-change hook, from which it
journals and publishes.

Concurrency and the traps of transitions 0.9 (docs/libraries.md):
- AsyncMachine transitions are not atomic (#640): every command, state
  complete and mode change runs under one asyncio.Lock, callbacks included, so
  changes and their notifications never interleave and each command sees the
  state the previous one left. The library's own queue is off: a queued
  AsyncMachine stops processing after a cancelled transition (#639).
- The library runs no callback of ours. AsyncMachine.process_context turns a
  CancelledError raised inside a trigger into a False return (#713), which
  would swallow the cancellation of the task that issued the command. So the
  library only moves the state, with nothing to await, and the `on_change`
  callbacks are awaited afterwards, one by one in registration order.

A callback that raises: the change stands (the machine is in the new state,
whole); the callbacks registered after it are not called for that change, so
a publisher registered after the journal never announces a change the journal
failed to take; `command` raises `CallbackFailed` from the callback's error and
the lock is released. A command cancelled while a callback runs: the change
stands, CancelledError propagates, later callbacks are not called. A callback
must not issue a command: from its own task the command raises RuntimeError
(reaching the caller as CallbackFailed); from another task it waits forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from transitions.extensions.asyncio import AsyncMachine


class State(StrEnum):
    """The PackML states; the values are PackML's names."""

    STOPPED = "Stopped"
    RESETTING = "Resetting"
    IDLE = "Idle"
    STARTING = "Starting"
    EXECUTE = "Execute"
    COMPLETING = "Completing"
    COMPLETE = "Complete"
    HOLDING = "Holding"
    HELD = "Held"
    UNHOLDING = "Unholding"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    UNSUSPENDING = "Unsuspending"
    STOPPING = "Stopping"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    CLEARING = "Clearing"


class Command(StrEnum):
    """The PackML commands an operator, the plant or the runtime may issue."""

    RESET = "reset"
    START = "start"
    STOP = "stop"
    HOLD = "hold"
    UNHOLD = "unhold"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    ABORT = "abort"
    CLEAR = "clear"


class UnitMode(StrEnum):
    """PackML unit modes: production runs the automatic cycle, manual has the
    operator confirm each step, maintenance accepts no vehicle."""

    PRODUCTION = "production"
    MANUAL = "manual"
    MAINTENANCE = "maintenance"


STATE_COMPLETE_TRIGGER: Final = "state_complete"
"""The trigger name `on_change` callbacks see for a state-complete transition."""

MODE_TRIGGER: Final = "set_mode"
"""The trigger name `on_change` callbacks see for a unit mode change (old == new state)."""

STATE_COMPLETE: Final[Mapping[State, State]] = MappingProxyType(
    {
        State.RESETTING: State.IDLE,
        State.STARTING: State.EXECUTE,
        State.EXECUTE: State.COMPLETING,
        State.COMPLETING: State.COMPLETE,
        State.HOLDING: State.HELD,
        State.UNHOLDING: State.EXECUTE,
        State.SUSPENDING: State.SUSPENDED,
        State.UNSUSPENDING: State.EXECUTE,
        State.STOPPING: State.STOPPED,
        State.ABORTING: State.ABORTED,
        State.CLEARING: State.STOPPED,
    }
)
"""The acting states and where each goes when its work is complete."""

ACTING_STATES: Final = frozenset(STATE_COMPLETE)

STOPPABLE: Final = frozenset(State) - {
    State.STOPPED,
    State.STOPPING,
    State.ABORTING,
    State.ABORTED,
    State.CLEARING,
}
ABORTABLE: Final = frozenset(State) - {State.ABORTING, State.ABORTED}

COMMAND_TRANSITIONS: Final[Mapping[Command, tuple[frozenset[State], State]]] = MappingProxyType(
    {
        Command.RESET: (frozenset({State.STOPPED, State.COMPLETE}), State.RESETTING),
        Command.START: (frozenset({State.IDLE}), State.STARTING),
        Command.HOLD: (frozenset({State.EXECUTE}), State.HOLDING),
        Command.UNHOLD: (frozenset({State.HELD}), State.UNHOLDING),
        Command.SUSPEND: (frozenset({State.EXECUTE}), State.SUSPENDING),
        Command.UNSUSPEND: (frozenset({State.SUSPENDED}), State.UNSUSPENDING),
        Command.STOP: (STOPPABLE, State.STOPPING),
        Command.ABORT: (ABORTABLE, State.ABORTING),
        Command.CLEAR: (frozenset({State.ABORTED}), State.CLEARING),
    }
)
"""Each command: the states that accept it, and where it leads."""

NEXT_STATE: Final[Mapping[tuple[State, Command], State]] = MappingProxyType(
    {
        (source, command): dest
        for command, (sources, dest) in COMMAND_TRANSITIONS.items()
        for source in sources
    }
)
"""The command table flattened: (state, command) -> next state."""

MODE_CHANGE_STATES: Final = frozenset({State.STOPPED, State.IDLE, State.ABORTED})
"""The states in which the unit mode may change."""

MODE_REFUSED: Final[Mapping[UnitMode, frozenset[Command]]] = MappingProxyType(
    {
        UnitMode.PRODUCTION: frozenset(),
        UnitMode.MANUAL: frozenset(),
        UnitMode.MAINTENANCE: frozenset({Command.START}),
    }
)
"""Commands a unit mode refuses in every state."""


def _reachable_states(mode: UnitMode) -> frozenset[State]:
    seen = set(MODE_CHANGE_STATES)
    frontier = list(MODE_CHANGE_STATES)
    while frontier:
        state = frontier.pop()
        nexts = [
            dest
            for (source, cmd), dest in NEXT_STATE.items()
            if source is state and cmd not in MODE_REFUSED[mode]
        ]
        if state in STATE_COMPLETE:
            nexts.append(STATE_COMPLETE[state])
        for dest in nexts:
            if dest not in seen:
                seen.add(dest)
                frontier.append(dest)
    return frozenset(seen)


MODE_STATES: Final[Mapping[UnitMode, frozenset[State]]] = MappingProxyType(
    {mode: _reachable_states(mode) for mode in UnitMode}
)
"""The states a station can be in per mode: those reachable from the states
where the mode can be entered, without the commands the mode refuses."""


ChangeCallback = Callable[[State, State, str, str], Awaitable[None]]
"""`(old, new, trigger, reason)`, awaited after every change."""


class IllegalCommand(Exception):
    """A command (or state complete) the current state does not accept; nothing changed."""

    def __init__(
        self, command: str, state: State, accepted: frozenset[Command], why: str = ""
    ) -> None:
        self.command = command
        self.state = state
        self.accepted = accepted
        names = ", ".join(sorted(accepted)) or "no command"
        because = f" ({why})" if why else ""
        super().__init__(f"{command} refused in state {state}{because}; {state} accepts: {names}")


class IllegalModeChange(Exception):
    """A unit mode change asked for outside the states that allow it; nothing changed."""

    def __init__(self, mode: UnitMode, state: State) -> None:
        self.mode = mode
        self.state = state
        allowed = ", ".join(s for s in State if s in MODE_CHANGE_STATES)
        super().__init__(
            f"unit mode change to {mode} refused in state {state}; "
            f"the mode may change only in {allowed}"
        )


class CallbackFailed(Exception):
    """An `on_change` callback raised. The change stands; later callbacks were not called."""

    def __init__(self, old: State, new: State, trigger: str, callback: ChangeCallback) -> None:
        self.old = old
        self.new = new
        self.trigger = trigger
        self.callback = callback
        name = getattr(callback, "__qualname__", repr(callback))
        super().__init__(
            f"on_change callback {name} failed after {old} -> {new} ({trigger}); "
            f"the station is in {new} and later callbacks were not called"
        )


class _Model:
    """What the library moves: it holds the state name as `state`."""

    state: str


class StationMachine:
    """One station's PackML machine: commands, state complete and unit mode,
    serialized, with the `on_change` hook. See the module docstring."""

    def __init__(
        self, initial: State = State.STOPPED, mode: UnitMode = UnitMode.PRODUCTION
    ) -> None:
        initial = State(initial)
        mode = UnitMode(mode)
        if initial not in MODE_STATES[mode]:
            raise ValueError(
                f"state {initial} cannot be restored in {mode} mode: "
                f"{mode} mode refuses {', '.join(sorted(MODE_REFUSED[mode]))}"
            )
        self._mode = mode
        self._model = _Model()
        self._machine: Any = AsyncMachine(
            model=self._model,
            states=[state.value for state in State],
            transitions=_library_transitions(),
            initial=initial.value,
            auto_transitions=False,
            queued=False,
        )
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._callbacks: list[ChangeCallback] = []

    @property
    def state(self) -> State:
        return State(self._model.state)

    @property
    def mode(self) -> UnitMode:
        return self._mode

    @staticmethod
    def is_acting(state: State) -> bool:
        """True for the states that complete on their own (SC), False for wait states."""
        return State(state) in ACTING_STATES

    def allowed(self) -> frozenset[Command]:
        """The commands the current state accepts in the current mode."""
        state = self.state
        return (
            frozenset(cmd for cmd in Command if (state, cmd) in NEXT_STATE)
            - MODE_REFUSED[self._mode]
        )

    def on_change(self, callback: ChangeCallback) -> None:
        """Register `callback(old, new, trigger, reason)`, awaited after every change."""
        self._callbacks.append(callback)

    async def command(self, cmd: Command, reason: str = "") -> State:
        """Apply `cmd` and return the new state; IllegalCommand leaves the state unchanged."""
        cmd = _parse_command(cmd)
        async with self._turn():
            state = self.state
            if cmd in MODE_REFUSED[self._mode]:
                raise IllegalCommand(cmd, state, self.allowed(), f"{self._mode} mode")
            if (state, cmd) not in NEXT_STATE:
                raise IllegalCommand(cmd, state, self.allowed())
            return await self._change(cmd.value, reason)

    async def state_complete(self, reason: str = "", *, of: State | None = None) -> State:
        """Complete the current acting state and return the next one.

        `of` names the state the caller means to complete: if the station has
        left it meanwhile (a hold or an abort came first), IllegalCommand and
        nothing changes, so a late completion never completes another state.
        """
        async with self._turn():
            state = self.state
            if of is not None and State(of) is not state:
                raise IllegalCommand(
                    STATE_COMPLETE_TRIGGER, state, self.allowed(), f"meant for {of}"
                )
            if state not in ACTING_STATES:
                raise IllegalCommand(STATE_COMPLETE_TRIGGER, state, self.allowed(), "a wait state")
            return await self._change(STATE_COMPLETE_TRIGGER, reason)

    async def set_mode(self, mode: UnitMode, reason: str = "") -> None:
        """Change the unit mode, in Stopped, Idle or Aborted only (IllegalModeChange
        elsewhere). Callbacks see old == new state, trigger `set_mode`, and
        `self.mode` already changed. Asking for the current mode changes nothing."""
        mode = UnitMode(mode)
        async with self._turn():
            if mode is self._mode:
                return
            state = self.state
            if state not in MODE_CHANGE_STATES:
                raise IllegalModeChange(mode, state)
            self._mode = mode
            await self._notify(state, state, MODE_TRIGGER, reason)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError(
                "a command was issued from inside an on_change callback; "
                "callbacks must be thin and must not drive the machine"
            )
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    async def _change(self, trigger: str, reason: str) -> State:
        old = self.state
        await self._machine.events[trigger].trigger(self._model)
        new = self.state
        await self._notify(old, new, trigger, reason)
        return new

    async def _notify(self, old: State, new: State, trigger: str, reason: str) -> None:
        for callback in self._callbacks:
            try:
                await callback(old, new, trigger, reason)
            except Exception as err:
                raise CallbackFailed(old, new, trigger, callback) from err


def _parse_command(cmd: Command | str) -> Command:
    try:
        return Command(cmd)
    except ValueError:
        raise ValueError(f"unknown command {cmd!r}; commands are: {', '.join(Command)}") from None


def _library_transitions() -> list[dict[str, str]]:
    rows = [
        {"trigger": cmd.value, "source": source.value, "dest": dest.value}
        for (source, cmd), dest in NEXT_STATE.items()
    ]
    rows += [
        {"trigger": STATE_COMPLETE_TRIGGER, "source": source.value, "dest": dest.value}
        for source, dest in STATE_COMPLETE.items()
    ]
    return rows


PACKML_STATE_NUMBERS: dict[State, int] = {
    State.CLEARING: 1,
    State.STOPPED: 2,
    State.STARTING: 3,
    State.IDLE: 4,
    State.SUSPENDED: 5,
    State.EXECUTE: 6,
    State.STOPPING: 7,
    State.ABORTING: 8,
    State.ABORTED: 9,
    State.HOLDING: 10,
    State.HELD: 11,
    State.UNHOLDING: 12,
    State.SUSPENDING: 13,
    State.UNSUSPENDING: 14,
    State.RESETTING: 15,
    State.COMPLETING: 16,
    State.COMPLETE: 17,
}
"""PackML state numbers (ISA-TR88.00.02, OPC 30050 StateCurrent)."""

PACKML_UNIT_MODES: dict[UnitMode, int] = {
    UnitMode.PRODUCTION: 1,
    UnitMode.MAINTENANCE: 2,
    UnitMode.MANUAL: 3,
}
"""PackML unit mode numbers (UnitModeCurrent)."""
