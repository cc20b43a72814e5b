"""The conveyor's choice among an operation's parallel stations: the shortest queue,
ties to the first free one, else the first in the route's order."""

from __future__ import annotations

from station.simulation.line._dispatch import Candidate, shortest_queue


def test_the_shortest_queue_wins_whatever_its_place() -> None:
    studios = [Candidate("photo-studio", 2, True), Candidate("photo-studio-2", 1, False)]
    assert shortest_queue(studios) == "photo-studio-2"


def test_equal_queues_go_to_the_first_free_station() -> None:
    studios = [Candidate("photo-studio", 0, False), Candidate("photo-studio-2", 0, True)]
    assert shortest_queue(studios) == "photo-studio-2"


def test_equal_queues_none_free_go_to_the_first_listed() -> None:
    bays = [Candidate(f"electromechanics-{n}", 1, False) for n in (1, 2, 3)]
    assert shortest_queue(bays) == "electromechanics-1"
    assert shortest_queue([*bays[:2], Candidate("electromechanics-3", 1, True)]) == (
        "electromechanics-3"
    )


def test_a_single_station_is_chosen() -> None:
    assert shortest_queue([Candidate("exit", 5, False)]) == "exit"
