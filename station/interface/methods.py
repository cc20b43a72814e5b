"""The station's commands as OPC UA methods: the method table, the check of the
arguments, and the call that runs one as the session's user (`access.caller()`),
turning what the Station raises into the Bad status and reason the module docstring
of `station.interface.server` lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.ua.status_codes import StatusCodes
from structlog.typing import FilteringBoundLogger

from station import interface
from station.control import DeviceRefused, IllegalInState, InvalidArgument, OutOfRange
from station.fsm import IllegalCommand
from station.interface.access import caller
from station.interface.address_space import AddressSpace
from station.roles import NotAuthorized
from station.runtime import Refused, Station

PACKML_COMMANDS = tuple(m for m in interface.PACKML_METHODS if m != "SetUnitMode")
"""The state machine's methods that are PackML commands (`Station.command`)."""

V = ua.VariantType


@dataclass(frozen=True)
class Arg:
    """An input or output argument of a method."""

    name: str
    type: ua.VariantType
    description: str

    def argument(self) -> ua.Argument:
        argument = ua.Argument()
        argument.Name = self.name
        argument.DataType = ua.NodeId(ua.Int32(self.type.value))
        argument.ValueRank = -1
        argument.Description = ua.LocalizedText(self.description)
        return argument


Handler = Callable[..., Awaitable[list[Any]]]
"""handler(user, role, *arguments) -> output values; raises what the Station raises."""


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    inputs: list[Arg]
    outputs: list[Arg]


class _CallRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


RESULT = [Arg("Result", V.String, "what was done, or why it was refused")]


def station_methods(st: Station) -> list[Method]:
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

    text = V.String
    reason = Arg("Reason", text, "why (journaled)")
    overridden = "what is overridden: photo_session"
    disposals = "retry the failed step, or remove the vehicle"
    return [
        *(Method(m, packml(m.lower()), [], RESULT) for m in PACKML_COMMANDS),
        Method(
            "SetUnitMode",
            set_mode,
            [Arg("Mode", text, "production, manual or maintenance")],
            RESULT,
        ),
        Method("AcknowledgeAlarm", acknowledge, [Arg("Key", text, "the alarm's key")], RESULT),
        Method("ConfirmChecklistItem", answer("checklist", "done"), [], RESULT),
        Method("EnterVerdict", answer("verdict"), [Arg("Verdict", text, "pass or fail")], RESULT),
        Method("ManualVin", answer("manual_vin"), [Arg("Vin", text, "the VIN, typed")], RESULT),
        Method("ConfirmStep", answer("confirm_step", "go"), [], RESULT),
        Method("Override", override, [Arg("What", text, overridden), reason], RESULT),
        Method("Dispose", dispose, [Arg("Action", text, disposals), reason], RESULT),
        Method(
            "ForceOutput",
            force_output,
            [Arg("Name", text, "output name"), Arg("Value", V.Int32, "value to write")],
            RESULT,
        ),
        Method(
            "WhoAmI",
            who_am_i,
            [],
            [Arg("User", text, "the session's user"), Arg("Role", text, "its role")],
        ),
    ]


async def add_methods(space: AddressSpace, station: Station, log: FilteringBoundLogger) -> None:
    """Every method of `station_methods` under its parent object."""
    for method in station_methods(station):
        await space.add_method(
            interface.method_parent(method.name),
            method.name,
            _call(method, log),
            [a.argument() for a in method.inputs],
            [a.argument() for a in method.outputs],
        )


def _call(
    method: Method, log: FilteringBoundLogger
) -> Callable[..., Awaitable[ua.CallMethodResult]]:
    name = method.name

    async def call(parent: ua.NodeId, *arguments: ua.Variant) -> ua.CallMethodResult:
        user, role = caller()
        result = ua.CallMethodResult()
        try:
            values = _arguments(name, method.inputs, arguments)
            outputs = await method.handler(user, role, *values)
        except _CallRefused as exc:
            status, message = exc.status, str(exc)
        except NotAuthorized as exc:
            status, message = StatusCodes.BadUserAccessDenied, str(exc)
        except Refused as exc:  # checked and journaled by the station, with why
            status, message = REFUSALS.get(type(exc), StatusCodes.BadInvalidState), str(exc)
        except IllegalCommand as exc:
            status, message = StatusCodes.BadInvalidState, str(exc)
        except Exception as exc:
            log.exception("opcua_method_failed", method=name, user=user)
            status, message = StatusCodes.BadInternalError, f"{name} failed: {exc}"
        else:
            result.OutputArguments = [ua.Variant(v, V.String) for v in outputs]
            return result
        log.info("opcua_call_refused", method=name, user=user, role=role, why=message)
        result.StatusCode = ua.StatusCode(ua.UInt32(status))
        result.OutputArguments = [ua.Variant(message, V.String)]
        return result

    return call


REFUSALS: dict[type[Refused], int] = {
    OutOfRange: StatusCodes.BadOutOfRange,
    InvalidArgument: StatusCodes.BadInvalidArgument,
    IllegalInState: StatusCodes.BadInvalidState,
    DeviceRefused: StatusCodes.BadDeviceFailure,
}
"""The OPC UA status of each refusal the station gives (any other: BadInvalidState)."""


def _arguments(name: str, inputs: list[Arg], arguments: Iterable[ua.Variant]) -> list[Any]:
    arguments = list(arguments)
    values = [a.Value for a in arguments]
    if len(values) < len(inputs):
        missing = ", ".join(a.name for a in inputs[len(values) :])
        raise _CallRefused(StatusCodes.BadArgumentsMissing, f"{name}: missing {missing}")
    if len(values) > len(inputs):
        raise _CallRefused(
            StatusCodes.BadTooManyArguments,
            f"{name} takes {len(inputs)} argument(s), got {len(values)}",
        )
    for arg, variant in zip(inputs, arguments, strict=True):
        if variant.VariantType is not arg.type:  # an Int64 is no Int32, whatever its value
            raise _CallRefused(
                StatusCodes.BadTypeMismatch,
                f"{name}: {arg.name} must be {arg.type.name} (got {variant.VariantType.name})",
            )
    for arg, value in zip(inputs, values, strict=True):
        expected = int if arg.type is V.Int32 else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise _CallRefused(
                StatusCodes.BadInvalidArgument,
                f"{name}: {arg.name} must be {arg.type.name} (got {value!r})",
            )
    return values
