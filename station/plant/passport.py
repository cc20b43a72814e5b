"""The vehicle passport from the plant replica (docs/cli.md `station passport VIN --json`).

A visit is a run of a station's events naming the VIN, closed by its `cycle_ended`; the
next event naming it at that station opens another (a rework loop comes back). Visits
of every station are put in order of their first event's wall time. Per visit: the
operation (`admitted`), times in and out, result (`cycle_ended`), the people who acted
(every operator of its events), checklist items, verdict (and the measurements and
findings its data carries, when the inspection sends them), the photo session (its
last rotation: the manifest of every image with its angle, camera, name, checksum and
time, and `set_360`: whether it proves a complete 360-degree set), tag writes, holds,
overrides, dispositions, the route attributes found on the way (`found`: the
`attribute_found` answers that found one), the config hash, how many events, and the
chain status of its events (`verified` when each one linked as it was stored). At the top,
`found` gathers them over the visits, each with the station and operation that found it.

`final`: `held` when the last visit ended held, `released` when it was the `exit`
operation and passed, else `in_progress`. `lead_time_s`: from the first event to the
last visit's end (or to its newest event: so far). Event kinds without a VIN (alarms,
state changes) are not in it yet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from station.plant import chain
from station.plant.report_rows import seconds
from station.plant.store import Head, Store, StoredEvent

EXIT_OPERATION = "exit"


@dataclass
class _Visit:
    station: str
    line: str
    events: list[StoredEvent] = field(default_factory=list)
    closed: bool = False


def _visits(rows: list[StoredEvent]) -> list[_Visit]:
    visits: list[_Visit] = []
    open_at: dict[str, _Visit] = {}
    for row in rows:  # by station, then seq
        station = row.event.station
        visit = open_at.get(station)
        if visit is None or visit.closed:
            visit = open_at[station] = _Visit(station, row.line)
            visits.append(visit)
        visit.events.append(row)
        if row.event.kind == "cycle_ended":
            visit.closed = True
    visits.sort(key=lambda v: (v.events[0].event.wall, v.station, v.events[0].event.seq))
    return visits


def _chain_of(visit: _Visit) -> str:
    for row in visit.events:
        if row.status == chain.BROKEN:
            return f"broken at seq {row.event.seq}"
        if row.status == chain.AFTER_BREAK:
            return "after a break"
        if row.status == chain.GAP:
            return f"not verified yet (seq before {row.event.seq} missing)"
    return "verified"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _visit_document(visit: _Visit, head: Head | None) -> dict[str, Any]:
    events = [row.event for row in visit.events]
    first, last = events[0], events[-1]
    doc: dict[str, Any] = {
        "station": visit.station,
        "line": visit.line,
        "operation": None,
        "t_in": first.wall,
        "t_out": last.wall if visit.closed else None,
        "result": None if not visit.closed else last.result,
        "operators": sorted({e.operator for e in events if e.operator}),
        "verdict": None,
        "measurements": [],
        "findings": [],
        "checklist": [],
        "photo_session": None,
        "tag_writes": [],
        "holds": [],
        "overrides": [],
        "dispositions": [],
        "found": [],
        "config_hash": first.config_hash,
        "events": len(events),
        "seq": [first.seq, last.seq],
        "chain": _chain_of(visit),
        "station_chain": None if head is None else head.chain,
    }
    for e in events:
        data = e.data
        if e.kind == "admitted":
            doc["operation"] = data.get("operation")
        elif e.kind == "verdict":
            doc["verdict"] = e.result
            doc["measurements"] = _list(data.get("measurements"))
            doc["findings"] = _list(data.get("findings"))
        elif e.kind == "checklist_item":
            item = {"index": data.get("index"), "text": data.get("text")}
            doc["checklist"].append({**item, "result": e.result, "operator": e.operator})
        elif e.kind == "photo_session":
            doc["photo_session"] = _photo_session(e.result, data)
        elif e.kind == "tag_write":
            doc["tag_writes"].append({"seq": data.get("seq"), "result": None})
        elif e.kind == "tag_written" and doc["tag_writes"]:
            doc["tag_writes"][-1]["result"] = e.result
        elif e.kind == "hold":
            doc["holds"].append({"result": e.result, "message": data.get("message")})
        elif e.kind == "override":
            what = {"what": data.get("what"), "reason": data.get("reason")}
            doc["overrides"].append({"operator": e.operator, **what})
        elif e.kind == "attribute_found" and e.result == "found":
            found = {"attribute": data.get("attribute"), "value": data.get("value")}
            doc["found"].append({**found, "operator": e.operator})
        elif e.kind == "disposition":
            action = {"action": data.get("action"), "reason": data.get("reason")}
            doc["dispositions"].append({"operator": e.operator, **action})
    return doc


def _photo_session(result: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """A rotation's photo session; `set_360` when every planned image was reported with
    its checksum and no problem, and the images' angles leave no gap wider than the
    planned step round the table."""
    manifest = [image for image in _list(data.get("manifest")) if isinstance(image, dict)]
    planned = sorted(
        {float(a) for image in manifest if isinstance(a := image.get("angle_deg"), int | float)}
    )
    ok = all(image.get("problem") is None and image.get("sha256") for image in manifest)
    return {
        "result": result,
        "shots": data.get("shots"),
        "expected": data.get("expected"),
        "rotation": data.get("rotation"),
        "set_360": result == "complete" and ok and _covers_the_turn(planned),
        "manifest": manifest,
    }


def _covers_the_turn(angles: list[float]) -> bool:
    """No gap between neighbouring angles (round the turn) wider than 360 / their number
    (with half a degree for the 0.1-degree rounding)."""
    if not angles:
        return False
    gaps = [b - a for a, b in itertools.pairwise(angles)]
    gaps.append(angles[0] + 360.0 - angles[-1])
    return max(gaps) <= 360.0 / len(angles) + 0.5


def passport(store: Store, vin: str) -> dict[str, Any] | None:
    """The passport of `vin` (docs/cli.md), or None when the plant never saw it."""
    rows = store.events_of_vin(vin)
    if not rows:
        return None
    heads = {h.station: h for h in store.heads()}
    visits = [_visit_document(v, heads.get(v.station)) for v in _visits(rows)]
    last = visits[-1]
    if last["result"] == "held":
        final = "held"
    elif last["operation"] == EXIT_OPERATION and last["result"] == "passed":
        final = "released"
    else:
        final = "in_progress"
    end = max(v["t_out"] or v["t_in"] for v in visits)
    newest = max(row.event.wall for row in rows)
    lead_time = seconds(max(end, newest)) - seconds(visits[0]["t_in"])
    return {
        "vin": vin,
        "line": visits[0]["line"],
        "final": final,
        "lead_time_s": round(lead_time, 3),
        "stations": {
            v["station"]: v["station_chain"] for v in visits if v["station_chain"] is not None
        },
        "found": [
            {"station": v["station"], "operation": v["operation"], **found}
            for v in visits
            for found in v["found"]
        ],
        "visits": visits,
    }
