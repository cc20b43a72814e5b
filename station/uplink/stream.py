"""The journal stream: the journal is the outbox (docs/architecture.md section 7).

- Every event goes out in journal order, QoS 1, on `<prefix>/<line>/<station>/journal`,
  as the JSON of `station journal show --json` (`Event.to_dict`), plus `"replay": true`
  for the events already in the journal when the connection came up (after any
  reconnect or restart the stream resends from ack+1, oldest first, then goes live).
- Only the plant's ack moves the cursor: `.../journal/ack`, retained, `{"seq": N,
  "hash": "..."}` = the highest contiguous seq the plant stored. It is accepted only
  when the hash is the station's own event's at that seq; a wrong hash or a seq never
  written raises the ack alarm; those, an ack older than the cursor and a duplicate are
  ignored and reported once each (`on_note`, for the runtime to journal).
- Reads run in one reader thread with its own read-only connection (`JournalReader`;
  the journal is WAL), in batches, already encoded; at most `inflight` messages wait for
  their PUBACK at once, so memory stays flat whatever the backlog.
- backlog = last journal seq - acked seq; the alarm is raised past `backlog_alarm` and
  cleared once the backlog is back to `BACKLOG_CLEAR` of it (no alarm flapping on a
  backlog that hovers at the threshold).
- Ignored acks are reported at most once each among the last `REPORTED_ACKS` distinct
  ones, and at most `NOTES_PER_MINUTE` a minute: a flood of distinct forged acks is
  logged, not journaled one by one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiomqtt
import structlog

from station.journal import JournalReader, canonical_json
from station.journal.untrusted import shown
from station.uplink.state import Ack, UplinkState

BATCH = 64
"""Events read and encoded per trip to the reader thread."""

POLL_S = 1.0
"""Look at the journal at least this often even when no change was signalled."""

log = structlog.get_logger(__name__)
ALARM_BACKLOG = "uplink:backlog"
BACKLOG_CLEAR = 0.9
"""The backlog alarm clears at this share of `backlog_alarm`."""
REPORTED_ACKS = 1000
"""Distinct ignored acks remembered as reported."""
NOTES_PER_MINUTE = 10
"""Ignored acks journaled a minute at most; further ones are logged only."""
ALARM_ACK = "uplink:ack"
NOTE_ACK_IGNORED = "uplink_ack_ignored"

AlarmCallback = Callable[[str, str | None], None]
"""`(key, text)`: raise the alarm `key` with `text`, or clear it when text is None."""
NoteCallback = Callable[[str, dict[str, Any]], None]
"""`(kind, data)`: something the runtime should journal (once per cause)."""

P = ParamSpec("P")
T = TypeVar("T")


class ReaderThread:
    """One thread for the uplink's blocking work: journal reads and state file writes."""

    def __init__(self, name: str) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.wrap_future(self._executor.submit(function, *args, **kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


async def wait_woken(wake: asyncio.Event, timeout_s: float = POLL_S) -> None:
    """Until `wake` is set or `timeout_s` has passed; clears it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await wake.wait()
    wake.clear()


class JournalStream:
    """The journal stream of one station; the cursor lives in `state.ack`."""

    def __init__(
        self,
        *,
        journal_path: Path,
        topic: str,
        state: UplinkState,
        thread: ReaderThread,
        inflight: int,
        puback_timeout_s: float,
        backlog_alarm: int,
        on_alarm: AlarmCallback,
        on_note: NoteCallback,
        on_backlog: Callable[[], None],
    ) -> None:
        self.topic = topic
        self.ack_topic = f"{topic}/ack"
        self._path = journal_path
        self._state = state
        self._thread = thread
        self._inflight = inflight
        self._puback_timeout_s = puback_timeout_s
        self._backlog_alarm = backlog_alarm
        self._on_alarm = on_alarm
        self._on_note = on_note
        self._on_backlog = on_backlog
        self._reader: JournalReader | None = None
        self._head = 0
        self._reported: OrderedDict[tuple[str, int, str], None] = OrderedDict()
        self._notes: deque[float] = deque(maxlen=NOTES_PER_MINUTE)
        self._backlog_alarmed = False
        self.cursor_moved = asyncio.Event()
        """Set when the cursor moved; the state file is written on that signal."""
        self.new_events = asyncio.Event()
        self.head_changed = asyncio.Event()

    @property
    def backlog(self) -> int:
        return max(0, self._head - self._state.ack.seq)

    async def open(self) -> None:
        self._reader = await self._thread.run(JournalReader.open, self._path)
        await self.refresh_head()

    async def close(self) -> None:
        if self._reader is not None:
            await self._thread.run(self._reader.close)
            self._reader = None

    def _reading(self) -> JournalReader:
        assert self._reader is not None, "JournalStream used before open()"
        return self._reader

    # --- backlog ---------------------------------------------------------------

    async def refresh_head(self) -> None:
        last = await self._thread.run(self._reading().last)
        head = 0 if last is None else last.seq
        if head != self._head:
            self._head = head
            self._backlog_changed()

    async def watch_head(self) -> None:
        """Follow the journal's last seq (so the backlog grows while disconnected)."""
        while True:
            await wait_woken(self.head_changed)
            await self.refresh_head()

    def _backlog_changed(self) -> None:
        backlog = self.backlog
        if backlog > self._backlog_alarm:
            self._backlog_alarmed = True
            self._on_alarm(
                ALARM_BACKLOG,
                f"plant link backlog: {backlog} journal events not acknowledged by the plant "
                f"(alarm past {self._backlog_alarm}); they are kept and sent when it answers",
            )
        elif not self._backlog_alarmed or backlog <= self._backlog_alarm * BACKLOG_CLEAR:
            self._backlog_alarmed = False
            self._on_alarm(ALARM_BACKLOG, None)
        self._on_backlog()

    # --- sending ---------------------------------------------------------------

    def _encoded(self, after_seq: int, replay_until: int) -> list[tuple[int, bytes]]:
        """Reader thread: the next batch after `after_seq`, as message payloads."""
        batch = []
        for event in self._reading().events(after_seq=after_seq, limit=BATCH):
            fields = event.to_dict()
            if event.seq <= replay_until:
                fields["replay"] = True
            batch.append((event.seq, canonical_json(fields).encode()))
        return batch

    async def send(self, client: aiomqtt.Client) -> None:
        """Resend from ack+1 (replay), then every new event, until the connection fails."""
        await self.refresh_head()
        replay_until = self._head
        sent = self._state.ack.seq
        window = asyncio.Semaphore(self._inflight)

        async def publish(payload: bytes) -> None:
            try:
                await client.publish(self.topic, payload, qos=1, timeout=self._puback_timeout_s)
            finally:
                window.release()

        async with asyncio.TaskGroup() as publishing:
            while True:
                self.new_events.clear()
                batch = await self._thread.run(self._encoded, sent, replay_until)
                if not batch:
                    await wait_woken(self.new_events)
                    continue
                for seq, payload in batch:
                    await window.acquire()
                    publishing.create_task(publish(payload), name=f"uplink-publish[{seq}]")
                    sent = seq
                    await asyncio.sleep(0)  # one publish per turn of the loop: no burst

    # --- acks ------------------------------------------------------------------

    async def on_ack(self, data: bytes, *, retained: bool) -> None:
        """An ack from the plant: move the cursor, or ignore it and say why (once)."""
        try:
            ack = json.loads(data)
            acked = Ack(int(ack["seq"]), str(ack["hash"]))
        except (ValueError, KeyError, TypeError):
            self._ignore("malformed", Ack(-1, data[:200].decode(errors="replace")))
            return
        cursor = self._state.ack
        if acked.seq < cursor.seq:
            self._ignore("older than the cursor", acked)
            return
        if acked == cursor:
            if not retained:  # the retained ack comes again at every subscription
                self._ignore("duplicate", acked)
            return
        rows = await self._thread.run(self._reading().events, after_seq=acked.seq - 1, limit=1)
        own = rows[0] if rows and rows[0].seq == acked.seq else None
        if own is None:
            self._ignore("seq never written", acked, alarm=True)
            return
        if own.hash != acked.hash:
            self._ignore(f"hash differs from the station's ({own.hash})", acked, alarm=True)
            return
        self._state.ack = acked
        self._on_alarm(ALARM_ACK, None)
        self.cursor_moved.set()
        self._backlog_changed()

    def _ignore(self, reason: str, ack: Ack, *, alarm: bool = False) -> None:
        if alarm:
            self._on_alarm(
                ALARM_ACK,
                f"plant ack ignored: seq {ack.seq} hash {ack.hash[:16]}: {reason} "
                "(is the plant collector storing another station's events?)",
            )
        key = (reason, ack.seq, ack.hash)
        if key in self._reported:
            return
        self._reported[key] = None
        if len(self._reported) > REPORTED_ACKS:
            self._reported.popitem(last=False)
        now = time.monotonic()
        if len(self._notes) == NOTES_PER_MINUTE and now - self._notes[0] < 60.0:
            log.warning("uplink_ack_ignored", seq=ack.seq, reason=shown(reason), journaled=False)
            return
        self._notes.append(now)
        self._on_note(NOTE_ACK_IGNORED, {"seq": ack.seq, "hash": ack.hash, "reason": reason})
