"""An inspector at the station's OPC UA interface: the station served on a free port
with a users file of one inspector, and asyncua's client logged in as her."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node

from station.interface import NAMESPACE_URI
from station.interface.server import StationServer
from station.interface.users import add_user
from station.runtime import Station

INSPECTOR = ("ines", "ines-long-password")


@dataclass
class Interface:
    """What `serve` gives to `assemble(..., serve=...)`, and where the client goes."""

    folder: Path
    endpoint: str = ""

    def __post_init__(self) -> None:
        add_user(self.folder / "users.yaml", INSPECTOR[0], "inspector", INSPECTOR[1])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.endpoint = f"opc.tcp://127.0.0.1:{sock.getsockname()[1]}/station"

    def serve(self, station: Station) -> StationServer:
        return StationServer(
            station,
            station.config.model.interface,
            endpoint=self.endpoint,
            users_file=self.folder / "users.yaml",
            pki_dir=self.folder / "pki",
        )

    @asynccontextmanager
    async def inspector(self) -> AsyncIterator[Inspector]:
        client = Client(self.endpoint, timeout=5)
        client.set_user(INSPECTOR[0])
        client.set_password(INSPECTOR[1])
        async with client:
            yield Inspector(client, await client.get_namespace_index(NAMESPACE_URI))


@dataclass
class Inspector:
    client: Client
    ns: int

    def node(self, node_id: str) -> Node:
        return self.client.get_node(ua.NodeId(node_id, self.ns))

    async def call(self, method: str, *args: object) -> object:
        """A command of Station.Commands (UaStatusCodeError when refused)."""
        commands = self.node("Station.Commands")
        return await commands.call_method(ua.NodeId(f"Station.Commands.{method}", self.ns), *args)
