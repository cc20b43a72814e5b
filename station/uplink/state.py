"""What the plant link keeps between runs: `<state-dir>/uplink.json`.

- The plant's last accepted ack (seq, hash): the replication cursor. It anchors the
  journal's hash chain outside the station: the plant holds every event up to it.
- The Sparkplug bdSeq of the last connect (incremented per connect, 0-255).

Written whole to a temporary file, fsynced and renamed over the old one, so a crash
leaves either the old or the new state. Losing the newest ack costs only a resend.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from station.journal import GENESIS_HASH

FILE_NAME = "uplink.json"


@dataclass(frozen=True)
class Ack:
    """The highest contiguous seq the plant has stored, and that event's hash."""

    seq: int
    hash: str


NOTHING_ACKED = Ack(0, GENESIS_HASH)


class UplinkState:
    """The file's content, held in memory; `save()` blocks (call it off the event loop)."""

    def __init__(self, path: Path, ack: Ack, bd_seq: int) -> None:
        self.path = path
        self.ack = ack
        self.bd_seq = bd_seq

    @classmethod
    def load(cls, state_dir: Path) -> UplinkState:
        """The saved state, or a fresh one (nothing acked, bdSeq -1 so the first connect is 0)."""
        path = state_dir / FILE_NAME
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, NOTHING_ACKED, -1)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable plant link state: {exc}") from exc
        try:
            ack = Ack(int(saved["acked_seq"]), str(saved["acked_hash"]))
            return cls(path, ack, int(saved["bd_seq"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable plant link state: {exc!r}") from exc

    def save(self) -> None:
        text = json.dumps(
            {"acked_seq": self.ack.seq, "acked_hash": self.ack.hash, "bd_seq": self.bd_seq}
        )
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)
