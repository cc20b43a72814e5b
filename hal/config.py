"""Each device driver's own configuration section.

A driver reads only its own section (docs/style.md item 1): these pydantic models
are the contract between a station file and the drivers in `hal/`. Every
number has bounds, unknown keys are errors, and each field's docstring
becomes its description in `station config schema`.

The `driver:` key of a device selects both the model below and, in the
station, its device type (driver, simulator, checks). `hal` never imports
`station`; the station file model composes these sections.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
"""Names of I/O points, devices and nodes: lower case, digits, underscores."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=48)]
ModbusAddress = Annotated[int, Field(ge=0, le=65535)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class LinkSettings(Section):
    """Timing of one device link. pymodbus' own defaults (3 s x 3 retries)
    hide a dead device for 12 s; these are always set from here."""

    connect_timeout_s: float = Field(default=1.0, ge=0.05, le=30.0)
    """Time allowed to open the connection before the attempt counts as failed."""
    request_timeout_s: float = Field(default=0.2, ge=0.01, le=30.0)
    """Time allowed for one request's reply."""
    retries: int = Field(default=0, ge=0, le=5)
    """Extra attempts of a request after a timeout (never after a protocol exception)."""
    backoff_initial_s: float = Field(default=0.2, ge=0.01, le=10.0)
    """First wait before reconnecting after a link loss; doubled at each failure."""
    backoff_max_s: float = Field(default=5.0, ge=0.1, le=300.0)
    """Cap of the reconnect wait (jitter of up to 20 % is added)."""
    stale_after_s: float = Field(default=0.5, ge=0.02, le=60.0)
    """No successful exchange within this time marks the link down for every consumer."""

    @model_validator(mode="after")
    def _backoff_ordered(self) -> LinkSettings:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_initial_s "
                f"({self.backoff_initial_s})"
            )
        return self


# --- Modbus TCP devices ---------------------------------------------------------

PollInterval = Annotated[int, Field(ge=1, le=10_000)]


class ModbusDeviceConfig(Section):
    """What every device on Modbus TCP has: where it is, its unit id, its link and
    poll timing. The PLC and the turntable drive extend it with the same keys."""

    driver: str
    """Selects the driver (each device section narrows it to its own name)."""
    host: str = Field(min_length=1, max_length=253)
    """Device (or gateway) address: a name or an IP."""
    port: Port = 502
    """Modbus TCP port."""
    device_id: int = Field(default=1, ge=0, le=247)
    """Modbus unit identifier (0..247)."""
    poll_interval_ms: PollInterval = 10
    """Period of the input poll."""
    link: LinkSettings = LinkSettings()
    """Timeouts, retries and reconnect backoff."""


# --- Modbus TCP PLC -----------------------------------------------------------

InputTable = Literal["discrete_input", "coil", "input_register", "holding_register"]
OutputTable = Literal["coil", "holding_register"]


class InputPoint(Section):
    """A named input read from the PLC's I/O image."""

    table: InputTable
    """Modbus table the value lives in."""
    address: ModbusAddress
    """Zero-based Modbus address in that table."""
    debounce_ms: int = Field(default=0, ge=0, le=10_000)
    """A change is reported only once the value has been stable this long (0: no debounce)."""
    description: str = ""
    """What the signal is, for the engineer reading the file."""


class OutputPoint(Section):
    """A named output the controller may write: the allow-list of the PLC."""

    table: OutputTable
    """Modbus table written: a coil (0/1) or a holding register (0..65535)."""
    address: ModbusAddress
    """Zero-based Modbus address in that table."""
    safe: int = Field(default=0, ge=0, le=65535)
    """Value written when the station goes to its safe state (coils: 0 or 1)."""
    description: str = ""
    """What the output does, for the engineer reading the file."""

    @model_validator(mode="after")
    def _coil_safe_is_bit(self) -> OutputPoint:
        if self.table == "coil" and self.safe not in (0, 1):
            raise ValueError(f"safe value of a coil must be 0 or 1 (got {self.safe})")
        return self


class Reflex(Section):
    """A direct input -> output link the driver applies on every poll (e.g. a
    presence sensor lighting the entry lamp). Also the path `station diag
    latency` measures."""

    input: Name
    """Input whose value is copied."""
    output: Name
    """Output that follows it."""
    invert: bool = False
    """Write the negated value."""


class ModbusPlcConfig(ModbusDeviceConfig):
    """A PLC reached over Modbus TCP: the station's sensors and actuators."""

    driver: Literal["modbus_plc"]
    """Selects the Modbus TCP PLC driver."""
    inputs: dict[Name, InputPoint] = Field(default_factory=dict)
    """Named inputs (read only)."""
    outputs: dict[Name, OutputPoint] = Field(default_factory=dict)
    """Named outputs: the only addresses the controller ever writes."""
    reflexes: list[Reflex] = Field(default_factory=list)
    """Input -> output links applied by the driver."""


