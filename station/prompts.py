"""Questions the cycle asks a person: manual VIN, checklist items, a verdict, a
measured value, a finding (a code of the catalogue), a route attribute found on the
way (yes or no), a step confirmation in manual mode, a disposition for a held vehicle.

The cycle awaits `ask()`; the answer comes from the console or SCADA through
the station's commands (or from the simulated operator of a scenario). One
prompt is open at a time, so the console always knows what it is asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from station.status import PromptStatus

PromptKind = Literal[
    "manual_vin",
    "checklist",
    "verdict",
    "measurement",
    "finding",
    "attribute",
    "confirm_step",
    "disposition",
]

Check = Callable[[str], "str | None"]
"""Why an answer cannot be taken (None: it can), e.g. a typed value outside the
quantity's physical range: refused, and the prompt stays open."""


@dataclass(frozen=True)
class Answer:
    """What the person answered, and who."""

    value: str
    user: str
    role: str


@dataclass
class Prompt:
    """An open question."""

    kind: PromptKind
    text: str
    roles: frozenset[str]
    options: tuple[str, ...] = ()
    item: int = 0
    name: str = ""
    """What is asked for, when it has a name (a measured quantity, a route attribute)."""
    check: Check | None = None
    future: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def to_dict(self) -> PromptStatus:
        return {
            "kind": self.kind,
            "text": self.text,
            "options": list(self.options),
            "item": self.item,
            "name": self.name,
            "quantity": None,  # filled in by the snapshot (`station.readings.asked`)
            "catalogue": [],
        }


class WrongPrompt(Exception):
    """An answer that does not fit the open prompt (or no prompt is open)."""


class Prompts:
    """The single open prompt, with a callback for each change (status publishing)."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.current: Prompt | None = None
        self._waiters: list[asyncio.Event] = []
        self._on_change = on_change

    async def ask(
        self,
        kind: PromptKind,
        text: str,
        roles: frozenset[str],
        options: tuple[str, ...] = (),
        item: int = 0,
        timeout: float | None = None,
        *,
        name: str = "",
        check: Check | None = None,
    ) -> Answer:
        """Open a prompt and wait for its answer (TimeoutError after `timeout`); an
        answer `check` refuses leaves it open."""
        prompt = Prompt(kind, text, roles, options, item, name, check)
        self.current = prompt
        self._notify()
        try:
            async with asyncio.timeout(timeout):
                return await prompt.future
        finally:
            if self.current is prompt:
                self.current = None
                self._notify()

    def answer(self, kind: PromptKind, value: str, user: str, role: str) -> Prompt:
        """Answer the open prompt; WrongPrompt when it is not of that kind or value."""
        prompt = self.current
        if prompt is None or prompt.future.done():
            raise WrongPrompt(f"nothing to answer: no {kind} is asked")
        if prompt.kind != kind:
            raise WrongPrompt(f"the station asks for {prompt.kind}, not {kind}")
        if prompt.options and value not in prompt.options:
            raise WrongPrompt(f"answer must be one of {', '.join(prompt.options)} (got {value!r})")
        if prompt.check is not None and (why := prompt.check(value)) is not None:
            raise WrongPrompt(why)
        prompt.future.set_result(Answer(value, user, role))
        return prompt

    async def wait_for(self, kind: PromptKind, timeout: float | None = None) -> Prompt:
        """Wait until a prompt of `kind` is open (used by the simulated operator and tests)."""
        async with asyncio.timeout(timeout):
            while self.current is None or self.current.kind != kind or self.current.future.done():
                event = asyncio.Event()
                self._waiters.append(event)
                await event.wait()
        return self.current

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()
        if self._on_change is not None:
            self._on_change()
