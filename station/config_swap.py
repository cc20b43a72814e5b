"""Taking a new config while the station runs.

A new config is validated first (a failing one never replaces the running one),
then taken only while no vehicle is in the station; both outcomes are journaled
with the hashes. `ConfigSwap` is a part of `station.runtime.Station`: what it uses
of the station is declared at its top.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from station.alarms import Priority
from station.config.loader import ConfigError, LoadedStation, load_station
from station.control import SYSTEM, InvalidArgument, Refused, bounded
from station.devices import DeviceSet
from station.events import ConfigPending, ConfigRejected, ConfigSwapped, Entry
from station.fsm import State
from station.journal import Event, Journal
from station.route import RouteSnapshot

DeviceFactory = Callable[[LoadedStation], DeviceSet]
"""Builds the devices of a config (a new config with other devices gets new ones)."""

CONNECT_TIMEOUT_S = 10.0
"""Starting (and a swap to new devices) waits this long for every device link."""


class ConfigSwap:
    """Config requests and their application; see the module docstring."""

    name: str
    config: LoadedStation
    route: RouteSnapshot
    journal: Journal
    devices: DeviceSet
    device_factory: DeviceFactory | None
    pending_config: LoadedStation | None
    _swap_lock: asyncio.Lock

    if TYPE_CHECKING:

        @property
        def idle(self) -> bool: ...

        @property
        def state(self) -> State: ...

        async def commit(self, entry: Entry) -> Event: ...

        async def _authorize(self, user: str, role: str, action: str, detail: str = "") -> None: ...

        def alarms_raise(self, key: str, priority: Priority, text: str) -> None: ...

        def alarms_clear(self, key: str) -> None: ...

        def _watch_links(self) -> None: ...

    async def request_config(self, path: Path | str, user: str = SYSTEM, role: str = "") -> str:
        """Validate a new config; take it now if no vehicle is in the station, else
        after the vehicle leaves. A config that fails validation changes nothing."""
        if user != SYSTEM:
            await self._authorize(user, role, "swap_config", str(path))
        try:
            new = load_station(path)
            if new.model.station != self.name:
                raise InvalidArgument(
                    f"{bounded(path)} is for station {new.model.station}, not {self.name}"
                )
        except (ConfigError, Refused) as exc:
            errors = [str(i) for i in exc.issues] if isinstance(exc, ConfigError) else [str(exc)]
            await self.commit(
                ConfigRejected(
                    operator=user,
                    data={
                        "path": bounded(path),
                        "errors": [bounded(e) for e in errors],
                        "running": self.config.content_hash,
                    },
                )
            )
            self.alarms_raise(
                "config", Priority.MEDIUM, f"config {bounded(path)} rejected: {bounded(errors[0])}"
            )
            raise
        self.alarms_clear("config")
        self.pending_config = new
        await self.commit(
            ConfigPending(
                operator=user,
                data={
                    "path": bounded(path),
                    "new": new.content_hash,
                    "running": self.config.content_hash,
                },
            )
        )
        if self.idle and self.state is not State.EXECUTE:
            await self._apply_config()
            return "taken"
        return "pending"

    async def _apply_config(self) -> None:
        async with self._swap_lock:
            new = self.pending_config
            if new is None:
                return
            self.pending_config = None
            old_hash = self.config.content_hash
            if new.model.devices != self.config.model.devices and self.device_factory is not None:
                await self.devices.stop()
                self.devices = self.device_factory(new)
                self._watch_links()
                await self.devices.start()
                await self.devices.wait_connected(CONNECT_TIMEOUT_S)
            self.config = new
            self.route = RouteSnapshot.from_line(new.line.model)
            self.journal.config_hash = new.content_hash
            await self.commit(ConfigSwapped(data={"old": old_hash, "new": new.content_hash}))
