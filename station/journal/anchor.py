"""Anchors: the journal's head (seq, hash) signed with a key kept outside the journal.

The hash chain shows an edited, inserted or removed event, but not the newest events cut
off, nor a journal rewritten as a whole with recomputed hashes. An anchor is a line of
`anchors.jsonl` (beside the journal by default; better copied off the station as well):

    {"alg": "hmac-sha256", "hash": "...", "mac": "...", "seq": 1234,
     "station": "photo-studio", "wall": "2025-06-01T10:00:00.000000+00:00"}

`mac` is HMAC-SHA256, with the key of the key file, of the canonical JSON of the other
fields. `check_anchors` (`station journal verify --anchor KEYFILE`) then requires every
anchored (seq, hash) to be in the chain still and the journal not to end before the
last anchor: cutting or re-hashing events written before an anchor is found, and so is
an anchor forged or edited without the key.

HMAC rather than Ed25519: the standard library has it (`cryptography` is not a declared
dependency of the station), the key is 32 random bytes in a file, and the station both
signs and checks. Its limit: whoever can check can also sign. Where anchors are to be
checked by someone who must not be able to make them (an auditor), Ed25519 is the step
up; `alg` leaves room for it.

The key file must be readable by its owner only (mode 0600): `create_key` makes one.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.journal.event import GENESIS_HASH, JournalError, canonical_json

if TYPE_CHECKING:
    from station.journal.store import EventStore

ALG = "hmac-sha256"
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class Anchor:
    """One anchor as written."""

    station: str
    seq: int
    hash: str
    wall: str


@dataclass(frozen=True)
class AnchorReport:
    """Outcome of `check_anchors`: how many anchors, the highest seq anchored, problems."""

    count: int
    last_seq: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def create_key(path: Path) -> None:
    """Write a new random key (hex) to `path`, mode 0600; refuses to overwrite a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as key_file:
        key_file.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")


def load_key(path: Path) -> bytes:
    """The key in `path`; JournalError when it is missing, short or readable by others."""
    try:
        mode = path.stat().st_mode & 0o777
        key = path.read_bytes().strip()
    except OSError as exc:
        raise JournalError(f"anchor key {path}: cannot be read: {exc}") from exc
    if mode & 0o077:
        raise JournalError(
            f"anchor key {path} is open to other users (mode {mode:04o}): `chmod 600 {path}`"
        )
    if len(key) < MIN_KEY_BYTES:
        raise JournalError(f"anchor key {path}: {len(key)} bytes, at least {MIN_KEY_BYTES} needed")
    return key


def _mac(key: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(key, canonical_json(fields).encode(), "sha256").hexdigest()


def write_anchor(anchors: Path, key_file: Path, station: str, seq: int, hash_: str) -> Anchor:
    """Append the anchor of (seq, hash) to `anchors` (created 0600) and fsync it."""
    anchor = Anchor(station, seq, hash_, datetime.now(UTC).isoformat(timespec="microseconds"))
    fields = {"alg": ALG, **vars(anchor)}
    line = canonical_json({**fields, "mac": _mac(load_key(key_file), fields)}) + "\n"
    fd = os.open(anchors, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return anchor


def _line_problem(store: EventStore, key: bytes, number: int, text: str) -> tuple[int, str]:
    """The seq a line anchors and what is wrong with it ("" when nothing)."""
    where = f"anchor line {number}"
    try:
        record = json.loads(text)
        fields = {k: record[k] for k in ("alg", "station", "seq", "hash", "wall")}
        seq, mac = int(record["seq"]), str(record["mac"])
    except (ValueError, TypeError, KeyError) as exc:
        return 0, f"{where}: not an anchor ({exc!r})"
    if fields["alg"] != ALG or not hmac.compare_digest(_mac(key, fields), mac):
        return 0, f"{where}: signature does not match (forged, edited, or another key)"
    if fields["station"] != store.station:
        return 0, f"{where}: anchors station {fields['station']!r}, not {store.station!r}"
    stored = GENESIS_HASH if seq == 0 else store.hash_of(seq)
    when = f"anchored at {fields['wall']}"
    if stored is None:
        head = store.head_seq()
        if head < seq:
            return seq, f"seq {seq}: {where}: the journal ends at seq {head} ({when}: cut)"
        return seq, f"seq {seq}: {where}: missing from the journal ({when})"
    if stored != fields["hash"]:
        return seq, (
            f"seq {seq}: {where}: hash {stored[:16]} is not the anchored "
            f"{str(fields['hash'])[:16]} ({when}: the chain was rewritten)"
        )
    return seq, ""


def check_anchors(store: EventStore, key_file: Path, anchors: Path) -> AnchorReport:
    """Check every anchor of `anchors` against the journal (see the module docstring)."""
    key = load_key(key_file)
    try:
        lines = anchors.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise JournalError(f"anchors {anchors}: cannot be read: {exc}") from exc
    problems, last_seq = [], 0
    for number, text in enumerate(lines, start=1):
        seq, problem = _line_problem(store, key, number, text)
        if problem:
            problems.append(problem)
        else:
            last_seq = max(last_seq, seq)
    return AnchorReport(count=len(lines), last_seq=last_seq, problems=problems)