# --- Turntable drive over Modbus TCP --------------------------------------------


class DriveRegisters(Section):
    """Holding-register map of the turntable's drive (VFD)."""

    control_word: ModbusAddress = 0x2000
    """Written: bit 0 run, bit 1 reverse, bit 2 fault reset, bit 3 home, bit 4 speed mode
    (with run: turn at `speed_command` instead of `frequency_command`)."""
    frequency_command: ModbusAddress = 0x2001
    """Written: output frequency in 0.01 Hz."""
    speed_command: ModbusAddress = 0x2002
    """Written: table speed in 0.1 degree/s, for the speed mode (continuous rotation)."""
    status: ModbusAddress = 0x2100
    """Read: 0 stopped, 1 stopping, 2 standby, 3 running, 4 homing; bit 8 homed, bit 9
    turning in reverse."""
    fault_code: ModbusAddress = 0x2101
    """Read: 0 when healthy, else the drive's fault code."""
    output_frequency: ModbusAddress = 0x2102
    """Read: actual output frequency in 0.01 Hz."""
    angle: ModbusAddress = 0x2103
    """Read: table angle in 0.1 degree (encoder) or counted from the home switch."""
    speed: ModbusAddress = 0x2104
    """Read: table speed in 0.1 degree/s, as the encoder measures it (its magnitude; the
    direction is status bit 9)."""


class ModbusTurntableConfig(ModbusDeviceConfig):
    """The photo studio's turntable: a drive on Modbus TCP."""

    driver: Literal["modbus_turntable"]
    """Selects the turntable drive driver."""
    poll_interval_ms: PollInterval = 20
    """Period of the status poll while the table moves (or is commanded to)."""
    idle_poll_interval_ms: PollInterval = 100
    """Period of the status poll while the table stands still (it also watches the link:
    keep it below `link.stale_after_s`)."""
    registers: DriveRegisters = DriveRegisters()
    """Register map of the drive."""
    angle_source: Literal["encoder", "home_switch"] = "encoder"
    """Where the angle register comes from: an absolute encoder, or counts since the
    home switch (then the table must be homed before every sweep)."""
    run_frequency_hz: float = Field(default=20.0, ge=0.5, le=400.0)
    """Frequency commanded while rotating."""
    position_tolerance_deg: float = Field(default=0.5, ge=0.05, le=10.0)
    """A target angle is reached within this tolerance."""
    approach_deg: float = Field(default=5.0, ge=0.1, le=90.0)
    """Over this last part of a move the frequency falls from the run frequency towards
    the creep frequency, so that the table stops within the tolerance."""
    creep_frequency_hz: float = Field(default=2.0, ge=0.1, le=50.0)
    """Lowest frequency commanded on the approach (capped at the run frequency)."""
    stall_timeout_s: float = Field(default=2.0, ge=0.1, le=60.0)
    """Run commanded but the angle has not advanced for this long: stall."""
    home_timeout_s: float = Field(default=60.0, ge=1.0, le=600.0)
    """Homing that does not finish within this time: home not found."""


# --- Battery tester over Modbus TCP ----------------------------------------------

DataType = Literal["uint16", "int16", "uint32", "int32", "float32"]
"""How a value is held in registers: 16-bit in one register, 32-bit in two."""


class BitPoint(Section):
    """A single bit of the device: a coil or a discrete input."""

    table: Literal["coil", "discrete_input"]
    """Modbus table the bit lives in."""
    address: ModbusAddress
    """Zero-based Modbus address in that table."""


class CommandPoint(Section):
    """Where a command is written: a coil (1) or a holding register (`value`)."""

    table: Literal["coil", "holding_register"]
    """Modbus table written."""
    address: ModbusAddress
    """Zero-based Modbus address in that table."""
    value: int = Field(default=1, ge=1, le=65535)
    """Value that gives the command (a coil: 1); 0 is written before it and after the
    results are read, so that every command is a fresh edge."""

    @model_validator(mode="after")
    def _coil_is_bit(self) -> CommandPoint:
        if self.table == "coil" and self.value != 1:
            raise ValueError(f"a coil command's value must be 1 (got {self.value})")
        return self


