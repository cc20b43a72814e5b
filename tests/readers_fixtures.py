"""Fixtures of the reader tests (barcode, RFID), loaded by their modules as a
plugin (`pytest_plugins = ["readers_fixtures"]`); helpers are in `readers_rig`.

`no_leaked_fds` fails a test that leaves a descriptor open: a pty side, a
serial port, a socket or a listening port. It is async so that it runs
inside the test's event loop, whose own descriptors it then does not see.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest


def _open_fds() -> dict[int, str]:
    fds: dict[int, str] = {}
    for entry in os.listdir("/proc/self/fd"):
        try:
            fds[int(entry)] = os.readlink(f"/proc/self/fd/{entry}")
        except FileNotFoundError:  # the descriptor listdir itself used, closed since
            continue
    return fds


@pytest.fixture
async def no_leaked_fds() -> AsyncIterator[None]:
    before = _open_fds()
    yield
    left = {fd: target for fd, target in _open_fds().items() if before.get(fd) != target}
    if left:
        pytest.fail(f"test left {len(left)} descriptor(s) open: {left}")


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each driver-against-simulator test runs over a real pty and a real TCP socket."""
    param: str = request.param
    return param
