"""The measure step's OPC UA source: quantities read from nodes of an OPC UA device.

One read per node (a name of the device's `nodes:`), in the step's order. The
value must be a number (an integer or a floating-point value; not a boolean, a
string or nothing); one that is not, or a read answered with a bad status, holds
the vehicle like a value outside the physical range (the device is wrong, not the
vehicle: a supervisor retries or removes it). A lost link or a request without a
reply aborts the station like any device fault (`station.cycle` translates them).
"""

from __future__ import annotations

from collections.abc import Mapping

from hal.errors import BadStatus
from hal.interfaces import OpcUaDevice
from station.journal.untrusted import bound_text
from station.step_context import StepFailed


async def read_nodes(device: OpcUaDevice, name: str, nodes: Mapping[str, str]) -> dict[str, float]:
    """The value of each quantity (quantity -> node of device `name`), as a number."""
    values: dict[str, float] = {}
    for quantity, node in nodes.items():
        try:
            value = await device.read(node)
        except BadStatus as exc:
            raise StepFailed(
                "hold",
                "measurement_bad_status",
                f"{name} has no good value of {quantity}: {exc.message}: the device is "
                "wrong, measure again",
                data={"device": name, "quantity": quantity, "node": node},
            ) from exc
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = bound_text(repr(value), 64)
            raise StepFailed(
                "hold",
                "measurement_out_of_range",
                f"{name} gave {quantity} = {shown}, not a number: the device is wrong, "
                "measure again",
                data={"device": name, "quantity": quantity, "value": shown},
            )
        values[quantity] = float(value)
    return values
