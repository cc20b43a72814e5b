"""The andon board's model (`station.web.board`), its colours (`station.web.theme`, the
console's own) and `--http` parsing, without a socket."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from station import route as rules
from station import tag as tags
from station.config.loader import load_line
from station.console.widgets.state_banner import StateBanner
from station.journal import GENESIS_HASH, Event, chain_hash
from station.plant.report_rows import seconds
from station.uplink import sparkplug
from station.web.board import PLANT, Board, age_text
from station.web.server import board_of, parse_http
from station.web.theme import BANNER_COLOURS

LINE_FILE = Path(__file__).parent.parent.parent / "configs" / "lines" / "line1.yaml"
WALL = "2026-12-04T10:00:00.000000+00:00"
NOW = seconds(WALL) + 5


def event(station: str, seq: int, kind: str, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "seq": seq,
        "station": station,
        "kind": kind,
        "vin": None,
        "step": None,
        "result": None,
        "operator": None,
        "config_hash": "c0ffee",
        "mono_ns": seq,
        "boot_id": "boot",
        "wall": WALL,
        "data": {},
        "prev_hash": GENESIS_HASH,
        **fields,
    }
    return Event(**values, hash=chain_hash(values))


def test_the_board_paints_states_as_the_console_banner_does() -> None:
    css = StateBanner.DEFAULT_CSS
    found = re.findall(
        r"StateBanner\.-(\w+) \{ background: \$([\w-]+); border: round \$([\w-]+)", css
    )
    rules = {name: (background, edge) for name, background, edge in found}
    base = re.search(r"background: \$([\w-]+); color: \$text; border: round \$([\w-]+)", css)
    assert base is not None
    rules["idle"] = (base[1], base[2])
    assert rules == BANNER_COLOURS


def test_a_tile_follows_its_station_and_the_held_list_its_vehicles() -> None:
    board = Board({"line-1": ["reception", "exit"]}, stale_after_s=60)
    vin = "VF1RFB00X66123400"
    for seq, (kind, fields) in enumerate(
        [
            ("state", {"result": "Execute"}),
            ("cycle_started", {"data": {"cycle": 1}}),
            ("progress", {"vin": vin}),
            ("identified", {"vin": vin, "data": {"model": "Clio"}}),
            ("step_started", {"vin": vin, "step": "1:identify"}),
            ("alarm_raised", {"result": "a:low", "data": {"priority": 3, "text": "low"}}),
            ("alarm_raised", {"result": "a:high", "data": {"priority": 1, "text": "high"}}),
            ("hold", {"vin": vin, "result": "timeout", "data": {"message": "<stuck>"}}),
        ],
        start=1,
    ):
        board.take("line-1", event("reception", seq, kind, **fields))
    view = board.view("line-1", NOW)
    reception, exit_ = view["tiles"]
    assert (reception["station"], exit_["station"]) == ("reception", "exit")
    assert (reception["state"], reception["state_class"], reception["vin"]) == (
        "Execute",
        "running",
        vin,
    )
    assert reception["step_result"] == "held: timeout" and not reception["stale"]
    assert [a["text"] for a in reception["alarms"]] == ["high", "low"]
    assert exit_["stale"] and exit_["state"] == "no state yet"
    assert [(h["vin"], h["reason"], h["age"]) for h in view["held"]] == [(vin, "<stuck>", "5 s")]
    assert view["counters"] == {
        "entered": 1,
        "released": 0,
        "held": 1,
        "target": 180,
        "wip": 0,
        "lead_time": None,
    }

    for seq, (kind, fields) in enumerate(
        [
            ("admitted", {"vin": vin, "data": {"operation": "exit"}}),
            ("released", {"vin": vin, "result": "passed"}),
            ("cycle_ended", {"vin": vin, "result": "passed"}),
        ],
        start=1,
    ):
        board.take("line-1", event("exit", seq, kind, **fields))
    view = board.view(PLANT, NOW + 120)
    assert view["held"] == []
    assert view["counters"]["released"] == 1
    assert view["counters"]["lead_time"] == "0 s"
    assert all(t["stale"] for t in view["tiles"]), "no event for 2 minutes"


def test_queues_wip_and_the_rework_bay_from_the_tags_the_stations_write() -> None:
    line = load_line(LINE_FILE).model
    board, _ = board_of([line], 180, 60)
    route = board.snapshots["line-1"]
    ev, other = "VF3LCYHZ6HS100003", "VF1RFB00X66100001"
    seq = 0

    def at(station: str, kind: str, vin: str, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        board.take("line-1", event(station, seq, kind, vin=vin, **fields))

    def leaves(station: str, vin: str, progress: rules.Progress, result: str) -> None:
        at(station, "admitted", vin, data={"operation": board.operations.get(station, station)})
        at(station, "tag_write", vin, data={"tag": tags.encode(progress, route).hex()})
        at(station, "released", vin, result=result)

    for vin in (ev, other):
        intake = rules.intake(route, vin, {"ev"} if vin == ev else set())
        at("reception", "progress", vin, data={"tag": tags.encode(intake, route).hex()})
        leaves("reception", vin, rules.complete(route, intake, "intake", "passed"), "passed")
    view = board.view("line-1", NOW)
    queues = {t["station"]: t["queue"] for t in view["tiles"]}
    assert queues["diagnosis"] == [ev, other]
    assert view["counters"]["wip"] == 2
    at("diagnosis", "identified", ev)
    assert {t["station"]: t["queue"] for t in board.view("line-1", NOW)["tiles"]}["diagnosis"] == [
        other
    ]
    rework = [t for t in view["tiles"] if t["rework"]]
    assert [t["station"] for t in rework] == [line.route.rework.station]
    at("diagnosis", "hold", other, result="violation", data={"message": "turning back"})
    assert board.view("line-1", NOW)["counters"]["wip"] == 1


def test_sparkplug_links_flags_and_death_mark_a_tile() -> None:
    board = Board({"line-1": ["reception"]}, stale_after_s=60)
    board.take("line-1", event("reception", 1, "state", result="Execute"))
    topic = "spBv1.0/line-1/{}/reception"
    status = {
        "PackML/Blocked": (sparkplug.DataType.BOOLEAN, True),
        "PackML/Starved": (sparkplug.DataType.BOOLEAN, False),
        "Links/plc": (sparkplug.DataType.BOOLEAN, True),
        "Links/barcode": (sparkplug.DataType.BOOLEAN, False),
    }
    node = sparkplug.EdgeNode("line-1", "reception", bd_seq=7)
    assert board.nodes.take(topic.format("NBIRTH"), node.birth(status), NOW) is False
    (tile,) = board.view("line-1", NOW + 30)["tiles"]
    assert tile["links"] == {"barcode": False, "plc": True}
    assert (tile["blocked"], tile["starved"], tile["stale"]) == (True, False, False)
    assert board.view("line-1", NOW + 61)["tiles"][0]["stale"], "no data for a minute"
    older = sparkplug.EdgeNode("line-1", "reception", bd_seq=6)
    board.nodes.take(topic.format("NDEATH"), older.death(), NOW)
    assert not board.view("line-1", NOW)["tiles"][0]["stale"], "another session's Will"
    board.nodes.take(topic.format("NDEATH"), node.death(), NOW)
    (tile,) = board.view("line-1", NOW)["tiles"]
    assert tile["stale"] and tile["dead"]
    unknown = "spBv1.0/line-1/NDATA/cleaning"
    data = sparkplug.encode({"PackML/Blocked": (sparkplug.DataType.BOOLEAN, False)}, 3)
    assert board.nodes.take(unknown, data, NOW) is True, "data before a birth: ask one"
    assert board.nodes.take("spBv1.0/line-1/NBIRTH/x", b"\xff\xff", NOW) is False
    board.nodes.take(topic.format("NBIRTH"), node.birth(status), NOW)
    assert not board.view("line-1", NOW)["tiles"][0]["stale"]


def test_ages_and_http_addresses() -> None:
    assert [age_text(s) for s in (3, 420, 3 * 3600 + 300, 50 * 3600)] == [
        "3 s",
        "7 min",
        "3 h 05",
        "2 d 2 h",
    ]
    assert parse_http("8080") == ("127.0.0.1", 8080)
    assert parse_http("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_http("[::1]:8080") == ("::1", 8080)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_http("localhost:http")


def test_a_refused_label_read_stays_with_its_vehicle_until_the_next_one() -> None:
    board = Board({"line-1": ["reception"]})
    label = "<script>window.pwned=1</script>"
    first, second = "VF1RFB00X66100007", "VF1RFB00X66100008"
    steps = [
        ("cycle_started", {}),
        ("vin_rejected", {"result": "not a VIN", "data": {"code": label}}),
        ("identified", {"vin": first}),
        ("cycle_started", {}),
    ]
    for seq, (kind, fields) in enumerate(steps, start=1):
        board.take("line-1", event("reception", seq, kind, **fields))
    (tile,) = board.view("line-1", NOW)["tiles"]
    assert (tile["refused_read"], tile["refused_vin"]) == (label, first)
    board.take("line-1", event("reception", 5, "identified", vin=second))
    assert board.view("line-1", NOW)["tiles"][0]["refused_read"] is None
