"""The live state as a Sparkplug B 3.0 edge node over a real Mosquitto; payloads
decoded by Eclipse Tahu's JavaScript `sparkplug-payload` (npm), a decoder we did not
write. It is installed outside the repository, once:
    npm install --prefix ~/.cache/station-ci/sparkplug-payload sparkplug-payload@1
(or point SPARKPLUG_PAYLOAD_DIR at another prefix); without it those tests skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mqtt_broker import Broker, Subscriber, requires_mosquitto
from uplink_rig import LINE, STATION, TOPIC, Recorder, append, make_uplink, status

from station.journal import Journal
from station.status import MeasurementStatus, Status
from station.uplink import sparkplug

pytest_plugins = ["mqtt_fixtures"]
pytestmark = requires_mosquitto

PAYLOAD_JS = Path(
    os.environ.get("SPARKPLUG_PAYLOAD_DIR", Path.home() / ".cache/station-ci/sparkplug-payload")
)
DECODER_JS = Path(__file__).with_name("sparkplug_decode.js")
NODE = shutil.which("node")
requires_tahu = pytest.mark.skipif(
    NODE is None or not (PAYLOAD_JS / "node_modules/sparkplug-payload").is_dir(),
    reason=f"node or Tahu's sparkplug-payload not installed (npm install --prefix {PAYLOAD_JS} "
    "sparkplug-payload@1; .ci/run does it when npm is there)",
)
NODES = f"spBv1.0/{LINE}/#"
CLIENT_ID = f"station.{LINE}.{STATION}"

# docs/cli.md "The plant link": every metric of the edge node and its Sparkplug type.
METRIC_TYPES = {
    "bdSeq": "Int64",
    "Node Control/Rebirth": "Boolean",
    "PackML/State": "Int32",
    "PackML/StateName": "String",
    "PackML/UnitMode": "Int32",
    "PackML/UnitModeName": "String",
    "PackML/Blocked": "Boolean",
    "PackML/Starved": "Boolean",
    "Vehicle/VIN": "String",
    "Step/Name": "String",
    "Step/Progress": "Double",
    "Counts/Processed": "Int32",
    "Counts/Passed": "Int32",
    "Counts/Failed": "Int32",
    "Counts/Held": "Int32",
    "Counts/Rework": "Int32",
    "Alarms/Active": "Int32",
    "Links/barcode": "Boolean",
    "Links/plc": "Boolean",
    "Config/Hash": "String",
    "Route/Version": "Int32",
    "Uplink/Backlog": "Int64",
}
# the last measurement of each quantity of the station's steps (here one: soh_pct)
MEASUREMENT_TYPES = {
    "Measurements/soh_pct/Value": "Double",
    "Measurements/soh_pct/Unit": "String",
    "Measurements/soh_pct/Verdict": "String",
    "Measurements/soh_pct/Time": "DateTime",
}
MEASURED_AT = "2026-11-30T10:41:55.120+00:00"


def soh(value: float | None) -> MeasurementStatus:
    """soh_pct as the status shows it: not measured yet (None), or measured out of limits."""
    return {
        "name": "soh_pct",
        "value": value,
        "unit": "%",
        "limits": ">= 70.0 %",
        "verdict": "" if value is None else "fail",
        "shown": "" if value is None else f"FAIL: {value} % < 70.0 %",
        "vin": None if value is None else "VF1RFB00X66000001",
        "source": "" if value is None else "device:tester",
        "operator": "" if value is None else "tester",
        "time": None if value is None else MEASURED_AT,
    }


async def tahu_decode(received: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each (topic, hex payload) decoded by Tahu's sparkplug-payload."""
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(DECODER_JS),
        str(PAYLOAD_JS),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines = "".join(f"{topic} {payload}\n" for topic, payload in received).encode()
    async with asyncio.timeout(30):
        out, err = await process.communicate(lines)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def our_decode(hex_payload: str) -> Any:
    return sparkplug.Payload.FromString(bytes.fromhex(hex_payload))


def bd_seq(hex_payload: str) -> int:
    return next(int(m.long_value) for m in our_decode(hex_payload).metrics if m.name == "bdSeq")


class Source:
    """A status that a test changes."""

    def __init__(self) -> None:
        self.status: Status = status()

    def __call__(self) -> Status:
        return self.status


