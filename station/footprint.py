"""What the station's own processes leave out of memory (issue 18, item 5): `station
run`'s and its OPC UA server's process. No import here but the standard library's.

structlog loads rich, and pygments through it, whenever rich is installed (textual
installs it, for the console), to draw tracebacks on a terminal: 4.2 MiB of PSS in each
process, for nothing here: `station.logs` formats tracebacks as plain text before any
renderer sees them (`format_exc_info`), on a terminal as in JSON lines. The console's
process, which draws with rich, never calls `leave_out_rich`.
"""

from __future__ import annotations

import sys


def leave_out_rich() -> None:
    """Make `import rich` fail in this process (structlog then formats tracebacks
    plainly). Only before structlog is imported: afterwards it has rich already."""
    if "structlog" not in sys.modules:
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]


SERVER_PROCESS = (
    "from station.footprint import leave_out_rich; leave_out_rich(); "
    "from station.interface.process import main; raise SystemExit(main())"
)
"""`python -c` code that runs `python -m station.interface.process`'s main without rich."""
