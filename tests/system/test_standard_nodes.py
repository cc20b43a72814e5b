"""asyncua's standard address space from the machine's shelf (`station.interface.
standard_nodes`): the first server builds and writes it, the next ones read it, with
the same nodes; servers building it at once leave one shelf and nothing half written."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

from asyncua import ua
from asyncua.server.server import Server

from station.interface import standard_nodes


def _listed(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def _standard_nodes_seen(server: Server) -> tuple[list[str], list[str]]:
    objects = [
        (await child.read_browse_name()).Name for child in await server.nodes.objects.get_children()
    ]
    namespaces = await server.get_node(ua.ObjectIds.Server_NamespaceArray).read_value()
    return sorted(objects), namespaces


async def test_built_once_then_read_from_the_shelf_with_the_same_nodes(tmp_path: Path) -> None:
    built = Server()
    assert await standard_nodes.init(built, tmp_path) == "built and cached"
    cached = Server()
    assert await standard_nodes.init(cached, tmp_path) == "cached"
    assert await _standard_nodes_seen(cached) == await _standard_nodes_seen(built)
    assert _listed(tmp_path) == [f"asyncua-{version('asyncua')}"]


async def test_servers_building_it_at_once_leave_one_shelf(tmp_path: Path) -> None:
    said = await asyncio.gather(*(standard_nodes.init(Server(), tmp_path) for _ in range(2)))
    assert said == ["built and cached"] * 2
    assert _listed(tmp_path) == [f"asyncua-{version('asyncua')}"]
    assert await standard_nodes.init(Server(), tmp_path) == "cached"


async def test_a_folder_it_cannot_write_builds_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert await standard_nodes.init(Server(), blocked) == "built"
