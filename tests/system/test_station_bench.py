"""The station benchmark's `served` section (`python -m station.bench.station`, issue 18
item 5) for one start: `station run` on devices `station sim world` serves, measured from
outside and printed against the targets and the reference (the shape, not the speed)."""

from __future__ import annotations

from pathlib import Path

from station.bench.station import CONFIG
from station.bench.station_process import (
    REFERENCE_PSS_MIB,
    TARGET_PSS_MIB,
    TARGET_READY_S,
    on_served_devices,
)


def test_the_served_station_is_measured_against_its_targets(tmp_path: Path) -> None:
    served = on_served_devices(CONFIG, tmp_path, runs=1)
    (run,) = served["runs"]
    assert 0 < run["exec_to_ready_s"] <= run["exec_to_interface_s"]
    assert run["cpu_to_ready_s"] > 0 and run["stop_s"] > 0
    assert 0 < run["station_pss_mib"] < run["total_pss_mib"]
    assert run["total_pss_mib"] == round(run["station_pss_mib"] + run["interface_pss_mib"], 3)
    ready, memory = served["ready"], served["memory"]
    assert ready["ours_s"] == run["exec_to_ready_s"] and ready["target_s"] == TARGET_READY_S
    assert ready["within_target"] == (ready["ours_s"] <= TARGET_READY_S)
    assert memory["with_interface_mib"] == run["total_pss_mib"]
    assert (memory["target_mib"], memory["reference_mib"]) == (TARGET_PSS_MIB, [*REFERENCE_PSS_MIB])
    within = memory["with_interface_mib"] <= TARGET_PSS_MIB
    assert memory["with_interface_within_target"] == within
