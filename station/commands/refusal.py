"""A command's refusal of bad input, before anything starts: one line each on stderr,
prefixed with the command, exit 2 (docs/cli.md)."""

from __future__ import annotations

import sys


class Refused(Exception):
    """Bad input; a command subclasses it with its own `COMMAND` prefix."""

    COMMAND = "station"

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = problems

    def report(self) -> int:
        for problem in self.problems:
            print(f"{self.COMMAND}: {problem}", file=sys.stderr)
        return 2
