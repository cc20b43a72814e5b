"""Text from outside the station (a client, a reader, a user): bounded before it is
journaled, escaped before it is printed (docs/faults.md row 32).

- `bound_text` cuts a string longer than `MAX_TEXT` characters and says so in the string
  itself: the first `MAX_TEXT` characters, then `…[truncated: N characters]` (N the
  original length). `bound_json` does it to every string of a JSON value, keys included,
  at any depth. The journal applies it to every text field of an event and to its data,
  so a 10 MB user name makes a row of a few KiB; the OPC UA interface may call it on what
  it takes from a client before it does anything else with it.
- `printable` escapes every character a terminal may act on (C0 and C1 controls, ESC,
  DEL, line and paragraph separators, bidirectional overrides and other format
  characters: whatever `str.isprintable` refuses but the space) the way Python's repr
  does (`\\n`, `\\x1b`, `\\u202e`), so a printed field stays on its line and cannot move
  the cursor, clear the screen or forge a line. Backslashes are left as they are: a
  literal `\\n` typed by a user reads the same as an escaped newline, but neither acts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from station.journal.event import canonical_json

MAX_TEXT = 1024
"""Longest string journaled as it is, in characters (a VIN is 17, a user name a few dozen,
a device's error message a few hundred)."""


def bound_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` itself when it has at most `limit` characters, else its head and a marker."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated: {len(text)} characters]"


def bound_json(value: Any, limit: int = MAX_TEXT) -> Any:
    """`value` with every string in it (mapping keys included) passed through `bound_text`;
    tuples become lists, as JSON keeps them. Values of other types are left as they are."""
    if isinstance(value, str):
        return bound_text(value, limit)
    if isinstance(value, Mapping):
        return {
            bound_text(k, limit) if isinstance(k, str) else k: bound_json(v, limit)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [bound_json(item, limit) for item in value]
    return value


def bound_json_text(value: Mapping[Any, Any]) -> str:
    """The canonical JSON of `bound_json(value)`. Made from `value` itself when that is
    at most MAX_TEXT characters long: no string in it can be longer then (a string is in
    its JSON whole, quoted), so there is nothing to cut; otherwise through `bound_json`
    (which also raises what is not JSON)."""
    try:
        text = canonical_json(value)
    except (TypeError, ValueError):  # maybe a mapping that is no dict: bound_json makes one
        text = ""
    if text and len(text) <= MAX_TEXT:
        return text
    return canonical_json(bound_json(value))


SHOWN_TEXT = 200
"""Characters of a string from outside kept in a log line (`shown`)."""


def shown(text: str, limit: int = SHOWN_TEXT) -> str:
    """`text` bounded to `limit` characters and escaped: for a log line."""
    return printable(bound_text(text, limit))


def printable(text: str) -> str:
    """`text` with every character a terminal may act on escaped (see the module docstring)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