class ValueRegister(Section):
    """A measured value in the device's registers: raw value times `scale`."""

    table: Literal["input_register", "holding_register"] = "input_register"
    """Modbus table the value lives in."""
    address: ModbusAddress
    """Zero-based address of its (first) register."""
    data_type: DataType = "uint16"
    """uint16/int16: one register; uint32/int32/float32: two."""
    word_order: Literal["high_first", "low_first"] = "high_first"
    """For 32-bit types: which register holds the high word."""
    scale: float = Field(default=1.0, ge=1e-9, le=1e9)
    """Engineering value = raw value x scale (e.g. 0.1 for a SoH in tenths of %)."""
    description: str = ""
    """What the register holds, in the tester's manual's words."""


class ModbusBatteryTesterConfig(ModbusDeviceConfig):
    """A traction-battery tester on Modbus TCP: measures after a start command, sets its
    ready bit when the results are valid."""

    driver: Literal["modbus_battery_tester"]
    """Selects the battery tester driver."""
    poll_interval_ms: PollInterval = 50
    """Period of the ready-bit poll (also what detects a dead link)."""
    start: CommandPoint
    """Where the start command is written."""
    ready: BitPoint
    """The bit the tester sets once the results of the last start are valid (it clears
    it on every start)."""
    registers: dict[Name, ValueRegister] = Field(min_length=1, max_length=64)
    """The tester's value registers by name (a measure step's quantity names one)."""
    measure_timeout_s: float = Field(default=120.0, ge=0.1, le=3600.0)
    """A start with no ready bit within this time fails the measurement."""


# --- Serial or TCP readers ---------------------------------------------------------

_SERIAL_PATH = re.compile(r"^/dev/[A-Za-z0-9_./-]+$")
_TCP_URL = re.compile(r"^tcp://(?P<host>[A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def check_endpoint(value: str) -> str:
    """A reader endpoint is a serial device path or tcp://host:port."""
    if _SERIAL_PATH.match(value):
        return value
    match = _TCP_URL.match(value)
    if match is None:
        raise ValueError(f"must be a serial device (/dev/...) or tcp://HOST:PORT (got {value!r})")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535 (got {port})")
    return value


ReaderEndpoint = Annotated[str, AfterValidator(check_endpoint)]


class SerialSettings(Section):
    """Line settings of a serial port (ignored for TCP endpoints)."""

    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400] = 115200
    """Bits per second."""
    bytesize: Literal[7, 8] = 8
    """Data bits."""
    parity: Literal["N", "E", "O"] = "N"
    """Parity: none, even, odd."""
    stopbits: Literal[1, 2] = 1
    """Stop bits."""


READ_TIMEOUT_MIN_S = 0.05
"""The shortest read window a barcode reader's config takes (`read_timeout_s`)."""


class KeyenceBarcodeConfig(Section):
    """A fixed-mount barcode reader speaking the Keyence SR command set."""

    driver: Literal["keyence_sr"]
    """Selects the Keyence SR style barcode driver."""
    endpoint: ReaderEndpoint
    """Serial device (/dev/ttyUSB0) or tcp://HOST:PORT (9004 is common)."""
    serial: SerialSettings = SerialSettings()
    """Serial line settings."""
    link: LinkSettings = LinkSettings(request_timeout_s=1.0, stale_after_s=60.0)
    """Timeouts and reconnect backoff."""
    framing: Literal["cr", "crlf", "stx_etx"] = "cr"
    """How the reader ends a read: CR, CR LF, or STX ... ETX."""
    noread: str = Field(default="ERROR", min_length=1, max_length=32)
    """The string the reader sends when it read nothing."""
    trigger_on: str = Field(default="LON", min_length=1, max_length=32)
    """Command that starts a read."""
    trigger_off: str = Field(default="LOFF", min_length=1, max_length=32)
    """Command that ends a read."""
    read_timeout_s: float = Field(default=2.0, ge=READ_TIMEOUT_MIN_S, le=60.0)
    """Time a trigger waits for codes before it reports a no-read."""
    max_line_bytes: int = Field(default=256, ge=32, le=4096)
    """Longest frame kept; longer lines are dropped and counted."""


Camera = Literal["exterior", "interior", "underbody", "tyres"]
"""The photo studio's cameras."""


class CameraSystemConfig(Section):
    """The photo studio's camera system: shots armed by command at their angles, it
    fires them itself as its own encoder input crosses each angle (position compare),
    stores each camera's image and reports it (name, SHA-256, angle, time)."""

    driver: Literal["studio_cameras"]
    """Selects the camera system driver (text commands, CR LF)."""
    endpoint: ReaderEndpoint
    """tcp://HOST:PORT of the camera system (or a serial device)."""
    serial: SerialSettings = SerialSettings()
    """Serial line settings (only for a serial endpoint)."""
    link: LinkSettings = LinkSettings(request_timeout_s=1.0, stale_after_s=60.0)
    """Timeouts and reconnect backoff."""
    cameras: list[Camera] = Field(
        default=["exterior", "interior", "underbody", "tyres"], min_length=1, max_length=4
    )
    """The cameras installed; a report naming another is refused."""
    report_timeout_s: float = Field(default=2.0, ge=0.01, le=60.0)
    """After the rotation, how long its missing reports are waited for (not scaled by
    --fast: it runs out only when an image is missing)."""
    max_line_bytes: int = Field(default=512, ge=128, le=4096)
    """Longest report line kept; longer lines are dropped and counted."""


