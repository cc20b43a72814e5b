"""The station's commands as OPC UA methods: the method table, the check of the
arguments, and the call that runs one as the session's user (`access.caller()`),
turning what the Station raises into the Bad status and reason the module docstring
of `station.interface.server` lists.

The two halves live in two processes (`station.interface.process`): here, in the
server's, `add_methods` puts the table into the address space and checks each call's
arguments, then asks the station (`Ask`) to run it; in the station's,
`station.interface.commands` runs it as the Station's command. An anonymous
session may call no command: the first of its calls in a window reaches the Station,
which refuses and journals it; the others of the window are refused in the server and
counted (`audit.RefusalAudit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.ua.status_codes import StatusCodes
from structlog.typing import FilteringBoundLogger

from station import interface
from station.interface import PACKML_COMMANDS, Code
from station.interface.access import caller
from station.interface.address_space import AddressSpace
from station.interface.audit import RefusalAudit
from station.interface.logins import ANONYMOUS
from station.journal.untrusted import shown

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


@dataclass(frozen=True)
class Method:
    name: str
    inputs: list[Arg]
    outputs: list[Arg]
    command: bool = True
    """A command of the Station (which no anonymous session may run)."""


RESULT = [Arg("Result", V.String, "what was done, or why it was refused")]
_TEXT = V.String
_REASON = Arg("Reason", _TEXT, "why (journaled)")

METHODS: tuple[Method, ...] = (
    *(Method(m, [], RESULT) for m in PACKML_COMMANDS),
    Method("SetUnitMode", [Arg("Mode", _TEXT, "production, manual or maintenance")], RESULT),
    Method("AcknowledgeAlarm", [Arg("Key", _TEXT, "the alarm's key")], RESULT),
    Method("ConfirmChecklistItem", [], RESULT),
    Method("EnterVerdict", [Arg("Verdict", _TEXT, "pass or fail")], RESULT),
    Method(
        "EnterMeasurement",
        [Arg("Value", _TEXT, "the value asked for (Prompt/Name), a number; unit as asked")],
        RESULT,
    ),
    Method(
        "EnterFinding",
        [Arg("Finding", _TEXT, "a code of the station's catalogue and a note, or none")],
        RESULT,
    ),
    Method(
        "EnterAttribute",
        [Arg("Answer", _TEXT, "yes or no: is the attribute asked (Prompt/Name) found here")],
        RESULT,
    ),
    Method("ManualVin", [Arg("Vin", _TEXT, "the VIN, typed")], RESULT),
    Method("ConfirmStep", [], RESULT),
    Method("Override", [Arg("What", _TEXT, "what is overridden: photo_session"), _REASON], RESULT),
    Method(
        "Dispose",
        [Arg("Action", _TEXT, "retry the failed step, or remove the vehicle"), _REASON],
        RESULT,
    ),
    Method(
        "ForceOutput",
        [Arg("Name", _TEXT, "output name"), Arg("Value", V.Int32, "value to write")],
        RESULT,
    ),
    Method(
        "WhoAmI",
        [],
        [Arg("User", _TEXT, "the session's user"), Arg("Role", _TEXT, "its role")],
        command=False,
    ),
)
"""Every method: the server's address space holds these."""

Ask = Callable[[str, str, str, list[Any]], Awaitable[tuple[int, list[Any]]]]
"""ask(method, user, role, arguments) -> (status, outputs): the station's answer
(status 0 and the outputs, or a Bad status and the reason)."""


async def add_methods(
    space: AddressSpace, ask: Ask, audit: RefusalAudit, log: FilteringBoundLogger
) -> None:
    """Every method of `METHODS` under its parent object; a call is checked, then `ask`ed."""
    for method in METHODS:
        await space.add_method(
            interface.method_parent(method.name),
            method.name,
            _call(method, ask, audit, log),
            [a.argument() for a in method.inputs],
            [a.argument() for a in method.outputs],
        )


class _CallRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _call(
    method: Method, ask: Ask, audit: RefusalAudit, log: FilteringBoundLogger
) -> Callable[..., Awaitable[ua.CallMethodResult]]:
    name = method.name

    async def call(parent: ua.NodeId, *arguments: ua.Variant) -> ua.CallMethodResult:
        user, role, source = caller()
        result = ua.CallMethodResult()
        try:
            if method.command and role == ANONYMOUS and not audit.call_refused_in_full(source):
                raise _CallRefused(
                    StatusCodes.BadUserAccessDenied,
                    f"{name}: an anonymous session may not call commands (counted, {source})",
                )
            values = _arguments(name, method.inputs, arguments)
            status, outputs = await ask(name, user, role, values)
        except _CallRefused as exc:
            status, outputs = exc.status, [str(exc)]
        if status == Code.Good:
            result.OutputArguments = [ua.Variant(v, V.String) for v in outputs]
            return result
        log.info("opcua_call_refused", method=name, user=user, role=role, why=shown(outputs[0]))
        result.StatusCode = ua.StatusCode(ua.UInt32(status))
        result.OutputArguments = [ua.Variant(outputs[0], V.String)]
        return result

    return call


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
