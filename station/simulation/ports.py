"""A free TCP port on loopback, for a child process that must be told its port before it
listens (Mosquitto, a scratch PostgreSQL, a station's OPC UA endpoint in a benchmark).
Another process may take it between this call and the child's bind: the child then fails
to start and says so; where a server can bind port 0 and report its port, prefer that."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
