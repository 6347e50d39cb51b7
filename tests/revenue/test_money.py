"""Money arithmetic (DESIGN.md §4): the one half-up rounding point, and the largest-remainder
split whose parts always add up to the whole, ties going to the payee listed first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revenue.money import round_half_up, split_largest_remainder


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("2.5", 3),
        ("2.4999", 2),
        ("0.5", 1),
        ("0.4999999999", 0),
        ("-2.5", -3),  # a half goes away from zero, so a credit mirrors its charge
        ("-2.4999", -2),
        ("-0.5", -1),
        ("280000.00", 280000),
        ("1234.5", 1235),
        ("0", 0),
        # a bigint amount with a half: beyond the default 28-digit context, still exact
        ("4611686018427387903.5", 4611686018427387904),
    ],
)
def test_round_half_up(amount, expected):
    # given a precise amount of minor units
    # when rounded
    rounded = round_half_up(Decimal(amount))
    # then it is the nearest whole unit, a half going away from zero, as an int
    assert rounded == expected
    assert type(rounded) is int


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_round_half_up_refuses_what_is_not_an_amount(amount):
    # given a non-finite Decimal; when rounded; then ValueError
    with pytest.raises(ValueError, match="cannot round"):
        round_half_up(amount)


def test_round_half_up_refuses_a_float():
    # given a float, which has already lost the exact value; when rounded; then TypeError
    with pytest.raises(TypeError, match="takes a Decimal"):
        round_half_up(2.5)  # type: ignore[arg-type]


def shares(*values: str) -> list[tuple[str, Decimal]]:
    return [(f"p{index}", Decimal(value)) for index, value in enumerate(values, start=1)]


@pytest.mark.parametrize(
    ("total", "split", "expected"),
    [
        # a tie: both remainders are 0.5, the single leftover unit goes to the first listed
        (1, ("0.5", "0.5"), [1, 0]),
        (3, ("0.5", "0.5"), [2, 1]),
        # 33.33 / 33.33 / 33.34 → floors 33, 33, 33; the leftover unit to the largest, .34
        (100, ("0.3333", "0.3333", "0.3334"), [33, 33, 34]),
        # 0.6666 / 0.6666 / 0.6668 → two leftover units: .6668 first, then the tie → p1
        (2, ("0.3333", "0.3333", "0.3334"), [1, 0, 1]),
        # four-way tie with three leftover units: the first three listed get one each
        (3, ("0.25", "0.25", "0.25", "0.25"), [1, 1, 1, 0]),
        # 0.70 / 0.30 of an odd total: 700.7 and 300.3 → the leftover to the .7
        (1001, ("0.70", "0.30"), [701, 300]),
        # the largest remainder wins even when listed last
        (10, ("0.61", "0.39"), [6, 4]),
        (0, ("0.70", "0.30"), [0, 0]),
        (12345, ("1",), [12345]),
        # 6.3 and 0.7: the leftover unit goes to the smaller share, whose remainder is larger
        (7, ("0.9", "0.1"), [6, 1]),
    ],
)
def test_split_largest_remainder(total, split, expected):
    # given a total and shares summing to 1
    # when split
    parts = split_largest_remainder(total=total, shares=shares(*split))
    # then each payee gets its part, in listed order, and the parts sum to the total
    assert parts == [(f"p{index}", part) for index, part in enumerate(expected, start=1)]
    assert sum(part for _, part in parts) == total


def test_split_of_a_bigint_total_is_exact():
    # given a total beyond the default 28-digit Decimal context and a 12-place share
    total = 2**62 - 1
    split = shares("0.123456789012", "0.876543210988")
    # when split
    parts = split_largest_remainder(total=total, shares=split)
    # then the floors come from the exact products and the parts still sum to the total
    assert parts == [("p1", 569343947766580372), ("p2", 4042342070660807531)]
    assert sum(part for _, part in parts) == total


@pytest.mark.parametrize(
    ("total", "split", "message"),
    [
        (-1, ("0.5", "0.5"), "negative total"),
        (100, ("0.5", "0.49"), "sum to exactly 1; they sum to 0.99"),
        (100, ("0.5", "0.51"), "sum to exactly 1; they sum to 1.01"),
        (100, ("1.5", "-0.5"), "non-negative Decimal"),
        (100, (), "no payees"),
    ],
)
def test_split_refuses_bad_input(total, split, message):
    # given a negative total, shares not summing to 1, a negative share, or no payees
    # when split; then ValueError naming the problem
    with pytest.raises(ValueError, match=message):
        split_largest_remainder(total=total, shares=shares(*split))


def test_split_refuses_a_non_integer_total():
    # given a Decimal total, which is not a whole number of minor units by type
    # when split; then TypeError
    with pytest.raises(TypeError, match="must be an int"):
        split_largest_remainder(total=Decimal(100), shares=shares("1"))  # type: ignore[arg-type]
