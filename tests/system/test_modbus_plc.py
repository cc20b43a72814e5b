"""The PLC driver against the PLC simulator over real TCP: reading, edges, debounce,
writes with read-back, the allow-list, reflexes; and the pure parts (read plan,
debounce) without I/O."""

from __future__ import annotations

import asyncio

import pytest
from modbus_rig import plc_config, plc_rig

from hal.config import InputPoint, Reflex
from hal.errors import LinkDown, OutputNotAllowed, WriteNotVerified
from hal.interfaces import InputEdge
from hal.modbus.client import ReadBlock, plan_reads
from hal.modbus.plc import EdgeStream, ModbusPlc, _Debounced, reflex_value
from simulators.plc import PlcBehaviour, SimPlc, Veto

# --- pure logic ------------------------------------------------------------------------


def test_read_plan_merges_contiguous_addresses_and_splits_at_gaps_and_tables() -> None:
    points = {
        "a": ("discrete_input", 0),
        "b": ("discrete_input", 1),
        "c": ("discrete_input", 2),
        "d": ("discrete_input", 5),
        "e": ("input_register", 10),
        "f": ("input_register", 11),
    }
    assert plan_reads(points) == [  # type: ignore[arg-type]
        ReadBlock("discrete_input", 0, 3, (("a", 0), ("b", 1), ("c", 2))),
        ReadBlock("discrete_input", 5, 1, (("d", 0),)),
        ReadBlock("input_register", 10, 2, (("e", 0), ("f", 1))),
    ]


def test_read_plan_respects_the_per_request_limit() -> None:
    points = {f"r{i}": ("holding_register", i) for i in range(130)}
    blocks = plan_reads(points)  # type: ignore[arg-type]
    assert [(b.address, b.count) for b in blocks] == [(0, 125), (125, 5)]


def test_photo_studio_inputs_are_read_in_one_request() -> None:
    config = plc_config()
    blocks = plan_reads({n: (p.table, p.address) for n, p in config.inputs.items()})
    assert [(b.table, b.address, b.count) for b in blocks] == [("discrete_input", 0, 7)]


def test_debounce_reports_a_change_only_once_it_has_been_stable() -> None:
    point = _Debounced("eye", debounce_s=0.05)
    assert point.sample(0, 0.00) is None  # the first reading is the state
    assert point.sample(1, 0.01) is None
    assert point.sample(0, 0.02) is None  # chatter: back before the debounce time
    assert point.sample(1, 0.03) is None
    assert point.sample(1, 0.07) is None  # stable 40 ms
    edge = point.sample(1, 0.08)  # stable 50 ms
    assert edge == InputEdge("eye", 1, 0, 0.03)
    assert point.value == 1
    assert point.sample(1, 0.5) is None


def test_reflex_value_inverts_and_clamps_coils() -> None:
    coil = plc_config().outputs["entry_lamp"]
    assert reflex_value(Reflex(input="a", output="b"), coil, 1) == 1
    assert reflex_value(Reflex(input="a", output="b", invert=True), coil, 1) == 0
    assert reflex_value(Reflex(input="a", output="b"), coil, 7) == 1


def test_a_reflex_naming_an_unknown_point_is_refused() -> None:
    bad = plc_config(reflexes=[Reflex(input="vehicle_present", output="siren")])
    with pytest.raises(ValueError, match="siren"):
        ModbusPlc("plc", bad)


def test_a_poll_slower_than_the_stale_time_is_refused() -> None:
    with pytest.raises(ValueError, match="poll_interval_ms"):
        ModbusPlc("plc", plc_config(poll_interval_ms=400))


async def test_an_edge_stream_that_falls_too_far_behind_fails_loudly() -> None:
    stream = EdgeStream("plc")
    edge = InputEdge("eye", 1, 0, 0.0)
    while stream.push(edge):
        pass
    with pytest.raises(Exception, match="overflow"):
        await anext(stream)


# --- against the simulator -------------------------------------------------------------


async def test_reads_the_io_image_and_publishes_edges() -> None:
    async with plc_rig() as (sim, plc):
        assert plc.value("estop_ok") == 1
        assert plc.value("zone_clear") == 1
        assert plc.value("vehicle_present") == 0
        edges = plc.edges()
        sim.set_input("exit_gate_closed", 0)
        edge = await asyncio.wait_for(anext(edges), 1.0)
        assert (edge.name, edge.value, edge.previous) == ("exit_gate_closed", 0, 1)
        await plc.wait_for("exit_gate_closed", 0, timeout=1.0)
        assert plc.value("exit_gate_closed") == 0
        with pytest.raises(TimeoutError):
            await plc.wait_for("estop_ok", 0, timeout=0.05)
        with pytest.raises(KeyError, match="no input 'horn'"):
            plc.value("horn")


