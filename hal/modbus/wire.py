"""The Modbus wire format the drivers and the simulators share.

Only protocol facts live here: the four tables of the Modbus data model,
which of them hold bits, how many values one request may carry, and how a
16- or 32-bit number is held in registers (`decode`, `encode`: big-endian
within a register, the word order configurable, as devices differ). Who
sends what (the client, its timeouts, its reply screening) is
`hal.modbus.client`; who answers (the register image, fault injection) is
`simulators.modbus_server`. A simulator imports this module, never the client.
"""

from __future__ import annotations

import struct
from typing import Literal

Table = Literal["coil", "discrete_input", "holding_register", "input_register"]
"""The four tables of the Modbus data model; addresses are zero-based in each."""

BIT_TABLES: tuple[Table, ...] = ("coil", "discrete_input")
"""Tables whose values are single bits (0/1); the others hold 16-bit registers."""

MAX_READ_COUNT: dict[Table, int] = {
    "coil": 2000,
    "discrete_input": 2000,
    "holding_register": 125,
    "input_register": 125,
}
"""Most values one read request may ask for (Modbus application protocol 1.1b3)."""

REGISTER_COUNT: dict[str, int] = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}
"""Registers a value of each data type takes (`hal.config.DataType`)."""


def decode(registers: list[int], data_type: str, high_first: bool = True) -> float:
    """The number held in `registers` (16-bit each) as `data_type`."""
    if REGISTER_COUNT[data_type] == 2 and not high_first:
        registers = [registers[1], registers[0]]
    raw = b"".join(struct.pack(">H", r & 0xFFFF) for r in registers[: REGISTER_COUNT[data_type]])
    return float(struct.unpack(_FORMATS[data_type], raw)[0])


def encode(value: float, data_type: str, high_first: bool = True) -> list[int]:
    """The registers holding `value` as `data_type` (integers are rounded, then clamped
    to the type's range: a device cannot show more than its registers hold)."""
    fmt = _FORMATS[data_type]
    if data_type != "float32":
        bits = 8 * struct.calcsize(fmt)
        signed = data_type.startswith("int")
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        raw = struct.pack(fmt, min(high, max(low, round(value))))
    else:
        raw = struct.pack(fmt, value)
    registers = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return registers if high_first or len(registers) == 1 else registers[::-1]


_FORMATS = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f"}
