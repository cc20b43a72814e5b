"""Sparkplug B 3.0 payloads and the edge node's metrics (docs/cli.md "The plant link").

The payload is the protobuf message `org.eclipse.tahu.protobuf.Payload` of the Sparkplug
B specification. Only the part this edge node writes or reads is declared here (payload
timestamp, metrics, seq; a metric's name, timestamp, datatype, is_null and scalar
values), with the specification's field numbers and types, so the bytes are the ones
Tahu's sparkplug_b.proto gives; a decoder ignores the fields left out. Eclipse Tahu's own
decoder (npm `sparkplug-payload`) reads our NBIRTH and NDATA in
tests/system/test_uplink_sparkplug.py.

Metric names and datatypes: `metrics_of` (one place; NBIRTH carries them all, NDATA
the changed ones). The last measurement of each quantity of the station's steps is
`Measurements/<name>/{Value,Unit,Verdict,Time}`, declared in NBIRTH before it is
measured (Value, Verdict and Time null until then). PackML numbering is OPC 30050's, as
on the OPC UA interface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from station.fsm import PACKML_STATE_NUMBERS, PACKML_UNIT_MODES, State, UnitMode
from station.status import Status

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"


class DataType(IntEnum):
    """Sparkplug B metric datatypes used here (specification's numbering)."""

    INT32 = 3
    INT64 = 4
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    """Milliseconds since the epoch (UTC), in long_value."""


_VALUE_FIELD = {
    DataType.INT32: "int_value",
    DataType.INT64: "long_value",
    DataType.DOUBLE: "double_value",
    DataType.BOOLEAN: "boolean_value",
    DataType.STRING: "string_value",
    DataType.DATETIME: "long_value",
}


def _payload_class() -> Any:
    """The Payload class (Payload.Metric nested), built from its descriptor."""
    field = descriptor_pb2.FieldDescriptorProto
    optional = field.LABEL_OPTIONAL
    metric = descriptor_pb2.DescriptorProto(
        name="Metric", oneof_decl=[descriptor_pb2.OneofDescriptorProto(name="value")]
    )
    for name, number, kind in (
        ("name", 1, field.TYPE_STRING),
        ("alias", 2, field.TYPE_UINT64),
        ("timestamp", 3, field.TYPE_UINT64),
        ("datatype", 4, field.TYPE_UINT32),
        ("is_historical", 5, field.TYPE_BOOL),
        ("is_transient", 6, field.TYPE_BOOL),
        ("is_null", 7, field.TYPE_BOOL),
    ):
        metric.field.add(name=name, number=number, type=kind, label=optional)
    for name, number, kind in (
        ("int_value", 10, field.TYPE_UINT32),
        ("long_value", 11, field.TYPE_UINT64),
        ("float_value", 12, field.TYPE_FLOAT),
        ("double_value", 13, field.TYPE_DOUBLE),
        ("boolean_value", 14, field.TYPE_BOOL),
        ("string_value", 15, field.TYPE_STRING),
    ):
        metric.field.add(name=name, number=number, type=kind, label=optional, oneof_index=0)
    payload = descriptor_pb2.DescriptorProto(name="Payload", nested_type=[metric])
    payload.field.add(name="timestamp", number=1, type=field.TYPE_UINT64, label=optional)
    payload.field.add(
        name="metrics",
        number=2,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    payload.field.add(name="seq", number=3, type=field.TYPE_UINT64, label=optional)
    file = descriptor_pb2.FileDescriptorProto(
        name="station/uplink/sparkplug_b_subset.proto",
        package="org.eclipse.tahu.protobuf",
        syntax="proto2",
        message_type=[payload],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    )


Payload = _payload_class()

Value = int | float | bool | str | None
Metrics = dict[str, tuple[DataType, Value]]


def metrics_of(status: Status, backlog: int) -> Metrics:
    """Every metric of the edge node, from a status snapshot and the uplink's backlog."""
    counts = status["counts"]
    metrics: Metrics = {
        "PackML/State": (DataType.INT32, PACKML_STATE_NUMBERS[State(status["state"])]),
        "PackML/StateName": (DataType.STRING, status["state"]),
        "PackML/UnitMode": (DataType.INT32, PACKML_UNIT_MODES[UnitMode(status["mode"])]),
        "PackML/UnitModeName": (DataType.STRING, status["mode"]),
        "PackML/Blocked": (DataType.BOOLEAN, bool(status["blocked"])),
        "PackML/Starved": (DataType.BOOLEAN, bool(status["starved"])),
        "Vehicle/VIN": (DataType.STRING, status["vin"]),
        "Step/Name": (DataType.STRING, status["step"]),
        "Step/Progress": (DataType.DOUBLE, float(status["step_progress"])),
        "Counts/Processed": (DataType.INT32, counts["cycles"]),
        "Counts/Passed": (DataType.INT32, counts["passed"]),
        "Counts/Failed": (DataType.INT32, counts["failed"]),
        "Counts/Held": (DataType.INT32, counts["held"]),
        "Counts/Rework": (DataType.INT32, counts["rework"]),
        "Alarms/Active": (DataType.INT32, sum(1 for a in status["alarms"] if a["active"])),
        "Config/Hash": (DataType.STRING, status["config_hash"]),
        "Route/Version": (DataType.INT32, status["route_version"]),
        "Uplink/Backlog": (DataType.INT64, backlog),
    }
    for device, up in sorted(status["links"].items()):
        metrics[f"Links/{device}"] = (DataType.BOOLEAN, up)
    for name, last in status["last_measurements"].items():
        value, wall = last["value"], last["time"]
        metrics[f"Measurements/{name}/Value"] = (
            DataType.DOUBLE,
            None if value is None else float(value),
        )
        metrics[f"Measurements/{name}/Unit"] = (DataType.STRING, last["unit"])
        metrics[f"Measurements/{name}/Verdict"] = (DataType.STRING, last["verdict"] or None)
        metrics[f"Measurements/{name}/Time"] = (
            DataType.DATETIME,
            None if wall is None else round(datetime.fromisoformat(wall).timestamp() * 1000),
        )
    return metrics


def encode(metrics: Metrics, seq: int, timestamp_ms: int | None = None) -> bytes:
    """One payload: every metric given, stamped with the payload's time."""
    now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    payload = Payload(timestamp=now, seq=seq)
    for name, (datatype, value) in metrics.items():
        metric = payload.metrics.add(name=name, timestamp=now, datatype=datatype)
        if value is None:
            metric.is_null = True
        else:
            setattr(metric, _VALUE_FIELD[datatype], value)
    data: bytes = payload.SerializeToString()
    return data


def rebirth_requested(data: bytes) -> bool:
    """Whether an NCMD payload sets `Node Control/Rebirth` to true (False if unreadable)."""
    payload = Payload()
    try:
        payload.ParseFromString(data)
    except DecodeError:
        return False
    return any(m.name == REBIRTH and m.boolean_value for m in payload.metrics)


@dataclass
class EdgeNode:
    """Sparkplug session state of one edge node: topics, bdSeq, seq and what was sent."""

    group: str
    node: str
    bd_seq: int = 0
    seq: int = 0
    published: Metrics | None = None

    def topic(self, kind: str) -> str:
        return f"{NAMESPACE}/{self.group}/{kind}/{self.node}"

    def death(self) -> bytes:
        """NDEATH (the MQTT Will): only bdSeq, no seq."""
        payload = Payload(timestamp=int(time.time() * 1000))
        payload.metrics.add(name=BD_SEQ, datatype=DataType.INT64, long_value=self.bd_seq)
        data: bytes = payload.SerializeToString()
        return data

    def birth(self, metrics: Metrics) -> bytes:
        """NBIRTH: seq restarts at 0; every metric, bdSeq and the rebirth control."""
        self.seq = 0
        self.published = dict(metrics)
        full: Metrics = {
            BD_SEQ: (DataType.INT64, self.bd_seq),
            REBIRTH: (DataType.BOOLEAN, False),
            **metrics,
        }
        return encode(full, self.seq)

    def needs_birth(self, metrics: Metrics) -> bool:
        """A metric appeared or vanished (a device added): only a new NBIRTH may say so."""
        return self.published is None or self.published.keys() != metrics.keys()

    def data(self, metrics: Metrics) -> bytes | None:
        """NDATA with the metrics changed since the last message, or None if none did."""
        assert self.published is not None, "NDATA before NBIRTH"
        changed = {k: v for k, v in metrics.items() if self.published.get(k) != v}
        if not changed:
            return None
        self.published.update(changed)
        self.seq = (self.seq + 1) % 256
        return encode(changed, self.seq)
