"""The plant's configuration files: a line file (the route) and a station file
(devices and cycle).

Both are YAML, validated here with `extra="forbid"` and bounds on every
number. Rules that relate several fields or files (names that must exist,
addresses that must not collide) live in `station.config.checks` so that each
error points at the exact line that is wrong.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from hal.config import Camera, DeviceConfig, Name, Section
from station.config.names import Slug
from station.uplink.config import Uplink

CONDITION_PATTERN = r"^(not )?[a-z][a-z0-9_]*$"


# --- line file -------------------------------------------------------------------


class Operation(Section):
    """One operation of the route, done at one station or at any of several parallel ones."""

    step: int = Field(ge=1, le=9999)
    """Step number (10, 20, 30 ...): orders the route; the next step is found by order."""
    operation: Slug
    """Operation identifier, e.g. technical-control."""
    station: Slug | None = None
    """Station that performs it (or `stations:` when several do)."""
    stations: list[Slug] = Field(default_factory=list, max_length=8)
    """Parallel stations that perform it, instead of `station:` (two photo studios, three
    electromechanics bays): a vehicle due here is taken at any of them."""
    kind: Literal["check_in", "work", "check_out"] = "work"
    """check_in pairs the tag and freezes the route; check_out releases to sale."""
    gate: bool = False
    """A quality gate: nothing goes downstream until it is passed; a fail goes to rework."""
    when: str | None = Field(default=None, pattern=CONDITION_PATTERN)
    """Due only when this vehicle attribute holds (`ev`), or does not (`not ev`)."""
    description: str = ""
    """What happens here, for people reading the route."""

    @property
    def served_by(self) -> tuple[str, ...]:
        """The stations that perform it, in the order the route lists them (never empty
        in a checked line: `station.config.checks.check_line`)."""
        return tuple(self.stations) if self.station is None else (self.station,)


class Rework(Section):
    """The rework bay: takes a vehicle that failed a gate and returns it to that gate."""

    station: Slug
    """Station of the rework bay."""
    operation: Slug = "rework"
    """Operation name journaled for a rework visit."""
    max_loops: int = Field(default=2, ge=1, le=10)
    """Rework visits allowed per gate; one more fail holds the vehicle for a supervisor."""

    @property
    def served_by(self) -> tuple[str, ...]:
        """The rework bay's station, as `Operation.served_by` names an operation's."""
        return (self.station,)


class Route(Section):
    """The ordered operations of a line and its rework bay."""

    version: int = Field(ge=1, le=1_000_000)
    """Route version: raise it at every edit; vehicles keep the version frozen at intake."""
    operations: list[Operation] = Field(min_length=1, max_length=64)
    """Operations in step order."""
    rework: Rework
    """Where failed gates send vehicles."""


class Shift(Section):
    """A shift of the line's working day: it runs from its start to the next shift's."""

    name: Slug
    """Shift name, e.g. morning."""
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """Start in the plant's local time, HH:MM (24 h)."""


class LineFile(Section):
    """A production line: its route and the vehicle attributes its conditions use."""

    kind: Literal["line"]
    """File kind: a line."""
    line: Slug
    """Line identifier, e.g. line-1."""
    description: str = ""
    """Free text."""
    attributes: dict[Name, str] = Field(default_factory=dict)
    """Boolean vehicle attributes that `when:` may name, with what each means."""
    route: Route
    """The route."""
    target_per_day: int | None = Field(default=None, ge=1, le=10_000)
    """Vehicles a day this line should release (`station plant report`; default: the
    plant's 180 over its 4 lines, 45)."""
    shifts: list[Shift] = Field(default_factory=list, max_length=8)
    """The working day's shifts for `station plant report`'s throughput per shift, each
    until the next one's start, the last until the first (default: morning 06:00,
    afternoon 14:00, night 22:00: 3 x 8 h)."""
    timezone: str | None = Field(default=None, max_length=64)
    """The plant's time zone (IANA name, e.g. Europe/Paris) for the shifts' local times
    (default: the time zone of the machine running the report)."""

    @model_validator(mode="after")
    def _shifts_and_zone(self) -> LineFile:
        starts = [shift.start for shift in self.shifts]
        if len(set(starts)) != len(starts):
            raise ValueError("shifts: two shifts start at the same time")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"timezone: unknown time zone {self.timezone!r} (an IANA name like "
                    "Europe/Paris)"
                ) from None
        return self


