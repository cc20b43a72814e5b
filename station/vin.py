"""The vehicle identification number (VIN, ISO 3779): normalize, validate, check digit.

A VIN is 17 characters, digits and capital letters without I, O and Q.
Position 9 is a check digit: each character is transliterated to a number
(digits as themselves, letters by the table below), multiplied by its
position's weight, and the sum taken modulo 11; a remainder of 10 is
written X. North American VINs (first character 1-5) must carry it, so a
mismatch there is an error; elsewhere (Europe, Asia) position 9 is often a
plain letter or digit, so a mismatch is only a warning.

What a barcode reader or an operator hands us is first normalized: the
surrounding whitespace goes, letters are upper-cased, a Code 39 `*`
start/stop character is dropped, and so is a leading `I` (the import marker
some labels carry) when it makes 18 characters. Every rejection says why:
the length, each forbidden character and its position, or the check digit
expected and found.

Pure logic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

VIN_LENGTH = 17
CHECK_POSITION = 9
"""1-based position of the check digit."""
WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
TRANSLITERATION: dict[str, int] = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
"""Value of each allowed character; I, O and Q are absent: they are never used."""
NORTH_AMERICA = frozenset("12345")
"""First characters of VINs that must carry a correct check digit."""
CODE39_DELIMITER = "*"
IMPORT_PREFIX = "I"


class VinError(ValueError):
    """A VIN that cannot be accepted; the message says exactly why."""


@dataclass(frozen=True)
class Vin:
    """A valid VIN and what is worth telling about it (e.g. a check digit that does not match)."""

    value: str
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.value


def normalize(raw: str) -> str:
    """Strip whitespace, Code 39 `*` delimiters and an 18th leading `I`; upper-case."""
    text = raw.strip().upper()
    text = text.removeprefix(CODE39_DELIMITER).removesuffix(CODE39_DELIMITER).strip()
    if len(text) == VIN_LENGTH + 1 and text.startswith(IMPORT_PREFIX):
        text = text[1:]
    return text


def _character_problems(vin: str) -> list[str]:
    problems = []
    for position, char in enumerate(vin, start=1):
        if char in TRANSLITERATION:
            continue
        if char in "IOQ":
            problems.append(f"letter {char!r} at position {position} is not allowed (no I, O, Q)")
        else:
            problems.append(f"character {char!r} at position {position} is not a letter or digit")
    return problems


def check_digit(vin: str) -> str:
    """The check digit (0-9 or X) that position 9 of this 17-character VIN should carry."""
    problems = _character_problems(vin)
    if len(vin) != VIN_LENGTH:
        problems.insert(0, f"has {len(vin)} characters, expected {VIN_LENGTH}")
    if problems:
        raise VinError(f"VIN {vin!r}: " + "; ".join(problems))
    total = sum(TRANSLITERATION[char] * weight for char, weight in zip(vin, WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def parse_vin(raw: str) -> Vin:
    """Normalize and validate a VIN; raise VinError saying why it is refused."""
    vin = normalize(raw)
    if not vin:
        raise VinError(f"VIN is empty (read {raw!r})")
    expected = check_digit(vin)
    found = vin[CHECK_POSITION - 1]
    if found == expected:
        return Vin(vin)
    mismatch = f"check digit at position {CHECK_POSITION} is {found!r}, expected {expected!r}"
    if vin[0] in NORTH_AMERICA:
        raise VinError(f"VIN {vin!r}: {mismatch} (mandatory for North American VINs)")
    return Vin(vin, (f"{mismatch} (optional outside North America)",))
