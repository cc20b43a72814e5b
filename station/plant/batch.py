"""One batch of the collector stored in one transaction (`Store.ingest`, docs in
`station.plant.store`): each event once by (station, seq), the chain checked as it is
stored, each station's head moved, the plant alarms stored beside, and each stored event
the report reads given its report row (`station.plant.report_rows`).

The common case goes in bulk: an event that is the next of its station's chain (its seq
the head's + 1, nothing stored beyond the head) cannot be stored yet, so it is checked
here and its row queued; the queued rows are inserted with one `executemany` (psycopg
pipelines it: one round trip) before anything else reads or writes the events table, and
at the end. Anything else (a duplicate or a conflict on a resend, an event ahead of a
hole, the one that closes it) takes the row-by-row path, as it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from station.journal import Event, bound_text
from station.plant import chain, report_rows
from station.plant.incoming import Incoming
from station.plant.store import (
    _HEAD_COLUMNS,
    _INSERT,
    _SAVE_HEAD,
    _SELECT,
    ALARM_TEXT,
    Cursor,
    Head,
    Ingested,
    PlantAlarm,
    _stored,
    now_wall,
)

if TYPE_CHECKING:
    from station.plant.store import Store


class Batch:
    """The storing of one batch, inside the transaction of `cursor`."""

    def __init__(self, store: Store, cursor: Cursor) -> None:
        self._store = store
        self._cursor = cursor
        self._sql = store._sql
        self._queued: list[tuple[Any, ...]] = []
        self._reported: list[tuple[Any, ...]] = []
        """The report's rows of the events stored so far (`station.plant.report_rows`),
        inserted at the next flush: nothing in the batch reads them."""

    def store(self, batch: Sequence[Incoming], refusals: Sequence[PlantAlarm]) -> Ingested:
        cursor = self._cursor
        done = Ingested(alarms=list(refusals))
        for station in sorted({incoming.event.station for incoming in batch}):
            self._store._lock_station(cursor, station)  # in one order: no deadlock
        for incoming in batch:
            station = incoming.event.station
            head = done.heads.get(station)
            if head is None:
                head = done.heads[station] = self._head(station, incoming.line)
            head.line = incoming.line
            if incoming.event.seq == head.head_seq + 1 and head.max_seq <= head.head_seq:
                self._next(head, incoming, done)
            else:
                self._flush()
                self._take(head, incoming, done)
        self._flush()
        for head in done.heads.values():
            cursor.execute(
                self._sql(_SAVE_HEAD),
                (
                    head.station,
                    head.line,
                    head.head_seq,
                    head.head_hash,
                    head.max_seq,
                    head.broken_seq,
                ),
            )
        wall = now_wall()
        done.alarms = [
            PlantAlarm(
                a.kind,
                bound_text(a.text, ALARM_TEXT),
                None if a.station is None else bound_text(a.station, ALARM_TEXT),
                a.seq,
                a.wall or wall,
            )
            for a in done.alarms
        ]
        for alarm in done.alarms:
            cursor.execute(
                self._sql(
                    "INSERT INTO plant_alarms (wall, station, seq, kind, text) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (alarm.wall, alarm.station, alarm.seq, alarm.kind, alarm.text),
            )
        return done

    def _head(self, station: str, line: str) -> Head:
        self._cursor.execute(
            self._sql(
                f"SELECT {_HEAD_COLUMNS} FROM stations WHERE station = ?{self._store.lock_rows}"
            ),
            (station,),
        )
        row = self._cursor.fetchone()
        return Head(station, line) if row is None else Head(*row)

    def _next(self, head: Head, incoming: Incoming, done: Ingested) -> None:
        """The next event of the station's chain: nothing can be stored at its seq."""
        event = incoming.event
        problem = chain.link_problem(event, chain.previous_hash(event.seq, head.head_hash))
        status = chain.status_after(problem, head.broken_seq is not None)
        self._queued.append((*event.to_row(), incoming.line, status, problem))
        self._report(incoming)
        done.stored += 1
        self._advance(head, event, problem, done)
        head.max_seq = head.head_seq

    def _flush(self) -> None:
        if self._queued:
            self._cursor.executemany(self._sql(_INSERT), self._queued)
            self._queued = []
        if self._reported:
            self._cursor.executemany(self._sql(report_rows.INSERT), self._reported)
            self._reported = []

    def _report(self, incoming: Incoming) -> None:
        reported = report_rows.row_of(incoming.event, incoming.line)
        if reported is not None:
            self._reported.append(reported)

    def _take(self, head: Head, incoming: Incoming, done: Ingested) -> None:
        cursor, event = self._cursor, incoming.event
        if event.seq > head.head_seq:
            if event.seq == head.head_seq + 1:
                problem = chain.link_problem(event, chain.previous_hash(event.seq, head.head_hash))
                status = chain.status_after(problem, head.broken_seq is not None)
            else:
                problem, status = None, chain.GAP
            cursor.execute(self._sql(_INSERT), (*event.to_row(), incoming.line, status, problem))
            if cursor.rowcount == 1:
                done.stored += 1
                self._report(incoming)
                self._stored_one(head, event, problem, done)
                return
        cursor.execute(
            self._sql("SELECT hash FROM events WHERE station = ? AND seq = ?"),
            (event.station, event.seq),
        )
        (held,) = cursor.fetchone()
        if held == event.hash:
            done.duplicates += 1
            return
        done.alarms.append(
            PlantAlarm(
                "conflict",
                f"station {event.station} seq {event.seq} came again with another hash "
                f"({event.hash[:16]}, stored {held[:16]}): the stored one is kept",
                event.station,
                event.seq,
            )
        )

    def _stored_one(self, head: Head, event: Event, problem: str | None, done: Ingested) -> None:
        if event.seq > head.head_seq + 1:  # ahead of a hole
            if event.seq > head.max_seq + 1:
                first = max(head.head_seq, head.max_seq) + 1
                done.alarms.append(
                    PlantAlarm(
                        "gap",
                        f"station {event.station}: seq {first}..{event.seq - 1} missing "
                        f"before seq {event.seq} (kept, not acknowledged until they come)",
                        event.station,
                        first,
                    )
                )
            head.max_seq = max(head.max_seq, event.seq)
            return
        self._advance(head, event, problem, done)
        if head.max_seq > head.head_seq:
            self._close_gap(head, done)
        head.max_seq = max(head.max_seq, head.head_seq)

    def _advance(self, head: Head, event: Event, problem: str | None, done: Ingested) -> None:
        if problem is not None:
            if head.broken_seq is None:
                head.broken_seq = event.seq
            done.alarms.append(
                PlantAlarm(
                    "chain",
                    f"station {event.station}: hash chain broken: {problem}",
                    event.station,
                    event.seq,
                )
            )
        head.head_seq, head.head_hash = event.seq, event.hash

    def _close_gap(self, head: Head, done: Ingested) -> None:
        """Link the events stored ahead of the hole that just closed, while contiguous."""
        cursor = self._cursor
        cursor.execute(
            self._sql(f"{_SELECT} WHERE station = ? AND seq > ? ORDER BY seq"),
            (head.station, head.head_seq),
        )
        for row in cursor.fetchall():
            waiting = _stored(row).event
            if waiting.seq != head.head_seq + 1:
                break
            problem = chain.link_problem(waiting, head.head_hash)
            status = chain.status_after(problem, head.broken_seq is not None)
            cursor.execute(
                self._sql(
                    "UPDATE events SET status = ?, problem = ? WHERE station = ? AND seq = ?"
                ),
                (status, problem, head.station, waiting.seq),
            )
            self._advance(head, waiting, problem, done)