# --- station file ----------------------------------------------------------------


class StepBase(Section):
    """Common to every cycle step."""

    label: str = ""
    """Shown on the console instead of the step's kind, e.g. 'open entry gate'."""


class IdentifyStep(StepBase):
    """Read the vehicle's identity: VIN barcode and/or RFID tag; both must agree."""

    step: Literal["identify"]
    """Step kind: identify."""
    barcode: Name | None = None
    """Barcode reader device, if the station has one."""
    rfid: Name | None = None
    """RFID device, if the station has one."""
    attempts: int = Field(default=3, ge=1, le=10)
    """Triggers tried before a no-read is final."""
    manual_entry: bool = True
    """After a final no-read an operator may type the VIN (audited)."""
    timeout_s: float = Field(default=600.0, ge=1.0, le=86_400.0)
    """Time to wait for the operator's manual entry."""


class VerifyRouteStep(StepBase):
    """Check the route rules: this station must be the vehicle's next due operation."""

    step: Literal["verify_route"]
    """Step kind: verify_route."""


class WaitInputStep(StepBase):
    """Wait until a PLC input has a value (e.g. vehicle in position)."""

    step: Literal["wait_input"]
    """Step kind: wait_input."""
    input: Name
    """Input to watch."""
    value: int = Field(default=1, ge=0, le=65535)
    """Value awaited."""
    timeout_s: float = Field(default=0.0, ge=0.0, le=86_400.0)
    """Give up after this long (0: wait as long as it takes)."""


class SetOutputsStep(StepBase):
    """Write PLC outputs (journaled first, then written, then read back)."""

    step: Literal["set_outputs"]
    """Step kind: set_outputs."""
    outputs: dict[Name, Annotated[int, Field(ge=0, le=65535)]] = Field(min_length=1)
    """Output name -> value (coils 0/1)."""


class OperatorChecklistStep(StepBase):
    """Items an operator confirms one by one on the console."""

    step: Literal["operator_checklist"]
    """Step kind: operator_checklist."""
    items: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(min_length=1)
    """Checklist items, in order."""
    role: Literal["operator", "inspector", "supervisor"] = "operator"
    """Role allowed to confirm."""
    show_findings: bool = False
    """Each item's prompt shows the vehicle's findings at the gate it failed (the rework
    bay: what to fix), as the station's defect record has them (`station.defects`)."""


class FoundAttribute(Section):
    """A route attribute a `find_attributes` step asks about: the question, and what a yes
    makes the attribute."""

    question: str = Field(min_length=1, max_length=120)
    """What the person is asked, answered yes or no."""
    value: bool = True
    """The attribute's value from the next operation on when the answer is yes (a no
    leaves it as it was)."""


class FindAttributesStep(StepBase):
    """Route attributes found on the way: a person answers yes or no for each; a yes sets
    the attribute for the operations after this station's (journaled, then on the tag)."""

    step: Literal["find_attributes"]
    """Step kind: find_attributes."""
    attributes: dict[Name, FoundAttribute] = Field(min_length=1, max_length=8)
    """Attributes of the line asked about, in order (the tag holds 8 found a vehicle)."""
    role: Literal["operator", "inspector", "supervisor"] = "operator"
    """Role allowed to answer (a supervisor may always)."""


PhysicalValue = Annotated[float, Field(ge=-1e9, le=1e9)]
"""A measured value, a limit or a physical bound (any unit)."""


