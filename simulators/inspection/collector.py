"""The garbage collector around asyncua servers built in a thread (see the package
docstring): paused while a server is built, its objects frozen, unfrozen when the last
simulator is gone."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_gc_lock = threading.Lock()
_gc_users = 0

_gc_users = 0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Build a server with the garbage collector paused, then freeze what was built
    (see the package docstring)."""
    with _gc_lock:
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()
            if enabled:
                gc.enable()


def simulator_started() -> None:
    global _gc_users
    with _gc_lock:
        _gc_users += 1


def simulator_stopped() -> None:
    """The last simulator gone: frozen servers become collectable again."""
    global _gc_users
    with _gc_lock:
        _gc_users -= 1
        if _gc_users == 0:
            gc.unfreeze()
