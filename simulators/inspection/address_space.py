"""The simulated inspection system's nodes: its own variables, the object with the
`Start` method, and the measurement nodes it serves for a station's measure steps.

- Its own variables (`VARIABLES`) and `OBJECT` are served when the device config
  names them (`vin` and `verdict` always).
- Measurement nodes: names of the device config's `nodes:` declared as measurements
  (`SimInspection(measurements=...)`: in a simulated station, the nodes its measure
  steps read; on a bench, every node of the config that is not its own). Each is a
  Double variable, 0.0 until `set_values` gives the vehicle in front its value.
- Any other name is an error, as is a node id in namespace 0 (the standard's).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from asyncua import ua
from asyncua.ua.uaerrors import UaStringParsingError

from hal.config import OpcUaDeviceConfig

VARIABLES: dict[str, tuple[ua.VariantType, Any]] = {
    "vin": (ua.VariantType.String, ""),
    "verdict": (ua.VariantType.String, ""),
    "verdict_vin": (ua.VariantType.String, ""),
    "sequence": (ua.VariantType.UInt32, 0),
    "status": (ua.VariantType.String, "idle"),
    "result": (ua.VariantType.String, ""),
}
"""Variable nodes the simulator serves of its own: type and value at start."""
OBJECT = "inspection"
"""Name of the object node carrying the `Start(vin) -> Boolean` method."""
REQUIRED = ("vin", "verdict")
MEASUREMENT: tuple[ua.VariantType, Any] = (ua.VariantType.Double, 0.0)
"""Type and value at start of a measurement node."""


def own(name: str) -> bool:
    """The node is one of the simulator's own (not a measurement)."""
    return name in VARIABLES or name == OBJECT


def variables(config: OpcUaDeviceConfig, measurements: Collection[str]) -> dict[str, Any]:
    """Every variable node served, by name: (type, value at start)."""
    served = {name: VARIABLES[name] for name in config.nodes if name in VARIABLES}
    return served | dict.fromkeys(measurements, MEASUREMENT)


def check_nodes(config: OpcUaDeviceConfig, measurements: Collection[str]) -> dict[str, ua.NodeId]:
    """The node ids of the config's nodes, each one the simulator serves (ValueError)."""
    known = [*VARIABLES, OBJECT]
    missing = [n for n in REQUIRED if n not in config.nodes]
    if missing:
        raise ValueError(f"inspection simulator: nodes {', '.join(missing)} are required")
    for name in measurements:
        if own(name) or name not in config.nodes:
            raise ValueError(
                f"inspection simulator: measurement node {name!r} must be a node of the "
                f"config that is not one of its own ({', '.join(known)})"
            )
    node_ids: dict[str, ua.NodeId] = {}
    for name, text in config.nodes.items():
        if name not in known and name not in measurements:
            raise ValueError(
                f"inspection simulator: nodes.{name}: unknown node (known: {', '.join(known)}"
                "; or a measurement node)"
            )
        try:
            node_id = ua.NodeId.from_string(text)
        except UaStringParsingError as exc:
            raise ValueError(f"inspection simulator: nodes.{name}: {exc}") from exc
        if node_id.NamespaceIndex == 0:
            raise ValueError(
                f"inspection simulator: nodes.{name}: {text} is in namespace 0, the "
                "standard's; use ns=2 or above"
            )
        node_ids[name] = node_id
    return node_ids