class Quantity(Section):
    """One measured quantity of a `measure` step: its unit, limits, decimals and source."""

    unit: str = Field(max_length=16)
    """Unit shown with the value, e.g. %, kWh, ohm/V, mV."""
    decimals: int = Field(default=1, ge=0, le=6)
    """Decimals kept: the value is rounded to them (half away from zero), then judged."""
    low: PhysicalValue | None = None
    """Lowest value within limits (None: no low limit)."""
    low_inclusive: bool = True
    """The low limit itself is within limits (>=); false: strictly above it (>)."""
    high: PhysicalValue | None = None
    """Highest value within limits (None: no high limit)."""
    high_inclusive: bool = True
    """The high limit itself is within limits (<=); false: strictly below it (<)."""
    physical_min: PhysicalValue
    """Lowest value the quantity can have at all: a typed value below it is refused,
    a device's value below it holds the vehicle (the device is wrong)."""
    physical_max: PhysicalValue
    """Highest value the quantity can have at all (SoH: 100 %)."""
    device: Name | None = None
    """Device that measures it (a battery tester, or an OPC UA device); None: an
    inspector types it."""
    register_name: Name | None = None
    """A tester's value register (a name of its `registers:`); only with `device`."""
    node: Name | None = None
    """An OPC UA device's node read for the value (a name of its `nodes:`); only with
    `device`."""
    description: str = ""
    """What is measured and why the limits are what they are."""

    @model_validator(mode="after")
    def _consistent(self) -> Quantity:
        if self.physical_min >= self.physical_max:
            raise ValueError(
                f"physical_min ({self.physical_min:g}) must be below physical_max "
                f"({self.physical_max:g})"
            )
        if self.low is None and self.high is None:
            raise ValueError("a measured quantity needs a low limit, a high limit, or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not be above high ({self.high:g})")
        for name in ("low", "high"):
            limit = getattr(self, name)
            if limit is not None and not self.physical_min <= limit <= self.physical_max:
                raise ValueError(
                    f"{name} ({limit:g}) is outside the physical range "
                    f"{self.physical_min:g}..{self.physical_max:g}"
                )
        sources = [f for f in ("register_name", "node") if getattr(self, f) is not None]
        if self.device is not None and len(sources) != 1:
            raise ValueError(
                "a device's quantity names one register_name (a tester) or one node "
                f"(an OPC UA device); got {' and '.join(sources) or 'neither'}"
            )
        if self.device is None and sources:
            raise ValueError(f"{sources[0]} goes with device (neither: typed by an inspector)")
        return self


Severity = Literal["minor", "major", "critical"]
"""A finding's severity, after the technical control's defect classes."""

FindingCode = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", min_length=1, max_length=24)
]
"""A defect code, e.g. 1.1.13 (the technical control's numbering) or BODY-SCRATCH."""


class CatalogueEntry(Section):
    """A defect an inspector may type by its code: what it is and how severe."""

    text: str = Field(min_length=1, max_length=120)
    """What the defect is, as the rework operator reads it."""
    severity: Severity
    """minor, major or critical: the gate's `fail_on` says which fail it."""


class InspectStep(StepBase):
    """Take a verdict: from an OPC UA inspection system, or from an inspector; with the
    findings (defects with a severity) and the measurements that come with it."""

    step: Literal["inspect"]
    """Step kind: inspect."""
    device: Name | None = None
    """OPC UA device giving the verdict; None: an inspector enters it on the console."""
    vin_node: Name = "vin"
    """Device node the VIN is written to, to start the inspection."""
    verdict_node: Name = "verdict"
    """Device node that publishes the verdict (pass/fail)."""
    timeout_s: float = Field(default=900.0, ge=1.0, le=86_400.0)
    """No verdict within this time: the vehicle is held."""
    fail_on: list[Severity] = Field(default=["major", "critical"], max_length=3)
    """Severities of a finding that fail the gate, whatever the verdict says ([]: none)."""
    ask_findings: bool = False
    """The inspector types the findings (codes of the station's `findings:` catalogue)
    before the verdict; only without `device`."""
    result_node: Name | None = None
    """Device node with the inspection's result as a JSON document (verdict, measurements,
    findings), read once the verdict is published; None: the verdict alone."""
    quantities: dict[Name, Quantity] = Field(default_factory=dict, max_length=32)
    """Measurements of the result document judged against limits, by name (no `device`,
    no `register_name`: they come from the document); only with `result_node`."""


