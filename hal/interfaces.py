"""The small typed async interfaces the station programs against.

A real driver and a simulator-backed test both serve these; the station
programs against this module (and `hal.errors`) only, and gets its drivers
from its device types, chosen by the `driver:` name of each device.

Every device has a `link` (up/down, see `hal.link`) and `start()`/`stop()`.
`start()` returns at once: connecting is the supervisor task's job, and
`link.wait_up()` waits for it. Operations on a device whose link is down
raise `hal.errors.LinkDown` at once instead of hanging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hal.link import LinkSupervisor


class Device(Protocol):
    """What every device driver has."""

    name: str
    link: LinkSupervisor

    async def start(self) -> None:
        """Start the device's supervisor; does not wait for the connection."""

    async def stop(self) -> None:
        """Stop every task of the device and close its connection."""


# --- PLC I/O ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputEdge:
    """A debounced change of a named input."""

    name: str
    value: int
    previous: int
    at: float
    """Monotonic time the change was first seen (before debounce)."""


class PlcIo(Device, Protocol):
    """Named inputs and allow-listed outputs of a PLC."""

    def value(self, name: str) -> int:
        """Current debounced value of an input; LinkDown when the data is stale."""
        ...

    def edges(self) -> AsyncIterator[InputEdge]:
        """Debounced edge events of every input, from now on, until the device stops."""
        ...

    async def wait_for(self, name: str, value: int, timeout: float | None) -> None:
        """Return once input `name` reads `value`; TimeoutError, or LinkDown if lost meanwhile."""
        ...

    async def write(self, name: str, value: int) -> None:
        """Write an allow-listed output and verify it by read-back.
        OutputNotAllowed for a name not in the config; WriteNotVerified on mismatch."""
        ...

    def output(self, name: str) -> int | None:
        """Last value written to an output (None before any write)."""
        ...

    async def write_safe(self) -> list[str]:
        """Every output to its safe value, as far as the link allows; the names not written."""
        ...


# --- turntable -------------------------------------------------------------------------


def wrap180(degrees: float) -> float:
    """An angle difference folded into [-180, 180)."""
    return (degrees + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class TurntableStatus:
    """What the drive reports."""

    angle_deg: float
    frequency_hz: float
    running: bool
    homed: bool
    fault_code: int
    speed_deg_s: float = 0.0
    """Table speed as the encoder measures it (its magnitude)."""
    reverse: bool = False
    """Turning in reverse."""


OnTravel = Callable[[float], Awaitable[None]]
"""Called with the degrees travelled so far, on every fresh status poll of a revolve."""


class Turntable(Device, Protocol):
    """A rotating table driven by a VFD. Every move refuses to start, and stops,
    when `zone_clear()` (given at construction) is false."""

    async def home(self) -> None:
        """Find the home position; TurntableFault(home_not_found) on timeout."""
        ...

    async def rotate_by(self, delta_deg: float) -> float:
        """Turn by a relative angle; returns the angle reached. TurntableFault on stall."""
        ...

    async def revolve(self, travel_deg: float, speed_deg_s: float, on_travel: OnTravel) -> float:
        """Turn continuously by `travel_deg` (its sign: the direction) at `speed_deg_s`,
        awaiting `on_travel` on every fresh status poll; stop once travelled; returns the
        angle the table stopped at. TurntableFault on stall, drive fault, zone lost."""
        ...

    async def status(self) -> TurntableStatus:
        """Read the drive's status registers."""
        ...

    async def reset_fault(self) -> None:
        """Acknowledge a drive fault."""
        ...


# --- camera system -----------------------------------------------------------------------


@dataclass(frozen=True)
class ShotReport:
    """One image as the camera system reports it."""

    shot: int
    """The shot's number in the session (from 0), as triggered."""
    camera: str
    angle_deg: float
    """The table angle when the image was taken, from the camera system's encoder input."""
    name: str
    """The image's name in the camera system's store."""
    sha256: str
    """SHA-256 of the image, hex."""
    time: str
    """When it was taken, ISO 8601 UTC (the camera system's clock)."""


class CameraSystem(Device, Protocol):
    """The photo studio's camera system: it counts the table's encoder itself and fires
    each armed shot as the table crosses its angle (position compare), then reports
    each image."""

    async def begin(self, session: str) -> None:
        """Start a session named `session` (the images are named after it) and latch the
        encoder; shots armed and reports of an earlier session are dropped."""
        ...

    async def arm(self, shots: Sequence[tuple[int, Sequence[str], float]]) -> set[int]:
        """Arm each (shot number, cameras, angle in degrees) to fire at the table's next
        forward crossing of the angle; returns the shots refused because the table had
        already passed their angle."""
        ...

    async def reports(self, expected: int, timeout: float) -> list[ShotReport]:
        """The session's reports, waiting up to `timeout` s until `expected` have come."""
        ...


# --- testers ---------------------------------------------------------------------------


class Tester(Device, Protocol):
    """A device that measures on command (a traction-battery tester)."""

    async def measure(self, names: Sequence[str], timeout: float) -> dict[str, float]:
        """Start a measurement, wait for its results (the ready bit), read the named
        values (engineering units). MeasurementFailed when no result comes in `timeout`;
        LinkDown when the link is lost meanwhile."""
        ...


# --- readers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRead:
    """Result of one trigger: no code (no-read), one, or several."""

    codes: tuple[str, ...]

    @property
    def noread(self) -> bool:
        return not self.codes


@dataclass
class FramerCounters:
    """Bytes a framer threw away, and why (exposed for diagnostics and tests)."""

    frames: int = 0
    garbage_bytes: int = 0
    overlong_lines: int = 0
    echoes: int = 0
    errors: list[str] = field(default_factory=list)


class CodeReader(Device, Protocol):
    """A triggered barcode reader."""

    counters: FramerCounters

    async def read(self, timeout: float | None = None) -> CodeRead:
        """Trigger, collect the codes of this trigger until the timeout, stop the trigger."""
        ...


class TagReader(Device, Protocol):
    """An HF RFID head with tag user memory addressed in blocks."""

    block_size: int
    tag_blocks: int

    async def scan(self) -> tuple[str, ...]:
        """UIDs (hex) of the tags in the field: none, one, or several."""
        ...

    async def read_blocks(self, first: int, count: int) -> bytes:
        """Read user memory of the single tag in the field (AmbiguousRead if several)."""
        ...

    async def write_blocks(self, first: int, data: bytes) -> None:
        """Write user memory and verify it by read-back; WriteNotVerified on mismatch."""
        ...


# --- OPC UA devices --------------------------------------------------------------------


class OpcUaDevice(Device, Protocol):
    """A server the station is a client of, its nodes named in the config."""

    async def read(self, node: str) -> Any:
        """Current value of a named node (`BadStatus` when the server has no good one)."""
        ...

    async def write(self, node: str, value: Any) -> None:
        """Write a named node."""
        ...

    def changes(self, node: str) -> AsyncIterator[Any]:
        """Every data change of a named node (queued, not coalesced), from now on,
        across reconnects (the subscription is rebuilt and the value re-read)."""
        ...

    async def call(self, node: str, method: str, *args: Any) -> Any:
        """Call a method `method` (browse name) on the object at named node `node`."""
        ...


ZoneClear = Callable[[], bool]
"""The interlock the turntable checks before and during every move."""
