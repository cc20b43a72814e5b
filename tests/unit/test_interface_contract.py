"""The names both processes of the OPC UA interface share (`station.interface`): the
station's process answers calls and types its variables with numbers of its own, so
that it never loads asyncua; they are OPC UA's, as asyncua has them."""

from __future__ import annotations

from asyncua import ua
from asyncua.ua.status_codes import StatusCodes

from station.interface import Code, V


def test_variable_types_are_opc_ua_built_in_types() -> None:
    for kind in V:
        assert ua.VariantType[kind.name].value == kind.value


def test_status_codes_are_asyncua_s() -> None:
    codes = {name: value for name, value in vars(Code).items() if not name.startswith("_")}
    assert codes["Good"] == 0
    for name, value in codes.items():
        if name != "Good":
            assert getattr(StatusCodes, name) == value, name