class MeasureStep(StepBase):
    """Measure named quantities (from a device, or typed by an inspector); the verdict
    follows from their limits. Each value is journaled (`measured`) with its limits."""

    step: Literal["measure"]
    """Step kind: measure."""
    quantities: dict[Name, Quantity] = Field(min_length=1, max_length=32)
    """Quantities by name (the name is what the journal and the scenario use), in order:
    a device's quantities are read together, typed ones asked one by one."""
    role: Literal["inspector", "supervisor"] = "inspector"
    """Role allowed to type values (a supervisor may always)."""
    timeout_s: float = Field(default=900.0, ge=1.0, le=86_400.0)
    """No typed value within this time: the vehicle is held."""


def _exterior_at_every_angle() -> dict[Camera, int]:
    return {"exterior": 1}


class TurntableSweepStep(StepBase):
    """The photo session: home, arm every shot's angle on the camera system, then one
    continuous rotation; the camera system fires each shot at its own encoder crossing
    and reports each image (the session's manifest, journaled with `photo_session`)."""

    step: Literal["turntable_sweep"]
    """Step kind: turntable_sweep."""
    turntable: Name
    """Turntable device."""
    cameras: Name
    """Camera system device (shots armed by command, it reports each image)."""
    zone_clear_input: Name
    """PLC input that must be 1 before and during any rotation."""
    steps: int = Field(default=36, ge=1, le=360)
    """Shot angles per revolution."""
    step_deg: float = Field(default=10.0, ge=0.5, le=360.0)
    """Rotation between two shot angles (shot n at the start angle + (n + 1) x step_deg)."""
    shots: dict[Camera, Annotated[int, Field(ge=1, le=360)]] = Field(
        default_factory=_exterior_at_every_angle, min_length=1, max_length=4
    )
    """Which cameras fire at which shot angles: camera -> every Nth angle (1: at every
    one; 9: at shots 0, 9, 18 ...)."""
    speed_deg_s: float = Field(default=30.0, ge=0.5, le=360.0)
    """Table speed during the rotation."""
    angle_tolerance_deg: float = Field(default=4.0, ge=0.1, le=45.0)
    """An image taken farther than this from its shot's angle does not count."""
    retries: int = Field(default=1, ge=0, le=3)
    """Rotations taken again when the set is incomplete without a device fault (a missed
    trigger, a camera that did not report); then the station aborts."""
    home_first: bool = True
    """Home the table before the rotation: a table never homed is homed; one homed
    already turns back to its home angle the short way (the last rotation's run-out)."""


class WriteTagStep(StepBase):
    """Write the vehicle's progress to its tag and verify by reading it back."""

    step: Literal["write_tag"]
    """Step kind: write_tag."""
    rfid: Name
    """RFID device."""


class ReleaseStep(StepBase):
    """Let the vehicle go: set outputs (exit gate) and wait until it has left."""

    step: Literal["release"]
    """Step kind: release."""
    outputs: dict[Name, Annotated[int, Field(ge=0, le=65535)]] = Field(default_factory=dict)
    """Outputs to set to let the vehicle out."""
    wait_input: Name | None = None
    """Input that reads `wait_value` once the vehicle is gone."""
    wait_value: int = Field(default=0, ge=0, le=65535)
    """Value of `wait_input` meaning the station is empty."""
    timeout_s: float = Field(default=0.0, ge=0.0, le=86_400.0)
    """Give up waiting after this long (0: as long as it takes)."""


