"""What the Modbus tests share: the photo studio's device sections (and its camera
system's), a simulator with its driver pointed at it, and a bounded poll-until-true.

Everything runs over real TCP on loopback; simulators bind port 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hal.config import CameraSystemConfig, LinkSettings, ModbusPlcConfig, ModbusTurntableConfig
from hal.modbus.plc import ModbusPlc
from hal.modbus.turntable import ModbusTurntable
from simulators.plc import SimPlc
from simulators.turntable import SimTurntable
from station.config.loader import load_station

PHOTO_STUDIO = Path(__file__).resolve().parent.parent / "configs" / "stations" / "photo-studio.yaml"

FAST_LINK = LinkSettings(
    connect_timeout_s=0.5,
    request_timeout_s=0.1,
    retries=0,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    stale_after_s=0.3,
)
"""Link timing of the tests: short, so that faults show within a second."""


def plc_config(**changes: Any) -> ModbusPlcConfig:
    """The photo studio's PLC section, with FAST_LINK and `changes` applied."""
    device = load_station(PHOTO_STUDIO).model.devices["plc"]
    assert isinstance(device, ModbusPlcConfig)
    return device.model_copy(update={"link": FAST_LINK, **changes})


def turntable_config(**changes: Any) -> ModbusTurntableConfig:
    """The photo studio's turntable section, polled every 5 ms, with `changes`."""
    device = load_station(PHOTO_STUDIO).model.devices["turntable"]
    assert isinstance(device, ModbusTurntableConfig)
    update = {"link": FAST_LINK, "poll_interval_ms": 5, "stall_timeout_s": 0.3, **changes}
    return device.model_copy(update=update)


def camera_config() -> CameraSystemConfig:
    """The photo studio's camera system section, with a short report wait."""
    device = load_station(PHOTO_STUDIO).model.devices["cameras"]
    assert isinstance(device, CameraSystemConfig)
    link = device.link.model_copy(update={"connect_timeout_s": 0.5, "backoff_max_s": 0.2})
    return device.model_copy(update={"link": link, "report_timeout_s": 1.0})


@asynccontextmanager
async def plc_rig(
    config: ModbusPlcConfig | None = None, **sim_options: Any
) -> AsyncIterator[tuple[SimPlc, ModbusPlc]]:
    """A started SimPlc and a ModbusPlc connected to it (link up)."""
    config = config or plc_config()
    sim = SimPlc(config, **sim_options)
    await sim.start()
    plc = ModbusPlc("plc", config.model_copy(update=sim.endpoint_update()))
    try:
        await plc.start()
        await plc.link.wait_up(2.0)
        yield sim, plc
    finally:
        await plc.stop()
        await sim.stop()


@asynccontextmanager
async def turntable_rig(
    config: ModbusTurntableConfig, zone_clear: Callable[[], bool], **sim_options: Any
) -> AsyncIterator[tuple[SimTurntable, ModbusTurntable]]:
    """A started SimTurntable and a ModbusTurntable connected to it (link up)."""
    sim = SimTurntable(config, **sim_options)
    await sim.start()
    table = ModbusTurntable(
        "turntable", config.model_copy(update=sim.endpoint_update()), zone_clear
    )
    try:
        await table.start()
        await table.link.wait_up(2.0)
        yield sim, table
    finally:
        await table.stop()
        await sim.stop()


async def poll_until(condition: Callable[[], bool], timeout: float, every: float = 0.002) -> None:
    """Return once `condition()` holds; TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (the condition lives in another process or model)
            await asyncio.sleep(every)
