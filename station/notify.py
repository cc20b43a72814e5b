"""systemd's notify protocol (sd_notify), without a dependency.

`station@.service` runs with Type=notify and WatchdogSec: the runtime sends
READY=1 once the station runs (devices up or not: a device down is a link alarm;
its OPC UA interface comes up after, STATUS= says when it serves) and WATCHDOG=1
from its main loop while it is healthy. A blocked event loop stops the pings, and systemd
restarts the service (docs/faults.md row 28); the journal restores the vehicle.
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send `message` (e.g. 'READY=1') to $NOTIFY_SOCKET; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def watchdog_interval() -> float | None:
    """Half of systemd's watchdog period in seconds, or None when it is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    return int(usec) / 2_000_000