CycleStep = Annotated[
    IdentifyStep
    | VerifyRouteStep
    | WaitInputStep
    | SetOutputsStep
    | OperatorChecklistStep
    | FindAttributesStep
    | InspectStep
    | MeasureStep
    | TurntableSweepStep
    | WriteTagStep
    | ReleaseStep,
    Field(discriminator="step"),
]


class Interface(Section):
    """The station's own OPC UA server (status and commands for console and SCADA)."""

    endpoint: str = Field(
        default="opc.tcp://127.0.0.1:4840/station",
        pattern=r"^opc\.tcp://[^\s/:]+(:\d{1,5})?(/.*)?$",
    )
    """Where the server listens; localhost unless the plant network needs it."""
    users_file: str | None = None
    """File of users, roles and password hashes (kept outside the station file)."""
    security: list[Literal["None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt"]] = Field(
        default=["None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt"], min_length=1
    )
    """Endpoints offered. Anonymous users may only read, whatever the policy."""
    free_wrong_passwords: int = Field(default=3, ge=0, le=1000)
    """Wrong passwords from one client address before it must wait to try again (1 s,
    doubling with each further wrong one up to `max_login_wait_s`); a right password
    clears it. A user name is never locked."""
    max_login_wait_s: float = Field(default=60.0, ge=1.0, le=3600.0)
    """Longest wait imposed on a client address for wrong passwords."""
    refusal_window_s: float = Field(default=10.0, ge=0.0, le=3600.0)
    """Per client address, the first refused login and the first refused anonymous call of
    each window are journaled in full, the others as one count per window
    (`refusals_counted`), so a client cannot fill the journal. 0: every one in full."""


class JournalSettings(Section):
    """The station's journal beyond its defaults: anchoring its head outside the station."""

    anchor_key: str | None = None
    """Key file (HMAC-SHA256, mode 0600, made by `station journal anchor-key`) with which the
    journal's head is signed every `anchor_every_s` and at a clean stop, into
    `anchors.jsonl` in the state dir; `station journal verify --anchor KEY` then shows a
    cut tail or a re-hashed chain. Relative to this file. None: no anchors."""
    anchor_every_s: float = Field(default=900.0, ge=1.0, le=86400.0)
    """Seconds between two anchors while the station runs."""


class StationFile(Section):
    """One station of a line: which operation it does, its devices and its cycle."""

    kind: Literal["station"]
    """File kind: a station."""
    station: Slug
    """Station identifier, as the line's route names it."""
    line: str = Field(min_length=1)
    """Path of the line file, relative to this file."""
    operation: Slug
    """Operation of the line this station performs."""
    description: str = ""
    """Free text."""
    on_device_loss: Literal["abort", "hold"] = "abort"
    """State the station takes when a device link is lost."""
    interface: Interface = Interface()
    """The station's OPC UA server."""
    journal: JournalSettings = JournalSettings()
    """The station's journal (anchoring)."""
    uplink: Uplink | None = None
    """The plant link (MQTT): the journal stream and live state. None: no uplink (the
    station runs on its own; `station run --broker URL` turns it on with defaults)."""
    devices: dict[Name, DeviceConfig] = Field(default_factory=dict)
    """Devices by name; each has a `driver:`."""
    findings: dict[FindingCode, CatalogueEntry] = Field(default_factory=dict, max_length=1000)
    """The defects an inspector may type, by code (a typed code not in it is refused)."""
    cycle: list[CycleStep] = Field(min_length=1, max_length=64)
    """Steps run for every vehicle, in order."""


ConfigFile = Annotated[LineFile | StationFile, Field(discriminator="kind")]
"""Either kind of file, selected by its `kind:` key."""
