"""A measured quantity against its limits: pure functions, no I/O.

A quantity of a `measure` step (`station.config.models.Quantity`) has a unit, a
number of decimals, limits (low and/or high, each inclusive or not) and a physical
range (what the quantity can be at all: SoH 0..100 %). Here:

- `rounded`: the value as it is shown and judged, at the quantity's decimals (half
  away from zero, on the decimal text: 69.95 with 1 decimal is 70.0, not 69.9 as
  binary floating point would give);
- `physical_problem`: why a value cannot be a reading of this quantity (outside the
  physical range, not a finite number): a typed value is refused, a device's value
  holds the vehicle (the device is wrong, not the vehicle);
- `within`: whether a (rounded) value is within the limits; `missed`: how a value out
  of them misses them ('64.0 % < 70.0 %'), and `shown`: a value as people read it, with
  FAIL and the limit it misses (the console, `station journal show`);
- `parse_typed`: a value typed by an inspector, as a number, or why it is refused;
- `nominal`: a value inside the limits (what the simulated world measures when the
  scenario says nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol


class Bounded(Protocol):
    """A quantity's limits: what judging and showing a value reads of it."""

    @property
    def unit(self) -> str: ...
    @property
    def decimals(self) -> int: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def low_inclusive(self) -> bool: ...
    @property
    def high_inclusive(self) -> bool: ...


class Limited(Bounded, Protocol):
    """What the functions here read of a quantity (`station.config.models.Quantity`)."""

    @property
    def physical_min(self) -> float: ...
    @property
    def physical_max(self) -> float: ...


def rounded(value: float, decimals: int) -> float:
    """`value` at `decimals` decimals, half away from zero on its decimal text."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Bounds:
    """The limits a value was judged against, as journaled with it (a `measured` event's
    value: `station.events.MeasuredValue`)."""

    unit: str
    decimals: int
    low: float | None
    low_inclusive: bool
    high: float | None
    high_inclusive: bool

    @classmethod
    def of(cls, judged: Mapping[str, Any]) -> Bounds:
        return cls(
            unit=str(judged.get("unit", "")),
            decimals=int(judged.get("decimals", 0)),
            low=judged.get("low"),
            low_inclusive=bool(judged.get("low_inclusive", True)),
            high=judged.get("high"),
            high_inclusive=bool(judged.get("high_inclusive", True)),
        )


def within(value: float, quantity: Bounded) -> bool:
    """Whether `value` (rounded first) is within the quantity's limits."""
    return missed(value, quantity) is None


def missed(value: float, quantity: Bounded) -> str | None:
    """How `value` (rounded first) misses the limits, e.g. '64.0 % < 70.0 %' for a low
    limit of >= 70.0 % (None: within them)."""
    places = quantity.decimals
    value = rounded(value, places)
    low, high = quantity.low, quantity.high
    if low is not None and (value < low or (value == low and not quantity.low_inclusive)):
        return _compared(value, "<" if quantity.low_inclusive else "<=", low, quantity)
    if high is not None and (value > high or (value == high and not quantity.high_inclusive)):
        return _compared(value, ">" if quantity.high_inclusive else ">=", high, quantity)
    return None


def shown(value: float, quantity: Bounded) -> str:
    """A judged value as people read it: '81.5 %', or 'FAIL: 64.0 % < 70.0 %'."""
    miss = missed(value, quantity)
    if miss is not None:
        return f"FAIL: {miss}"
    return _with_unit(f"{rounded(value, quantity.decimals):.{quantity.decimals}f}", quantity)


def _compared(value: float, sign: str, limit: float, quantity: Bounded) -> str:
    places = quantity.decimals
    return (
        f"{_with_unit(f'{value:.{places}f}', quantity)} {sign} "
        f"{_with_unit(f'{limit:.{places}f}', quantity)}"
    )


def _with_unit(number: str, quantity: Bounded) -> str:
    return f"{number} {quantity.unit}" if quantity.unit else number


def physical_problem(value: float, quantity: Limited) -> str | None:
    """Why `value` cannot be a reading of the quantity (None: it can)."""
    if not math.isfinite(value):
        return f"{value} is not a number"
    low, high, unit = quantity.physical_min, quantity.physical_max, quantity.unit
    if not low <= value <= high:
        return f"{value:g} {unit} is outside the physical range {low:g}..{high:g} {unit}"
    return None


def parse_typed(text: str, quantity: Limited) -> tuple[float, None] | tuple[None, str]:
    """A typed value as a number rounded to the quantity's decimals, or why it is refused."""
    cleaned = text.strip().replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None, f"{text!r} is not a number"
    if not number.is_finite():
        return None, f"{text!r} is not a number"
    value = float(number)
    problem = physical_problem(value, quantity)
    if problem is not None:
        return None, problem
    return rounded(value, quantity.decimals), None


def describe(quantity: Bounded) -> str:
    """The limits as an inspector reads them, e.g. '>= 70.0 %' or '> 0 and <= 50 mV'."""
    parts, places = [], quantity.decimals
    if quantity.low is not None:
        parts.append(f"{'>=' if quantity.low_inclusive else '>'} {quantity.low:.{places}f}")
    if quantity.high is not None:
        parts.append(f"{'<=' if quantity.high_inclusive else '<'} {quantity.high:.{places}f}")
    return (" and ".join(parts) or "no limits") + (f" {quantity.unit}" if quantity.unit else "")


def nominal(quantity: Limited) -> float:
    """A value well inside the limits and the physical range (the simulated good part)."""
    low = quantity.low if quantity.low is not None else quantity.physical_min
    high = quantity.high if quantity.high is not None else quantity.physical_max
    if quantity.high is None and math.isfinite(low):
        # only a low limit: a bit above it, not at the end of a wide physical range
        high = min(quantity.physical_max, low + max(abs(low) * 0.25, 1.0))
    if quantity.low is None and math.isfinite(high):
        low = max(quantity.physical_min, high - max(abs(high) * 0.5, 1.0))
    return rounded((low + high) / 2, quantity.decimals)
