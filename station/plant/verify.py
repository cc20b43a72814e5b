"""`station plant verify`: every stored chain re-checked end to end from the replica.

For each station: every seq from 1 to its highest present, each event's hash the hash of
its fields and its prev_hash the hash of the event before (`station.plant.chain`), and
the head the plant acknowledged (the highest contiguous seq) still the event it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from station.journal import GENESIS_HASH
from station.plant import chain
from station.plant.store import Head, Store

CHUNK = 5000


@dataclass
class StationCheck:
    head: Head
    count: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_station(store: Store, head: Head) -> StationCheck:
    report = StationCheck(head)
    expected_seq, prev_hash = 1, GENESIS_HASH
    acked_found = head.head_seq == 0
    while True:
        rows = store.events(head.station, after_seq=report.last_seq, limit=CHUNK)
        if not rows:
            break
        for stored in rows:
            event = stored.event
            if event.seq != expected_seq:
                report.problems.append(f"seq {expected_seq}..{event.seq - 1} missing")
                prev_hash = event.prev_hash  # go on checking from what is there
            problem = chain.link_problem(event, prev_hash)
            if problem is not None:
                report.problems.append(problem)
            if event.seq == head.head_seq:
                acked_found = event.hash == head.head_hash
            report.count += 1
            report.last_seq = event.seq
            expected_seq, prev_hash = event.seq + 1, event.hash
    if not acked_found:
        report.problems.append(
            f"the acknowledged head seq {head.head_seq} ({head.head_hash[:16]}) is not stored"
        )
    return report
