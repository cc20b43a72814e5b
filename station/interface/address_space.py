"""Our nodes in the server's address space (namespace `urn:station-controller:station`,
string node ids): objects created on demand along a node id's dots, variables with
the type they keep, methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server

from station.interface import MEASUREMENTS, Code, V


class AddressSpace:
    """The station's nodes under Objects/, in namespace index `ns` of `server`."""

    def __init__(self, server: Server, ns: int) -> None:
        self.server = server
        self.ns = ns
        self._nodes: dict[str, Node] = {}
        self._variable_types: dict[str, V] = {}

    def node_id(self, node_id: str) -> ua.NodeId:
        return ua.NodeId(ua.String(node_id), ua.Int16(self.ns))

    async def add_root(self, node_id: str, name: str) -> None:
        """The object under Objects/ that holds the others, browsed as `name`."""
        self._nodes[node_id] = await self.server.nodes.objects.add_object(
            self.node_id(node_id), ua.QualifiedName(name, self.ns)
        )

    async def object(self, node_id: str) -> Node:
        """The object `node_id`, created (with its parents) if it is not there yet."""
        node = self._nodes.get(node_id)
        if node is None:
            parent_id, _, name = node_id.rpartition(".")
            parent = await self.object(parent_id)
            node = await parent.add_object(self.node_id(node_id), ua.QualifiedName(name, self.ns))
            self._nodes[node_id] = node
        return node

    def has_variable(self, node_id: str) -> bool:
        return node_id in self._variable_types

    async def add_variable(self, node_id: str, value: Any, variant_type: V) -> None:
        parent_id, _, name = node_id.rpartition(".")
        parent = await self.object(parent_id)
        await parent.add_variable(
            self.node_id(node_id),
            ua.QualifiedName(name, self.ns),
            # a value not known yet (a link still down, nothing measured) is created
            # with the type's default, then marked Bad below (`data_value`)
            variant(value, variant_type),
            varianttype=ua.VariantType(variant_type),
        )
        self._variable_types[node_id] = variant_type
        if value is None:
            await self.write(node_id, None, variant_type)

    async def write(self, node_id: str, value: Any, variant_type: V) -> None:
        """A variable's new value (None: not known, Bad_NoCommunication)."""
        await self.server.write_attribute_value(
            self.node_id(node_id), data_value(node_id, value, variant_type)
        )

    async def add_method(
        self,
        parent_id: str,
        name: str,
        call: Callable[..., Awaitable[ua.CallMethodResult]],
        inputs: list[ua.Argument],
        outputs: list[ua.Argument],
    ) -> None:
        parent = await self.object(parent_id)
        await parent.add_method(
            self.node_id(f"{parent_id}.{name}"),
            ua.QualifiedName(name, self.ns),
            call,
            inputs,
            outputs,
        )


def variant(value: Any, variant_type: V) -> ua.Variant:
    """A variable's value as asyncua takes it: a LocalizedText from its text, a DateTime
    from its ISO 8601 text (values are plain JSON values until here); None (not known)
    the type's default."""
    kind = ua.VariantType(variant_type)
    if value is None:
        value = ua.get_default_value(kind)
    elif variant_type is V.LocalizedText and isinstance(value, str):
        value = ua.LocalizedText(value)
    elif variant_type is V.DateTime and isinstance(value, str):
        value = datetime.fromisoformat(value)
    return ua.Variant(value, kind)


def data_value(node_id: str, value: Any, variant_type: V) -> ua.DataValue:
    """A variable's value as written; None (not known) is Bad_NoCommunication (a device
    link down), or Bad_WaitingForInitialData for a quantity not measured yet."""
    if value is None:
        code = (
            Code.BadWaitingForInitialData
            if node_id.startswith(f"{MEASUREMENTS}.")
            else Code.BadNoCommunication
        )
        return ua.DataValue(variant(None, variant_type), StatusCode=ua.StatusCode(ua.UInt32(code)))
    return ua.DataValue(variant(value, variant_type))
