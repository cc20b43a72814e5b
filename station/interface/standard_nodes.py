"""asyncua's standard address space (the ~20,000 nodes of OPC 10000-5 every server has),
kept on disk once and read as it is used, for the server's process
(`station.interface.process`).

Built in Python, as asyncua's `Server.init()` does without a cache, it costs every start
1.3-1.5 s of CPU and 50 MiB of memory kept for the life of the server, though a
station's clients touch a few hundred of those nodes. asyncua can keep it in a shelf
(`init(shelf_file)`): built and written once, then each node is read from the file the
first time it is asked for (0.2 s and 2 MiB at start). The shelf depends on asyncua's
version only, so one folder serves every station of the machine and every later start:
`$CACHE_DIRECTORY` (systemd's `CacheDirectory=`), else `$XDG_CACHE_HOME` or `~/.cache`,
in `station-controller/asyncua-<version>/`.

A shelf is written to a folder of its own and renamed into place when complete, so that
stations starting at once each build one and a reader never sees half of one; with no
folder it can write, the server builds the address space in memory as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import structlog
from asyncua.server.server import Server

log = structlog.get_logger("station.interface")

NAME = "nodes"
"""The shelf's name in its folder (the files `nodes.dat`, `nodes.dir` ... beside it)."""


def cache_folder() -> Path:
    """Where the shelves of this machine are kept (see the module docstring)."""
    root = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return base / "station-controller"


async def init(server: Server, folder: Path | None) -> str:
    """`server.init()` with the standard address space from the shelf in `folder`, built
    and written there first if it is not; None: built in memory. Says which it was
    (`cached`, `built and cached`, `built`), for the start-up log."""
    if folder is None:
        await server.init()
        return "built"
    shelf = folder / f"asyncua-{version('asyncua')}" / NAME
    if shelf.is_file():
        await server.init(shelf)
        return "cached"
    building = _new_folder(folder, shelf.parent.name)
    if building is None:
        await server.init()
        return "built"
    try:
        await server.init(building / NAME)  # builds, writes the shelf, goes on in memory
        _put_in_place(building, shelf.parent)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return "built and cached"


def _new_folder(folder: Path, name: str) -> Path | None:
    """A new folder of this process's own in `folder` to write a shelf into (None: it
    cannot be written, logged)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}.", dir=folder))
    except OSError as exc:
        log.warning("opcua_nodes_not_cached", folder=str(folder), error=str(exc))
        return None


def _put_in_place(building: Path, final: Path) -> None:
    """The shelf written in `building` becomes `final`, unless another one got there
    first."""
    (building / NAME).touch()  # the mark asyncua looks for (dbm.dumb writes none)
    with contextlib.suppress(OSError):
        building.rename(final)
