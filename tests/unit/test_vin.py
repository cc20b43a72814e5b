"""VINs as barcode readers and operators hand them over: normalized, validated, each
rejection saying why. Real published VINs, North American ones with correct and
wrong check digits, European ones without a check digit, and Code 39 variants."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from route_strategies import vins

from station.vin import TRANSLITERATION, Vin, VinError, check_digit, normalize, parse_vin

PUBLISHED_VALID = [
    "1M8GDM9AXKP042788",  # the classic example; remainder 10, written X
    "1HGCM82633A004352",  # Honda Accord (US)
    "1G1BL52P7TR115520",  # Chevrolet (US)
    "1VWBH7A30DC104945",  # Volkswagen Passat built in the US
    "11111111111111111",  # all ones: check digit 1
    "JH4KA7561PC008269",  # Acura (Japan), carries a correct check digit
    "LJCPCBLCX11000237",  # China, carries a correct check digit X
]


@pytest.mark.parametrize("vin", PUBLISHED_VALID)
def test_published_vins_are_valid_without_warnings(vin: str) -> None:
    assert parse_vin(vin) == Vin(vin)
    assert check_digit(vin) == vin[8]


@pytest.mark.parametrize(
    ("vin", "found", "expected"),
    [
        ("1M8GDM9A0KP042788", "0", "X"),
        ("1HGCM82643A004352", "4", "3"),
        ("1G1BL52PXTR115520", "X", "7"),
        ("2G1BL52P7TR115520", "7", "4"),
    ],
)
def test_north_american_vin_with_a_wrong_check_digit_is_rejected(
    vin: str, found: str, expected: str
) -> None:
    with pytest.raises(VinError) as caught:
        parse_vin(vin)
    assert str(caught.value) == (
        f"VIN {vin!r}: check digit at position 9 is {found!r}, expected {expected!r} "
        "(mandatory for North American VINs)"
    )


@pytest.mark.parametrize(
    ("vin", "expected"),
    [
        ("WVWZZZ1JZXW000001", "0"),  # Volkswagen Golf IV: position 9 is a filler Z
        ("VF1RFB00X66123456", "1"),  # Renault (France)
        ("WBAEV53443KM18682", "2"),  # BMW (Germany)
    ],
)
def test_european_vin_without_a_check_digit_is_accepted_with_a_warning(
    vin: str, expected: str
) -> None:
    parsed = parse_vin(vin)
    assert parsed.value == vin
    assert parsed.warnings == (
        f"check digit at position 9 is {vin[8]!r}, expected {expected!r} "
        "(optional outside North America)",
    )


@pytest.mark.parametrize(
    "raw",
    [
        "*1M8GDM9AXKP042788*",  # Code 39 start/stop characters transmitted
        "*1M8GDM9AXKP042788",
        "I1M8GDM9AXKP042788",  # leading import I: 18 characters
        "*I1M8GDM9AXKP042788*",
        "  1m8gdm9axkp042788\r\n",  # typed by hand, line ending left on
    ],
)
def test_code39_and_typed_variants_normalize_to_the_vin(raw: str) -> None:
    assert normalize(raw) == "1M8GDM9AXKP042788"
    assert parse_vin(raw).value == "1M8GDM9AXKP042788"


def test_a_leading_i_that_does_not_make_18_characters_is_kept_and_refused() -> None:
    assert normalize("I1M8GDM9AXKP04278") == "I1M8GDM9AXKP04278"
    with pytest.raises(VinError, match="letter 'I' at position 1 is not allowed"):
        parse_vin("I1M8GDM9AXKP04278")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "VIN is empty (read '')"),
        ("**", "VIN is empty (read '**')"),
        ("1M8GDM9AXKP04278", "VIN '1M8GDM9AXKP04278': has 16 characters, expected 17"),
        ("1M8GDM9AXKP0427888", "VIN '1M8GDM9AXKP0427888': has 18 characters, expected 17"),
        (
            "1M8GDM9AXKPO42788",
            "VIN '1M8GDM9AXKPO42788': letter 'O' at position 12 is not allowed (no I, O, Q)",
        ),
        (
            "QM8GDM9AXKP04278I",
            "VIN 'QM8GDM9AXKP04278I': letter 'Q' at position 1 is not allowed (no I, O, Q); "
            "letter 'I' at position 17 is not allowed (no I, O, Q)",
        ),
        (
            "1M8GDM9AXKP-42788",
            "VIN '1M8GDM9AXKP-42788': character '-' at position 12 is not a letter or digit",
        ),
        (
            "1M8GDM9AXKO4278",
            "VIN '1M8GDM9AXKO4278': has 15 characters, expected 17; "
            "letter 'O' at position 11 is not allowed (no I, O, Q)",
        ),
    ],
)
def test_each_rejection_says_why(raw: str, message: str) -> None:
    with pytest.raises(VinError) as caught:
        parse_vin(raw)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_check_digit_refuses_what_is_not_a_vin() -> None:
    with pytest.raises(VinError, match="has 3 characters, expected 17"):
        check_digit("ABC")


@settings(max_examples=200, deadline=None)
@given(vins(), st.integers(1, 16), st.sampled_from(sorted(TRANSLITERATION)))
def test_a_changed_character_of_another_value_is_caught_in_a_north_american_vin(
    vin: str, position: int, replacement: str
) -> None:
    """Weights 2..10 and values 0..9 differ by less than 11, the modulus: a character
    of another value anywhere changes the check digit; at position 9 any other
    character is itself a wrong check digit."""
    north_american = "1" + vin[1:8] + "0" + vin[9:]
    north_american = north_american[:8] + check_digit(north_american) + north_american[9:]
    changed = north_american[:position] + replacement + north_american[position + 1 :]
    original = north_american[position]
    assume(replacement != original)
    assume(position == 8 or TRANSLITERATION[replacement] != TRANSLITERATION[original])
    with pytest.raises(VinError, match="check digit at position 9"):
        parse_vin(changed)
