"""asyncua's server on sockets it is handed, in the server's process
(`station.interface.process`).

`station run` binds the OPC UA endpoint's sockets itself, before anything starts, and
keeps them until the server's process serves on them: a port taken is refused before
the journal opens, no other process can take it while the interface comes up after
READY, and a client connecting meanwhile waits in the backlog instead of being refused.
asyncua binds its own sockets in `Server.start()` (its `BinaryServer`); `OnSockets`
is that start with asyncio's server on the sockets given.

Its `stop()` also ends asyncua's clock (the task that writes Server/ServerStatus/
CurrentTime every second) at once: asyncua sets a flag the task reads after its
1-second sleep, and waited for it, which was most of the station's stop (1 s).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from asyncua.crypto import uacrypto
from asyncua.server.binary_server_asyncio import BinaryServer
from asyncua.server.server import Server


class OnSockets(Server):
    """asyncua's `Server`; `start()` serves on `listeners` when there are some, `stop()`
    does not wait for the clock's sleep."""

    listeners: Sequence[socket.socket] = ()

    async def start(self) -> None:
        if not self.listeners:
            await super().start()
            return
        if self.iserver.certificate is not None:  # warnings only, as asyncua's start
            uacrypto.check_certificate(
                self.iserver.certificate, self._application_uri, socket.gethostname()
            )
        await self._setup_server_nodes()
        await self.iserver.start()
        binary = _Binary(self.listeners, self.iserver, "", 0, self.limits)
        binary.set_policies(self._policies)
        self.bserver = binary
        try:
            await binary.start()
        except Exception:
            await self.iserver.stop()
            raise

    async def stop(self) -> None:
        clock, self.iserver.time_task = self.iserver.time_task, None
        if clock is not None:
            clock.cancel()
            await asyncio.gather(clock, return_exceptions=True)
        await super().stop()


class _Binary(BinaryServer):
    """asyncua's binary protocol server, listening on sockets already bound."""

    def __init__(self, listeners: Sequence[socket.socket], *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.listeners = listeners
        self._others: list[asyncio.Server] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        servers = [await loop.create_server(self._make_protocol, sock=s) for s in self.listeners]
        self._server, *self._others = servers
        self.hostname, self.port = self.listeners[0].getsockname()[:2]
        self.logger.info("Listening on %s:%s", self.hostname, self.port)
        self.cleanup_task = asyncio.create_task(self._close_task_loop())

    async def stop(self) -> None:
        await super().stop()
        for server in self._others:
            server.close()
            await server.wait_closed()