class BalluffRfidConfig(Section):
    """An HF (ISO 15693) RFID read/write head with a Balluff BIS style command set."""

    driver: Literal["balluff_bis"]
    """Selects the BIS style RFID driver."""
    endpoint: ReaderEndpoint
    """Serial device (/dev/ttyUSB1) or tcp://HOST:PORT."""
    serial: SerialSettings = SerialSettings(baudrate=38400)
    """Serial line settings."""
    link: LinkSettings = LinkSettings(request_timeout_s=1.0, stale_after_s=60.0)
    """Timeouts and reconnect backoff."""
    head: int = Field(default=1, ge=1, le=4)
    """Read/write head number on the processor unit."""
    write_attempts: int = Field(default=3, ge=1, le=10)
    """Writes tried (each verified by read-back) before the write fails."""
    tag_blocks: int = Field(default=28, ge=4, le=256)
    """User memory blocks of the tag (ISO 15693: 28 blocks of 4 bytes = 112 bytes)."""
    block_size: Literal[4, 8, 32] = 4
    """Bytes per block."""


# --- OPC UA device -------------------------------------------------------------------


class OpcUaSecurity(Section):
    """Security of an OPC UA client link. Nothing is trusted automatically."""

    policy: Literal["None", "Basic256Sha256"] = "Basic256Sha256"
    """Security policy; None only on an isolated bench network."""
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    """Message security mode."""
    certificate: str | None = None
    """Client certificate (DER or PEM file)."""
    private_key: str | None = None
    """Client private key (PEM file)."""
    trust_dir: str | None = None
    """Folder of trusted server certificates; the server's must be there."""
    user: str | None = None
    """User name; None logs in anonymously."""
    password_file: str | None = None
    """File holding the user's password (kept out of the station file)."""

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError(
                f"policy {self.policy!r} and mode {self.mode!r} do not go together: "
                "both None, or a policy with Sign/SignAndEncrypt"
            )
        if self.policy != "None" and not (self.certificate and self.private_key and self.trust_dir):
            raise ValueError(
                "a secured link needs certificate, private_key and trust_dir "
                "(server certificates are never trusted automatically)"
            )
        if (self.user is None) != (self.password_file is None):
            raise ValueError("user and password_file go together")
        return self


class OpcUaDeviceConfig(Section):
    """A device that speaks OPC UA, e.g. the inline technical-control system."""

    driver: Literal["opcua"]
    """Selects the OPC UA client driver."""
    url: str = Field(pattern=r"^opc\.tcp://[^\s/:]+(:\d{1,5})?(/.*)?$")
    """Server endpoint, opc.tcp://HOST:PORT/PATH."""
    security: OpcUaSecurity
    """Policy, mode, certificates and user: always stated, never a library default."""
    link: LinkSettings = LinkSettings(
        request_timeout_s=2.0, connect_timeout_s=5.0, stale_after_s=10.0
    )
    """Timeouts and reconnect backoff."""
    nodes: dict[Name, str] = Field(min_length=1)
    """Named node ids, e.g. verdict: "ns=2;s=Inspection.Verdict"."""
    publishing_interval_ms: int = Field(default=100, ge=0, le=60_000)
    """Subscription publishing interval."""
    queue_size: int = Field(default=16, ge=1, le=1000)
    """Monitored-item queue: changes between publishes are kept, not coalesced."""

    @field_validator("nodes")
    @classmethod
    def _node_ids(cls, nodes: dict[str, str]) -> dict[str, str]:
        for name, node in nodes.items():
            if not re.match(r"^(ns=\d+;)?[isgb]=.+$", node):
                raise ValueError(
                    f"node {name!r}: not an OPC UA node id like ns=2;s=Name (got {node!r})"
                )
        return nodes


DeviceConfig = Annotated[
    ModbusPlcConfig
    | ModbusTurntableConfig
    | KeyenceBarcodeConfig
    | BalluffRfidConfig
    | CameraSystemConfig
    | OpcUaDeviceConfig
    | ModbusBatteryTesterConfig,
    Field(discriminator="driver"),
]
"""Any device section, selected by its `driver:` key."""
