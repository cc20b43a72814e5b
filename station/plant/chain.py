"""The hash chain of a station's journal as the plant checks it, on the journal's own
`Event` (its `expected_hash` is the station's hash rule, not a copy of it).

An event links when its hash is the hash of its fields and its prev_hash is the hash of
the event before it (64 zeros before seq 1). Statuses of a stored event:
- `ok`: it links to the event before, and every event before it does;
- `broken`: it does not link (the problem is stored beside it, and a plant alarm raised);
- `after_break`: it links, but the chain broke earlier at that station;
- `gap`: stored ahead of a missing seq; checked when the missing events arrive.
"""

from __future__ import annotations

from station.journal import GENESIS_HASH, Event

OK = "ok"
BROKEN = "broken"
AFTER_BREAK = "after_break"
GAP = "gap"


def link_problem(event: Event, prev_hash: str) -> str | None:
    """Why `event` does not chain after an event whose hash is `prev_hash`, or None."""
    if event.expected_hash() != event.hash:
        return f"seq {event.seq}: its hash is not the hash of its fields"
    if event.prev_hash != prev_hash:
        return f"seq {event.seq}: prev_hash is not the hash of seq {event.seq - 1}"
    return None


def previous_hash(seq: int, head_hash: str) -> str:
    """The prev_hash expected at `seq` after a head of hash `head_hash` (genesis at 1)."""
    return GENESIS_HASH if seq == 1 else head_hash


def status_after(problem: str | None, broken_before: bool) -> str:
    if problem is not None:
        return BROKEN
    return AFTER_BREAK if broken_before else OK
