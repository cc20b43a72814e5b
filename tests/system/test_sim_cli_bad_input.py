"""`station sim DEVICE` given what it cannot serve on (issue 13): a port in use, an
address this machine does not own, a --pty path that cannot be made, a bad
HOST:PORT. Each is a real subprocess with real sockets and files: exit 2, one
line on stderr naming the port or path and what to do, no traceback. Nothing
here sends a packet: binding is local, and the TEST-NET address is never reached."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from modbus_rig import PHOTO_STUDIO

REPO = Path(__file__).resolve().parent.parent.parent
NOT_OURS = "203.0.113.7"
"""TEST-NET-3 (RFC 5737): documentation only, never assigned to a machine of ours."""


def station_sim(*args: str) -> tuple[int, list[str]]:
    """`station sim ARGS --config PHOTO_STUDIO` run to its end: exit code, stderr lines."""
    done = subprocess.run(
        [sys.executable, "-m", "station.cli", "sim", *args, "--config", str(PHOTO_STUDIO)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr.splitlines()


def one_line(code: int, lines: list[str]) -> str:
    assert code == 2, lines
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 that something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("device", ["plc", "barcode", "rfid"])
def test_a_port_in_use(device: str, busy_port: int) -> None:
    line = one_line(*station_sim(device, "--listen", f"127.0.0.1:{busy_port}"))
    assert line == (
        f"station sim {device}: --listen 127.0.0.1:{busy_port}: the port is already in use: "
        "stop what listens there or choose another port (PORT 0: any free port)"
    )


@pytest.mark.parametrize("device", ["turntable", "rfid"])
def test_an_address_of_another_machine(device: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((NOT_OURS, 0))
        except OSError:
            pass
        else:
            pytest.skip(f"this machine owns {NOT_OURS}")
    line = one_line(*station_sim(device, "--listen", f"{NOT_OURS}:5020"))
    assert line == (
        f"station sim {device}: --listen {NOT_OURS}:5020: not an address of this machine: "
        "give one of its addresses, 0.0.0.0 (all of them) or 127.0.0.1 (this machine only)"
    )


def test_a_host_that_does_not_resolve() -> None:
    where = "no-such-host.invalid:9004"
    line = one_line(*station_sim("barcode", "--listen", where))
    assert line.startswith(f"station sim barcode: --listen {where}: host not found")
    assert line.endswith("give an IP address of this machine (0.0.0.0: all of them)")


@pytest.mark.parametrize("listen", ["localhost", "127.0.0.1:99999", ":5020", "127.0.0.1:port"])
def test_not_host_and_port(listen: str) -> None:
    line = one_line(*station_sim("plc", "--listen", listen))
    assert line == (
        f"station sim plc: --listen {listen!r}: expected HOST:PORT with PORT 0..65535, "
        "e.g. 127.0.0.1:5020 (PORT 0: any free port)"
    )


@pytest.mark.parametrize("device", ["barcode", "rfid"])
def test_a_pty_in_a_missing_directory(device: str, tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "ttyREADER"
    line = one_line(*station_sim(device, "--pty", str(path)))
    assert line == (
        f"station sim {device}: --pty {path}: no directory {path.parent}: "
        "create it or give a path in an existing directory"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["directory", "file"])
def test_a_pty_where_something_else_is(what: str, tmp_path: Path) -> None:
    path = tmp_path / "ttyBARCODE"
    if what == "directory":
        path.mkdir()
    else:
        path.write_text("keep me\n")
    line = one_line(*station_sim("barcode", "--pty", str(path)))
    assert line == (
        f"station sim barcode: --pty {path}: exists and is not a symlink, so it is not "
        "replaced: give a path where nothing is (a symlink there is repointed)"
    )
    assert path.is_dir() if what == "directory" else path.read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ttyBARCODE"], "no staging link left"
