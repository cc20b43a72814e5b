"""Progress read from outside (a tag, a mirror) checked against the route rules.

`check_progress` says what makes a progress one the rules (`station.route`) cannot
reach on a route; such progress is refused, never interpreted. Pure: no I/O.
"""

from __future__ import annotations

from station.route import Hold, Progress, RouteSnapshot, progress_due, route_label


def check_progress(route: RouteSnapshot, progress: Progress) -> list[str]:
    """What makes this progress one the rules cannot reach on this route (empty: none)."""
    if (progress.route_version, progress.route_hash) != (route.version, route.hash):
        frozen = route_label(progress.route_version, progress.route_hash)
        return [f"progress is for route {frozen}, not {route.label}"]
    unknown = sorted(
        (progress.attributes | {entry.attribute for entry in progress.found})
        - set(route.attributes)
    )
    if unknown:
        return [f"undeclared attributes {', '.join(unknown)}"]
    problems = []
    due = [op.operation for op in progress_due(route, progress)]
    count = len(progress.done)
    if list(progress.done) != due[:count]:
        problems.append(f"done {', '.join(progress.done)} is not the start of {', '.join(due)}")
    gates = tuple(op.operation for op in route.operations if op.gate and op.operation in due)
    if progress.gates_passed != tuple(gate for gate in gates if gate in progress.done):
        problems.append(f"gates passed {', '.join(progress.gates_passed)} are not the gates done")
    pending = due[count] if count < len(due) else None
    if progress.failed_gate not in (None, pending):
        problems.append(f"{progress.failed_gate} awaits rework but the next operation is {pending}")
    loops = dict(progress.rework_loops)
    reworked = [name for name in due[: count + 1] if name in loops]
    if [name for name, _ in progress.rework_loops] != reworked:
        problems.append(f"rework loops at {', '.join(loops)}: not operations already reached")
    if any(not 1 <= loops[name] <= route.rework.max_loops for name in reworked):
        problems.append(f"rework loops {loops} outside 1..{route.rework.max_loops}")
    if progress.failed_gate is not None and progress.loops(progress.failed_gate) == 0:
        problems.append(f"{progress.failed_gate} awaits rework but was never sent there")
    hold = progress.on_hold
    if hold is not None and hold not in _reachable_holds(route, progress, pending):
        problems.append(f"held ({hold.cause}) at {hold.operation} cannot happen here")
    problems += _found_problems(route, progress, due[: count + 1])
    return problems


def _found_problems(route: RouteSnapshot, progress: Progress, reached: list[str]) -> list[str]:
    """Found attributes come from operations the vehicle reached (done, or the one it is
    at), in route order, one per attribute and operation."""
    problems = []
    wrong = [f.operation for f in progress.found if f.operation not in reached]
    if wrong:
        problems.append(f"attributes found at {', '.join(wrong)}: not operations reached")
        return problems
    keys = [(route.index(f.operation), route.attributes.index(f.attribute)) for f in progress.found]
    if keys != sorted(set(keys)):
        problems.append("found attributes out of route order, or found twice at one operation")
    return problems


def _reachable_holds(route: RouteSnapshot, progress: Progress, pending: str | None) -> list[Hold]:
    if progress.failed_gate is not None:
        holds = [Hold("failed", route.rework.operation)]
        if progress.loops(progress.failed_gate) == route.rework.max_loops:
            holds.append(Hold("rework_exhausted", progress.failed_gate))
        return holds
    if pending is None or route.operations[route.index(pending)].gate:
        return []
    return [Hold("failed", pending)]
