"""One message of a station's journal stream, checked before anything is stored.

Topic `<prefix>/<line>/<station>/journal`; payload the canonical JSON of a journal event
(`station.journal.Event.to_dict`), plus `"replay": true` when resent (docs/cli.md "The
plant link"). A message is refused (`Refused`, with the reason) when it is larger than
`MAX_PAYLOAD` bytes, is not UTF-8 JSON of an object, lacks a field of `Event` or has one
more (the hash covers every field, so an extra one could not be verified), has a field of
the wrong type, a hash that is not 64 hex digits, a seq below 1, names another station
than its topic, or holds a string longer than the journal ever writes (`MAX_TEXT`: the
journal bounds every string, so a longer one is not a station's event). A refused message
is never stored; the collector raises a plant alarm for it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from station.journal import MAX_TEXT, Event, bound_json

MAX_PAYLOAD = 256 * 1024
"""Bytes of one message at most; a journal event is a few KiB (strings are bounded)."""

REPLAY = "replay"
_HASH = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {f.name: f.type for f in dataclasses.fields(Event)}
_INT = ("seq", "mono_ns")
_TEXT = ("station", "kind", "config_hash", "boot_id", "wall", "prev_hash", "hash")
_OPTIONAL_TEXT = ("vin", "step", "result", "operator")


class Refused(ValueError):
    """The message is not a journal event the plant can store; str() says why."""


@dataclass(frozen=True)
class Incoming:
    """A checked journal event and where it came from."""

    line: str
    event: Event
    replay: bool


def stream_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """(line, station) of a journal stream topic under `prefix`, else None."""
    head = f"{prefix}/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) != 3 or parts[2] != "journal" or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def parse(payload: bytes, line: str, station: str) -> Incoming:
    """The event of a message on the stream of (`line`, `station`); Refused otherwise."""
    if len(payload) > MAX_PAYLOAD:
        raise Refused(f"payload of {len(payload)} bytes, more than {MAX_PAYLOAD}")
    try:
        fields = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise Refused(f"a JSON {type(fields).__name__}, not an object")
    replay = fields.pop(REPLAY, False)
    if not isinstance(replay, bool):
        raise Refused("replay is not true or false")
    missing = sorted(set(_FIELDS) - set(fields))
    extra = sorted(set(fields) - set(_FIELDS))
    if missing or extra:
        raise Refused(
            "fields differ from a journal event's: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
        )
    _check_types(fields)
    if fields["station"] != station:
        raise Refused(f"the topic is station {station}'s stream, the event says another")
    # a string decoded from JSON has at most as many characters as the payload has bytes
    if len(payload) > MAX_TEXT and bound_json(fields) != fields:
        raise Refused(f"a string longer than {MAX_TEXT} characters (the journal bounds them)")
    return Incoming(line=line, event=Event(**fields), replay=replay)


def _check_types(fields: dict[str, Any]) -> None:
    wrong = [
        name for name in _INT if not isinstance(fields[name], int) or isinstance(fields[name], bool)
    ]
    wrong += [name for name in _TEXT if not isinstance(fields[name], str)]
    wrong += [
        name
        for name in _OPTIONAL_TEXT
        if fields[name] is not None and not isinstance(fields[name], str)
    ]
    if not isinstance(fields["data"], dict):
        wrong.append("data")
    if wrong:
        raise Refused(f"wrong type of {', '.join(wrong)}")
    if fields["seq"] < 1:
        raise Refused(f"seq {fields['seq']} below 1")
    for name in ("hash", "prev_hash"):
        if not _HASH.match(fields[name]):
            raise Refused(f"{name} is not 64 lowercase hex digits")
