"""The stations' live Sparkplug B state as the plant sees it (pure): each edge node's
last metrics, and whether it is alive (docs/cli.md "The plant link").

`Nodes.take(topic, payload, now)` folds one message of `spBv1.0/<group>/<kind>/<node>`:
- NBIRTH: the node is alive, with every metric and the birth's bdSeq;
- NDATA: the metrics that changed (a node whose birth the plant has not seen asks for a
  rebirth: `take` returns True, and the caller sends NCMD `Node Control/Rebirth`);
- NDEATH: dead, when its bdSeq is the birth's (a Will left by an older session is not
  this node's death).
A payload that does not decode, and a topic that is not an edge node's, are ignored.
At most MAX_NODES nodes are remembered (a broker full of foreign nodes costs nothing
more). Keyed by node id: a station's id (the default node id of its uplink).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from station.uplink import sparkplug

MAX_NODES = 1000
MAX_PAYLOAD = 64 * 1024
KINDS = ("NBIRTH", "NDATA", "NDEATH")

Value = int | float | bool | str | None


def node_topic(topic: str) -> tuple[str, str, str] | None:
    """(group, kind, node) of an edge node's topic, None for another."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != sparkplug.NAMESPACE or parts[2] not in KINDS:
        return None
    return parts[1], parts[2], parts[3]


def metrics(payload: bytes) -> dict[str, Value] | None:
    """A payload's metrics by name (None: not a Sparkplug B payload)."""
    if len(payload) > MAX_PAYLOAD:
        return None
    message = sparkplug.Payload()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return None
    values: dict[str, Value] = {}
    for metric in message.metrics:
        which = metric.WhichOneof("value")
        values[metric.name] = None if metric.is_null or which is None else getattr(metric, which)
    return values


@dataclass
class Node:
    group: str
    born: bool = False
    alive: bool = False
    bd_seq: int | None = None
    seen: float = 0.0
    values: dict[str, Value] = field(default_factory=dict)

    def flag(self, name: str) -> bool | None:
        value = self.values.get(name)
        return value if isinstance(value, bool) else None

    def progress(self) -> float | None:
        value = self.values.get("Step/Progress")
        return float(value) if isinstance(value, int | float) else None

    def links(self) -> dict[str, bool]:
        return {
            name.removeprefix("Links/"): value
            for name, value in sorted(self.values.items())
            if name.startswith("Links/") and isinstance(value, bool)
        }


@dataclass
class Nodes:
    nodes: dict[str, Node] = field(default_factory=dict)

    def get(self, node: str) -> Node | None:
        return self.nodes.get(node)

    def take(self, topic: str, payload: bytes, now: float) -> bool:
        """Fold one message; True when the node should be asked for a rebirth."""
        where = node_topic(topic)
        values = metrics(payload)
        if where is None or values is None:
            return False
        group, kind, name = where
        node = self.nodes.get(name)
        if node is None:
            if len(self.nodes) >= MAX_NODES:
                return False
            node = self.nodes[name] = Node(group)
        node.seen = now
        bd_seq = values.get(sparkplug.BD_SEQ)
        if kind == "NBIRTH":
            node.group, node.born, node.alive = group, True, True
            node.bd_seq = bd_seq if isinstance(bd_seq, int) else None
            node.values = {k: v for k, v in values.items() if k != sparkplug.BD_SEQ}
            return False
        if kind == "NDEATH":
            if node.born and node.alive and bd_seq == node.bd_seq:
                node.alive = False
            return False
        node.values.update(values)
        return not node.alive
