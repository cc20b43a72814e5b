"""The bench copy of a station file (`station sim world --bench-config OUT.yaml`):
the engineer's file, comments kept, with every device pointed at its simulator
on the bench, the station's OPC UA endpoint, and a users file beside it that
holds the simulated people (`sim-operator`, `sim-inspector`, `sim-supervisor`)
with passwords made for this run. `station run --config OUT.yaml` then runs
the unchanged controller against the bench.

What changes in the copy: `line:` becomes an absolute path (the copy lives
elsewhere), `devices.<name>.<endpoint fields>` point at the simulators (their
host is the advertised one when the simulators listen on every address),
`interface.endpoint` is the station's endpoint the people log in to, and
`interface.users_file` the users file beside the copy. The users file keeps
the users it already has (add the bench engineer's with `station user add`);
the simulated people get new passwords each run.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel
from ruamel.yaml import YAML

from station.config.loader import LoadedStation
from station.interface.users import add_user
from station.simulation.remote import PEOPLE

WILDCARDS = frozenset({"0.0.0.0", "::", ""})
"""Hosts that mean every address of the machine: not an address to connect to."""


def users_path(out: Path) -> Path:
    """The users file written beside the bench copy `out`."""
    return out.with_name(f"{out.stem}-users.yaml")


def write_people(users: Path) -> dict[str, str]:
    """The simulated people in `users` (created 0600 if missing), each with a new
    password; user -> password."""
    passwords = {}
    for user, role in PEOPLE:
        passwords[user] = secrets.token_urlsafe(18)
        add_user(users, user, role, passwords[user])
    return passwords


def write_bench_copy(
    loaded: LoadedStation,
    endpoints: Mapping[str, Mapping[str, Any]],
    out: Path,
    *,
    station_endpoint: str,
    advertise: str,
    bind: str,
) -> None:
    """Write the bench copy of `loaded` to `out` (module docstring), atomically."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    document = yaml.load(loaded.path.read_text(encoding="utf-8"))
    document["line"] = str(loaded.line.path.resolve())
    for name, fields in endpoints.items():
        section = document["devices"][name]
        for key, value in fields.items():
            section[key] = _advertised(_plain(value), bind, advertise)
    interface = document.setdefault("interface", {})
    interface["endpoint"] = station_endpoint
    interface["users_file"] = users_path(out).name
    anchor_key = (document.get("journal") or {}).get("anchor_key")
    if anchor_key:
        document["journal"]["anchor_key"] = str((loaded.path.parent / anchor_key).resolve())
    stream = io.StringIO()
    stream.write(
        f"# Bench copy of {loaded.path} written by `station sim world`: the devices point at\n"
        f"# its simulators. On the station PC: station run --config {out.name}\n"
        f"# (with {users_path(out).name} beside it). Rewritten at every start.\n"
    )
    yaml.dump(document, stream)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    temporary.write_text(stream.getvalue(), encoding="utf-8")
    os.replace(temporary, out)


def _plain(value: Any) -> Any:
    """A config value as YAML writes it (a section model as a mapping, in a mapping too)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _advertised(value: Any, bind: str, advertise: str) -> Any:
    """`value` with the simulators' listening host replaced by the advertised one (a
    host field, or the host of a tcp:// or opc.tcp:// URL)."""
    if isinstance(value, dict):
        return {k: _advertised(v, bind, advertise) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    if value == bind:
        return advertise
    if "://" in value:
        parts = urlsplit(value)
        if parts.hostname == bind.strip("[]") and parts.port is not None:
            host = f"[{advertise}]" if ":" in advertise else advertise
            return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}"))
    return value
