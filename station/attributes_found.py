"""The find_attributes step: route attributes found on the way (docs/architecture.md
section 4).

A person answers yes or no for each attribute the step names (prompt kind `attribute`,
answered with `Control.answer("attribute", "yes" | "no")`); each answer is journaled
(`attribute_found`, found or not_found) before anything depends on it, and never asked
again in the visit, after a hold or a crash (`Visit.found`). What was found goes into
the progress written at the end of the visit (`with_found`, used by the write-tag and
release steps): the route rules then apply it to the operations after this station's
only (`station.route.find`).
"""

from __future__ import annotations

from collections.abc import Mapping

from station.config.models import FindAttributesStep
from station.events import AttributeFound
from station.route import Progress, RouteSnapshot, find
from station.step_context import StepContext

ANSWERS = ("yes", "no")


async def find_attributes(ctx: StepContext, index: int, step: FindAttributesStep) -> None:
    """Ask each attribute not yet answered in this visit; journal each answer."""
    visit = ctx.visit
    assert visit.vin is not None  # identified: the step comes after verify_route
    roles = frozenset({step.role, "supervisor"})
    for item, (name, rule) in enumerate(step.attributes.items()):
        if name in visit.found:
            continue
        ctx.report.progress = item / len(step.attributes)
        answer = await ctx.prompts.ask(
            "attribute", f"{rule.question} ({name})", roles, options=ANSWERS, item=item, name=name
        )
        await ctx.record(
            AttributeFound(
                vin=visit.vin,
                step=f"{index}:find_attributes",
                result="found" if answer.value == "yes" else "not_found",
                operator=answer.user,
                data={
                    "attribute": name,
                    "value": rule.value,
                    "operation": ctx.station.operation,
                    "source": "typed",
                    "question": rule.question,
                },
            )
        )


def with_found(
    route: RouteSnapshot, progress: Progress, operation: str, found: Mapping[str, bool | None]
) -> Progress:
    """The vehicle's progress with what the station doing `operation` found in this visit."""
    for attribute, value in found.items():
        if value is not None:
            progress = find(route, progress, operation, attribute, value)
    return progress
