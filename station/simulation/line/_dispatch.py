"""Which of an operation's parallel stations the conveyor sends a vehicle to."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One station of the operation as the conveyor sees it now."""

    station: str
    waiting: int
    """Vehicles queued at it or travelling to it."""
    free: bool
    """No vehicle in the station itself."""


def shortest_queue(candidates: Sequence[Candidate]) -> str:
    """The station with the fewest vehicles waiting; among those, the first free one,
    else the first (in the route's order of the candidates)."""
    least = min(candidate.waiting for candidate in candidates)
    tied = [candidate for candidate in candidates if candidate.waiting == least]
    return next((candidate for candidate in tied if candidate.free), tied[0]).station
