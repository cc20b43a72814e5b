"""The line between the station and its OPC UA server's process: one JSON object per
line over a Unix socket pair (`StationServer` keeps one end, the process gets the
other as a file descriptor). Either side sees the other's end as the end of the
stream: the process stops when the station is gone, even killed.

Messages, station -> server process:
- `{"start": {...}}` first: what to serve (`station.interface.process`);
- `{"vars": {node_id: [value, variant type number]}}`: variable values that changed;
- `{"reply": id, "status": int, "outputs": [...]}`: a command's answer (status 0: done);
- `{"stop": true}`: close every session and the socket, then answer `stopped`.

Server process -> station:
- `{"started": {"startup_s": float}}` or `{"failed": {"errno": int|null, "message": str}}`;
- `{"call": id, "method": str, "user": str, "role": str, "args": [...]}`: run a command;
- `{"journal": {"kind": str, "fields": {...}}}`: an audit entry (refused logins, counts);
- `{"stopped": true}`, then the end of the stream.

Nothing in a message is trusted beyond its shape: the station runs only the commands of
its method table and journals only the audit kinds (`server.StationServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from station.interface import V
from station.interface.variables import Variables

MAX_LINE = 16 * 2**20
"""Longest message, in bytes (a status with every event of Events/Recent is ~50 KB)."""

Message = dict[str, Any]


class Channel:
    """One end of the line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_LINE)
        return cls(reader, writer)

    def post(self, message: Message) -> None:
        """Send `message` without waiting for the socket to take it."""
        if not self.writer.is_closing():
            self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def send(self, message: Message) -> None:
        """Send `message` and wait until the socket has room for more."""
        self.post(message)
        await self.writer.drain()

    async def receive(self) -> Message | None:
        """The next message; None at the end of the stream."""
        line = await self.reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"not a message: {line[:80]!r}")
        return message

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, BrokenPipeError):
            await self.writer.wait_closed()


def values_out(values: Variables) -> dict[str, list[Any]]:
    """Variable values as a message carries them."""
    return {node_id: [value, int(vt.value)] for node_id, (value, vt) in values.items()}


def values_in(carried: dict[str, list[Any]]) -> Variables:
    """Variable values from a message."""
    return {node_id: (value, V(vt)) for node_id, (value, vt) in carried.items()}