@requires_tahu
async def test_nbirth_and_ndata_read_by_tahu(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    source = Source()
    source.status = {**source.status, "last_measurements": {"soh_pct": soh(None)}}
    async with (
        Subscriber(plain_broker, NODES, hex_payload=True) as sub,
        make_uplink(plain_broker, tmp_path, Recorder(), source) as uplink,
    ):
        await sub.until(1)
        source.status = {**source.status, "state": "Execute", "vin": "VF1RFB00X66000001"}
        uplink.changed()
        await sub.until(2)
        source.status = {**source.status, "last_measurements": {"soh_pct": soh(64.0)}}
        uplink.changed()
        received = await sub.until(3)
    await journal.close()
    birth, data, measured = await tahu_decode(received[:3])
    assert birth["topic"] == f"spBv1.0/{LINE}/NBIRTH/{STATION}"
    assert birth["seq"] == 0
    assert {m["name"]: m["type"] for m in birth["metrics"]} == {
        **METRIC_TYPES,
        **MEASUREMENT_TYPES,
    }
    values = {m["name"]: m["value"] for m in birth["metrics"]}
    assert values["PackML/State"] == "4"  # Idle, OPC 30050
    assert values["Vehicle/VIN"] is None
    assert values["Links/plc"] == "true"
    assert [values[name] for name in MEASUREMENT_TYPES] == [None, "%", None, None]
    assert data["topic"] == f"spBv1.0/{LINE}/NDATA/{STATION}"
    assert data["seq"] == 1
    assert {m["name"]: m["value"] for m in data["metrics"]} == {
        "PackML/State": "6",
        "PackML/StateName": "Execute",
        "Vehicle/VIN": "VF1RFB00X66000001",
    }
    assert measured["seq"] == 2
    at_ms = round(datetime.fromisoformat(MEASURED_AT).timestamp() * 1000)
    assert {m["name"]: m["value"] for m in measured["metrics"]} == {
        "Measurements/soh_pct/Value": "64",
        "Measurements/soh_pct/Verdict": "fail",
        "Measurements/soh_pct/Time": str(at_ms),
    }


async def test_rebirth_and_will_carry_the_birth_bdseq(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    async with (
        Subscriber(plain_broker, NODES, hex_payload=True) as sub,
        make_uplink(plain_broker, tmp_path, Recorder()) as uplink,
    ):
        await sub.until(1)
        command = sparkplug.encode({sparkplug.REBIRTH: (sparkplug.DataType.BOOLEAN, True)}, 0)
        async with aiomqtt.Client("127.0.0.1", plain_broker.port) as host:
            await host.publish(f"spBv1.0/{LINE}/NCMD/{STATION}", command)
        await sub.until(3)  # the NCMD and the new NBIRTH
        # A client taking over our client id cuts our connection: the broker sends the Will.
        async with aiomqtt.Client("127.0.0.1", plain_broker.port, identifier=CLIENT_ID):
            await sub.until(4)
        received = await sub.until(5)  # we reconnect: a new NBIRTH with the next bdSeq
        assert uplink.backlog == 0
    await journal.close()
    kinds = [topic.split("/")[2] for topic, _ in received[:5]]
    assert kinds == ["NBIRTH", "NCMD", "NBIRTH", "NDEATH", "NBIRTH"]
    first, _, rebirth, death, after = (payload for _, payload in received[:5])
    assert bd_seq(first) == bd_seq(rebirth) == bd_seq(death) == 0
    assert our_decode(rebirth).seq == 0
    assert bd_seq(after) == 1


async def test_live_state_waits_for_the_primary_host_the_journal_does_not(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    await append(journal, 3)
    host_topic = "spBv1.0/STATE/scada-host"
    async with (
        Subscriber(plain_broker, NODES, hex_payload=True) as nodes,
        Subscriber(plain_broker, TOPIC) as stream,
        make_uplink(plain_broker, tmp_path, Recorder(), primary_host_id="scada-host"),
    ):
        await stream.until(3)
        assert nodes.received == []
        async with aiomqtt.Client("127.0.0.1", plain_broker.port) as host:
            online = json.dumps({"online": True, "timestamp": 1})
            await host.publish(host_topic, online, qos=1, retain=True)
            await nodes.until(1)
            offline = json.dumps({"online": False, "timestamp": 2})
            await host.publish(host_topic, offline, qos=1, retain=True)
            received = await nodes.until(2)
            await host.publish(host_topic, None, retain=True)  # leave no retained STATE
    await journal.close()
    assert [topic.split("/")[2] for topic, _ in received] == ["NBIRTH", "NDEATH"]


def test_seq_wraps_after_255_and_ndata_carries_only_changes() -> None:
    node = sparkplug.EdgeNode(group=LINE, node=STATION, bd_seq=7)
    metrics = sparkplug.metrics_of(status(), backlog=0)
    node.birth(metrics)
    seqs = []
    for backlog in range(1, 300):
        data = node.data(sparkplug.metrics_of(status(), backlog=backlog))
        assert data is not None
        payload = sparkplug.Payload.FromString(data)
        assert [m.name for m in payload.metrics] == ["Uplink/Backlog"]
        seqs.append(payload.seq)
    assert seqs[254:257] == [255, 0, 1]
    assert node.data(sparkplug.metrics_of(status(), backlog=299)) is None
