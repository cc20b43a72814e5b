"""An attribute found on the way, answered by a person at the station's OPC UA interface
(`EnterAttribute`), as the console does: the diagnosis operator says yes, the station
journals it as found by her and writes it on the vehicle's tag."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaStatusCodeError
from inspector_rig import Interface

from station.assembly import assemble
from station.config.loader import load_station
from station.interface import NAMESPACE_URI
from station.interface.users import add_user
from station.scenario import Scenario

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
VIN = "VF1RFB00X66100001"
OPERATOR = ("omar", "omar-long-password")
WAIT_S = 20.0


async def test_an_operator_answers_an_attribute_over_opc_ua(tmp_path: Path) -> None:
    interface = Interface(tmp_path)
    add_user(tmp_path / "users.yaml", OPERATOR[0], "operator", OPERATOR[1])
    scenario = Scenario.model_validate({"vehicles": [{"vin": VIN}]})
    loaded = load_station(STATIONS / "diagnosis.yaml")
    async with assemble(
        loaded, tmp_path, simulate=True, scenario=scenario, time_scale=0.02, serve=interface.serve
    ) as built:
        assert built.world is not None and built.server is not None
        await built.server.serving()  # it comes up after the station
        built.world.floor.people.found_answer = lambda vin, name: None  # she answers
        world = asyncio.create_task(built.world.run())
        await built.station.prompts.wait_for("attribute", WAIT_S)
        client = Client(interface.endpoint, timeout=5)
        client.set_user(OPERATOR[0])
        client.set_password(OPERATOR[1])
        async with client:
            ns = await client.get_namespace_index(NAMESPACE_URI)
            name = await client.get_node(ua.NodeId("Station.Prompt.Name", ns)).read_value()
            commands = client.get_node(ua.NodeId("Station.Commands", ns))
            method = ua.NodeId("Station.Commands.EnterAttribute", ns)
            with pytest.raises(UaStatusCodeError) as refused:
                await commands.call_method(method, "maybe")
            said = await commands.call_method(method, "yes")
        await asyncio.wait_for(world, WAIT_S)
        events = built.journal.events()
    assert name == "needs_bodywork"
    assert type(refused.value).__name__ == "BadInvalidArgument"
    assert said == "attribute: yes"
    (found,) = [e for e in events if e.kind == "attribute_found"]
    assert (found.vin, found.result, found.operator) == (VIN, "found", OPERATOR[0])
    assert found.data["attribute"] == "needs_bodywork"
