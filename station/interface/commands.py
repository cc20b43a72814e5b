"""The station's side of an OPC UA method call: each method of the table
(`station.interface.methods.METHODS`) as a command of the Station, run as the caller,
a refusal turned into its OPC UA status (the list: the module docstring of
`station.interface.server`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from structlog.typing import FilteringBoundLogger

from station.control import DeviceRefused, IllegalInState, InvalidArgument, OutOfRange
from station.fsm import IllegalCommand
from station.interface import PACKML_COMMANDS, Code
from station.roles import NotAuthorized
from station.runtime import Refused, Station

Handler = Callable[..., Coroutine[Any, Any, list[Any]]]
"""handler(user, role, *arguments) -> output values; raises what the Station raises."""


def handlers(st: Station) -> dict[str, Handler]:
    """Every method, each calling one command of `st` as the caller."""

    def packml(command: str) -> Handler:
        async def run(user: str, role: str) -> list[Any]:
            return [str(await st.command(command, user, role))]

        return run

    async def set_mode(user: str, role: str, mode: str) -> list[Any]:
        await st.set_mode(mode, user, role)
        return [f"unit mode {mode}"]

    async def acknowledge(user: str, role: str, key: str) -> list[Any]:
        await st.acknowledge(key, user, role)
        return [f"alarm {key} acknowledged"]

    def answer(kind: Any, fixed: str | None = None) -> Handler:
        async def run(user: str, role: str, *value: str) -> list[Any]:
            text = fixed if fixed is not None else value[0]
            await st.answer(kind, text, user, role)
            return [f"{kind}: {text}"]

        return run

    async def override(user: str, role: str, what: str, reason: str) -> list[Any]:
        await st.override(what, reason, user, role)
        return [f"{what} overridden"]

    async def dispose(user: str, role: str, action: str, reason: str) -> list[Any]:
        await st.dispose(action, reason, user, role)
        return [f"vehicle disposed: {action}"]

    async def force_output(user: str, role: str, name: str, value: int) -> list[Any]:
        await st.force_output(name, value, user, role)
        return [f"{name} forced to {value}"]

    async def who_am_i(user: str, role: str) -> list[Any]:
        return [user, role]

    return {
        **{m: packml(m.lower()) for m in PACKML_COMMANDS},
        "SetUnitMode": set_mode,
        "AcknowledgeAlarm": acknowledge,
        "ConfirmChecklistItem": answer("checklist", "done"),
        "EnterVerdict": answer("verdict"),
        "EnterMeasurement": answer("measurement"),
        "EnterFinding": answer("finding"),
        "EnterAttribute": answer("attribute"),
        "ManualVin": answer("manual_vin"),
        "ConfirmStep": answer("confirm_step", "go"),
        "Override": override,
        "Dispose": dispose,
        "ForceOutput": force_output,
        "WhoAmI": who_am_i,
    }


REFUSALS: dict[type[Refused], int] = {
    OutOfRange: Code.BadOutOfRange,
    InvalidArgument: Code.BadInvalidArgument,
    IllegalInState: Code.BadInvalidState,
    DeviceRefused: Code.BadDeviceFailure,
}
"""The OPC UA status of each refusal the station gives (any other: BadInvalidState)."""


async def run_command(
    handler: Handler, name: str, user: str, role: str, values: list[Any], log: FilteringBoundLogger
) -> tuple[int, list[Any]]:
    """Run one command as `user`: (0, outputs), or (Bad status, [why])."""
    try:
        return Code.Good, await handler(user, role, *values)
    except NotAuthorized as exc:
        return Code.BadUserAccessDenied, [str(exc)]
    except Refused as exc:  # checked and journaled by the station, with why
        return REFUSALS.get(type(exc), Code.BadInvalidState), [str(exc)]
    except IllegalCommand as exc:
        return Code.BadInvalidState, [str(exc)]
    except Exception as exc:
        log.exception("opcua_method_failed", method=name, user=user)
        return Code.BadInternalError, [f"{name} failed: {exc}"]
