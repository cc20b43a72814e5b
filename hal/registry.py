"""Driver registry: the `driver:` name of a device -> the class that serves it.

Imports are lazy so that a station without OPC UA devices never pays for
importing asyncua. Constructors take `(name, config)`; the turntable also
takes the zone-clear interlock.
"""

from __future__ import annotations

import importlib
from typing import Any

DRIVERS: dict[str, str] = {
    "modbus_plc": "hal.modbus.plc:ModbusPlc",
    "modbus_turntable": "hal.modbus.turntable:ModbusTurntable",
    "keyence_sr": "hal.readers.keyence:KeyenceReader",
    "balluff_bis": "hal.readers.bis:BisTagReader",
    "opcua": "hal.opcua.client:OpcUaClientDevice",
}


def driver_class(driver: str) -> Any:
    """The class registered for `driver` (KeyError names the known drivers)."""
    try:
        module_name, class_name = DRIVERS[driver].split(":")
    except KeyError:
        raise KeyError(f"no driver {driver!r} (known: {', '.join(DRIVERS)})") from None
    return getattr(importlib.import_module(module_name), class_name)
