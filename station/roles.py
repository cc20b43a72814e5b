"""Who may do what (IEC 62443-4-2: role-based authorization, audited).

The station checks the role on every action, whoever calls it (the OPC UA
interface, the console through it, the line simulator's operator); a refusal
is journaled like a success, with the user and the reason.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"
    MAINTENANCE = "maintenance"
    VIEWER = "viewer"
    """Looks only: the plant's web view (`station plant --users`), OPC UA reads; no action."""


_EVERYONE = frozenset(Role) - {Role.VIEWER}

ACTIONS: dict[str, frozenset[Role]] = {
    "start": _EVERYONE - {Role.INSPECTOR},
    "stop": _EVERYONE,
    "hold": _EVERYONE,
    "unhold": frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    "reset": frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.MAINTENANCE}),
    "clear": frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.MAINTENANCE}),
    "abort": _EVERYONE,
    "suspend": frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    "unsuspend": frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    "acknowledge": _EVERYONE,
    "confirm": frozenset({Role.OPERATOR, Role.INSPECTOR, Role.SUPERVISOR}),
    "manual_vin": frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    "verdict": frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
    "measure": frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
    "finding": frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
    "override": frozenset({Role.SUPERVISOR}),
    "dispose": frozenset({Role.SUPERVISOR}),
    "mode": frozenset({Role.SUPERVISOR, Role.MAINTENANCE}),
    "force_output": frozenset({Role.MAINTENANCE}),
    "swap_config": frozenset({Role.SUPERVISOR, Role.MAINTENANCE}),
}
"""Action -> roles allowed. A supervisor may do what an operator may, and override."""


class NotAuthorized(Exception):
    """The user's role does not allow the action; nothing was done."""

    def __init__(self, user: str, role: str, action: str) -> None:
        allowed = ", ".join(sorted(ACTIONS.get(action, ())))
        super().__init__(f"{user} ({role}) may not {action}: needs one of {allowed}")
        self.user = user
        self.role = role
        self.action = action


def check(user: str, role: str, action: str) -> None:
    """Raise NotAuthorized unless `role` may do `action`."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    if role not in ACTIONS[action]:
        raise NotAuthorized(user, role, action)
