"""The station's journal: durable, append-only, hash-chained events
(docs/architecture.md section 6).

Design
- One SQLite file per station (`<state-dir>/journal.sqlite3`, see `station.state_dir`), in
  WAL mode with synchronous=FULL: a row is on disk (the WAL fsynced) once its transaction
  has committed, and survives kill -9 and power loss (docs/faults.md row 24). The file, its
  WAL and shared-memory files and the anchors are created mode 0600.
- The file is bound to its station (table `meta`). Opening it for another station is
  refused: a state directory copied from another station must not be continued.
- Append-only: triggers refuse UPDATE and DELETE on `events`.
- Every event carries the station's sequence number (1, 2, 3 ... no gaps; the plant
  de-duplicates by (station, seq), docs/faults.md row 21) and is chained to the one before:
  `hash = sha256(canonical JSON of every field of the event except hash)`, prev_hash
  included; the first event's prev_hash is 64 zeros. Canonical JSON: keys sorted, no
  whitespace, UTF-8 (not ASCII-escaped), NaN and infinities refused. So anyone holding
  the exported events (`Event.to_json`) can recompute the chain.
- Bounded (docs/faults.md row 32): every string of an event, in its data at any depth too,
  is cut at `MAX_TEXT` characters with a marker giving its length (`untrusted`).
- Journal first: `append()` returns only once the row is committed; the runtime awaits it
  before writing the output the event causes. Writes run in one dedicated writer thread
  with its own connection, so an fsync never stalls the event loop. Appends are committed
  in the order they were called; appends that queue up while a commit is in flight go
  into the next transaction together (group commit: one fsync for all, each caller still
  released only after that commit). A caller cancelled while waiting does not withdraw
  its event: once called, an append is committed. The hand-off is one queue put each way
  round: the caller awaits a plain future of its own loop, which the writer answers with
  one `call_soon_threadsafe` per loop and batch; a lone event is one autocommit INSERT,
  a batch (or one that moves the checkpoint) one explicit transaction.
- Time (docs/faults.md row 27): `mono_ns` (time.monotonic_ns when append was called) for
  durations, comparable only between events of the same `boot_id`; `wall` (ISO 8601 UTC)
  is a timestamp only.
- Disk full (SQLITE_FULL) raises `JournalFull`; the event is not written, the journal is
  left as it was and the next append tries again. The runtime stops accepting vehicles
  rather than drop events (docs/faults.md row 23); `free_bytes()` lets it alarm early.
- Any other write failure, and the WAL or database file removed, replaced or truncated
  under the writer (checked around every commit), raises `JournalStorageError`: the
  events may not be on disk, and every later append is refused the same way (docs/faults.md
  row 35). The runtime raises an alarm and accepts no vehicle; a restart reopens (and so
  verifies) the journal.
- One writer per file (docs/faults.md row 34): `Journal.open` holds an exclusive flock on the
  database file itself while it is open, so a second open, from any process, is refused
  (naming the holder's pid), deleting a file cannot defeat it, and the kernel drops it
  with the process. Readers (`JournalReader`, used by `station journal show/verify`)
  need no lock and see every committed event while the runtime writes.
- Verified at start (docs/faults.md row 35): `Journal.open` checks the chain from the last
  verified checkpoint (table `meta`, moved to the head after each check and every
  `CHECKPOINT_EVERY` events) and refuses a broken journal with `JournalBroken`, naming
  where it breaks. The way on is a supervisor's `station journal seal` (`Journal.seal`):
  a `chain_sealed` event records the old head, the break and the reason; `verify`
  reports the sealed problems and passes the chain after them.
- Anchors (`anchor`): `Journal.anchor(key_file)` records the head, HMAC-signed with a key
  kept outside the journal; `station journal verify --anchor KEYFILE` checks them.

Reads (`events`, `last`) are synchronous and short (indexed); `verify` reads the whole
file (`station journal verify`). A row whose data is not JSON raises `JournalBroken` from
`events`/`last`; `checked_events` (for `journal show`) returns it, marked.

Boundary: this module stores and checks events; what they mean (vehicle records,
recovery) belongs to the runtime, and forwarding them to the plant to the uplink, which
reads them with `events(after_seq=...)`.

What it protects against, and what not (docs/journal.md has more):
- Shown by `journal verify`: an event edited, removed or inserted in the middle; an
  event of another station; data that is not JSON; a damaged file (integrity check);
  the journal cut below its checkpoint. Shown at start: the same after the checkpoint.
- Shown only with anchors: the newest events cut off (back to an earlier anchor), and
  the whole chain rewritten with recomputed hashes, both up to the last anchor. Events
  after the last anchor can still be cut off unseen.
- Not shown: anything done by someone who can read the anchor key (the station's own
  account can: it signs), unless the anchors were copied off the station first; the
  meta table is not protected (editing the checkpoint only makes the start check more);
  the start check covers only the events after the checkpoint (a full `journal verify`
  covers all). Confidentiality: none beyond file modes; nothing is encrypted.
"""

from station.journal.anchor import Anchor, AnchorReport, check_anchors, create_key
from station.journal.event import (
    BOOT_ID_PATH,
    CHAIN_SEALED,
    GENESIS_HASH,
    Event,
    JournalBroken,
    JournalError,
    JournalFull,
    JournalNotFound,
    JournalStationMismatch,
    JournalStorageError,
    canonical_json,
    chain_hash,
    read_boot_id,
)
from station.journal.store import CheckedEvent, JournalReader, VerifyReport
from station.journal.untrusted import MAX_TEXT, bound_json, bound_text, printable
from station.journal.writer import CHECKPOINT_EVERY, Journal

__all__ = [
    "BOOT_ID_PATH",
    "CHAIN_SEALED",
    "CHECKPOINT_EVERY",
    "GENESIS_HASH",
    "MAX_TEXT",
    "Anchor",
    "AnchorReport",
    "CheckedEvent",
    "Event",
    "Journal",
    "JournalBroken",
    "JournalError",
    "JournalFull",
    "JournalNotFound",
    "JournalReader",
    "JournalStationMismatch",
    "JournalStorageError",
    "VerifyReport",
    "bound_json",
    "bound_text",
    "canonical_json",
    "chain_hash",
    "check_anchors",
    "create_key",
    "printable",
    "read_boot_id",
]