async def test_a_chattering_presence_sensor_gives_one_arrival() -> None:
    behaviour = PlcBehaviour(arrival_delay_s=0.02, chatter=3, chatter_period_s=0.02)
    config = plc_config()
    async with plc_rig(config, behaviour=behaviour) as (sim, plc):
        # A second driver on the same PLC without debounce sees the chatter itself.
        raw_inputs = {
            **config.inputs,
            "vehicle_present": config.inputs["vehicle_present"].model_copy(
                update={"debounce_ms": 0}
            ),
        }
        raw = ModbusPlc(
            "raw", config.model_copy(update={**sim.endpoint_update(), "inputs": raw_inputs})
        )
        await raw.start()
        try:
            await raw.link.wait_up(1.0)
            debounced, undebounced = plc.edges(), raw.edges()
            sim.arrive()
            await plc.wait_for("vehicle_present", 1, timeout=2.0)
            await raw.wait_for("vehicle_present", 1, timeout=1.0)
        finally:
            await raw.stop()
            await plc.stop()
        seen = [e async for e in debounced if e.name == "vehicle_present"]
        chatter = [e async for e in undebounced if e.name == "vehicle_present"]
    assert [(e.value, e.previous) for e in seen] == [(1, 0)]
    assert len(chatter) >= 3, "the raw poll should have seen the toggles"


async def test_a_write_is_read_back_and_remembered() -> None:
    async with plc_rig() as (sim, plc):
        reads_before = sim.requests["read", "coil", 5]
        await plc.write("andon", 1)
        assert sim.output("andon") == 1
        assert sim.requests["write", "coil", 5] == 1
        assert sim.requests["read", "coil", 5] == reads_before + 1  # the read-back
        assert plc.output("andon") == 1
        assert [(w.name, w.value) for w in sim.writes if w.name == "andon"] == [("andon", 1)]


async def test_a_write_the_plc_vetoes_is_not_verified() -> None:
    async with plc_rig() as (sim, plc):
        sim.inject(Veto("exit_gate_open"))
        with pytest.raises(WriteNotVerified, match="wrote 1, read back 0"):
            await plc.write("exit_gate_open", 1)
        assert sim.output("exit_gate_open") == 0
        assert plc.output("exit_gate_open") == 0


async def test_an_output_outside_the_allow_list_is_refused_before_any_request() -> None:
    async with plc_rig() as (sim, plc):
        with pytest.raises(OutputNotAllowed, match="'horn' is not in the allow-list"):
            await plc.write("horn", 1)
        with pytest.raises(ValueError, match=r"takes 0\.\.1"):
            await plc.write("andon", 2)
        writes = [key for key in sim.requests if key[0] == "write"]
        assert writes == [("write", "coil", 7)]  # only the reflex's, at connect


async def test_the_reflex_lights_the_entry_lamp_and_safe_values_are_written() -> None:
    async with plc_rig() as (sim, plc):
        sim.set_input("vehicle_present", 1)
        write = await sim.wait_output("entry_lamp", 1, timeout=1.0)
        assert write is not None and write.name == "entry_lamp"
        await plc.write("stack_green", 1)
        assert await plc.write_safe() == []
        assert sim.output("stack_red") == 1 and sim.output("stack_green") == 0


async def test_the_station_physics_move_a_vehicle_through() -> None:
    behaviour = PlcBehaviour(arrival_delay_s=0.01, travel_s=0.05, gate_s=0.02)
    async with plc_rig(behaviour=behaviour) as (sim, plc):
        departed = asyncio.Event()
        sim.on_departed.append(departed.set)
        sim.arrive()
        await plc.wait_for("vehicle_present", 1, timeout=1.0)
        await plc.write("entry_gate_open", 1)
        await plc.wait_for("entry_gate_closed", 0, timeout=1.0)
        await plc.wait_for("vehicle_in_position", 1, timeout=1.0)
        assert plc.value("zone_clear") == 1
        await plc.write("entry_gate_open", 0)
        await plc.wait_for("entry_gate_closed", 1, timeout=1.0)
        await plc.write("exit_gate_open", 1)
        await asyncio.wait_for(departed.wait(), 1.0)
        await plc.wait_for("vehicle_present", 0, timeout=1.0)
        assert plc.value("vehicle_in_position") == 0


async def test_values_are_refused_while_the_link_is_down() -> None:
    config = plc_config()
    sim = SimPlc(config)
    await sim.start()
    plc = ModbusPlc("plc", config.model_copy(update=sim.endpoint_update()))
    try:
        with pytest.raises(LinkDown):
            plc.value("estop_ok")
        await plc.start()
        await plc.link.wait_up(1.0)
        edges = plc.edges()
        assert plc.value("estop_ok") == 1
    finally:
        await plc.stop()
        await sim.stop()
    with pytest.raises(LinkDown, match="stopped"):
        plc.value("estop_ok")
    with pytest.raises(LinkDown):
        await plc.write("andon", 1)
    assert [e async for e in edges] == []  # the stream ends when the device stops


def test_simulated_behaviour_must_fit_the_io_map() -> None:
    with pytest.raises(ValueError, match="zone_clear: no input 'turntable_free'"):
        SimPlc(plc_config(), behaviour=PlcBehaviour(zone_clear="turntable_free"))
    inputs = {"vehicle_present": InputPoint(table="discrete_input", address=0)}
    assert PlcBehaviour.for_config(plc_config(inputs=inputs, reflexes=[])).zone_clear is None
