"""Every type of device a station file may hold, one module each, collected here.

A device type (`base.DeviceType`) declares in one place its config section
(a `hal.config` model), its driver (in `hal`), its simulator (in
`simulators`), its config checks, and how the simulated world and the
scenario faults act on it. The station builds drivers (`station.devices`),
simulators (`station.simulation.devices`, `station sim WORD`) and checks
(`station.config.checks`) by asking this registry, never by naming a type.

Adding a device type: its config model in `hal.config` (a member of
`DeviceConfig`), its driver in `hal/` and its simulator in `simulators/`,
then one module here and one line in `DEVICE_TYPES`. Importing this module
fails when `DeviceConfig` and `DEVICE_TYPES` do not list the same drivers.
"""

from __future__ import annotations

from typing import Any, get_args

from hal.config import DeviceConfig
from station.device_types.barcode import BARCODE
from station.device_types.base import DeviceType
from station.device_types.battery_tester import BATTERY_TESTER
from station.device_types.cameras import CAMERAS
from station.device_types.inspection import INSPECTION
from station.device_types.plc import PLC
from station.device_types.rfid import RFID
from station.device_types.turntable import TURNTABLE

DEVICE_TYPES: tuple[DeviceType[Any, Any], ...] = (
    PLC,
    TURNTABLE,
    CAMERAS,
    BARCODE,
    RFID,
    INSPECTION,
    BATTERY_TESTER,
)
"""Every device type, in the order `station sim` lists them."""

_BY_DRIVER = {device_type.driver: device_type for device_type in DEVICE_TYPES}


def _sections() -> set[str]:
    union, _discriminator = get_args(DeviceConfig)
    return {get_args(model.model_fields["driver"].annotation)[0] for model in get_args(union)}


if _sections() != set(_BY_DRIVER):
    raise ImportError(
        f"hal.config.DeviceConfig ({', '.join(sorted(_sections()))}) and DEVICE_TYPES "
        f"({', '.join(_BY_DRIVER)}) must list the same drivers"
    )


def device_type(driver: str) -> DeviceType[Any, Any]:
    """The type of a device section's `driver:` name."""
    return _BY_DRIVER[driver]


def by_word(word: str) -> DeviceType[Any, Any]:
    """The type named `word` on the command line (`station sim WORD`)."""
    return next(t for t in DEVICE_TYPES if t.word == word)
