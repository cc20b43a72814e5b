"""What the station's own processes leave out of memory and of the CPU they start with
(issue 18, item 5): `station run`'s and its OPC UA server's process. No import here
but the standard library's, so that this runs before any other.

structlog loads rich, and pygments through it, whenever rich is installed (textual
installs it, for the console), to draw tracebacks on a terminal: 4.2 MiB of PSS in each
process, for nothing here: `station.logs` formats tracebacks as plain text before any
renderer sees them (`format_exc_info`), on a terminal as in JSON lines. The console's
process, which draws with rich, never calls `leave_out_rich`.
"""

from __future__ import annotations

import os
import sys

NICENESS = 10
"""Added to the OPC UA server's process's nice value, before its first import: its start
(asyncua's import above all, 0.5-0.8 s of CPU) runs beside the station's without
delaying READY, and when clients keep it busy, the station's control loop gets the CPU
first (the server answers later, the line does not wait)."""


def leave_out_rich() -> None:
    """Make `import rich` fail in this process (structlog then formats tracebacks
    plainly). Only before structlog is imported: afterwards it has rich already."""
    if "structlog" not in sys.modules:
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]


def server_process() -> int:
    """The OPC UA server's process as the station starts it (`python -c SERVER_PROCESS`
    ARGS, the arguments of `python -m station.interface.process`): niced, rich left
    out, then its `main`."""
    not_niced = None
    try:
        os.nice(NICENESS)
    except OSError as exc:
        not_niced = str(exc)
    leave_out_rich()
    from station.interface.process import main

    return main(not_niced)


SERVER_PROCESS = "import station.footprint as f; raise SystemExit(f.server_process())"
"""`python -c` code for `server_process`."""
