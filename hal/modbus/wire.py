"""The Modbus wire format the drivers and the simulators share.

Only protocol facts live here: the four tables of the Modbus data model,
which of them hold bits, and how many values one request may carry. Who
sends what (the client, its timeouts, its reply screening) is
`hal.modbus.client`; who answers (the register image, fault injection) is
`simulators.modbus_server`. A simulator imports this module, never the client.
"""

from __future__ import annotations

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
