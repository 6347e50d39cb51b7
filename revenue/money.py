"""Money arithmetic for rating and settlement (DESIGN.md §4).

Amounts are integers of the currency's minor unit; rating works in `Decimal` and turns a
precise amount into minor units in exactly one place, `round_half_up`. Nothing here needs
the currency's exponent: a yen and a cent are both "one unit".
"""

from __future__ import annotations

from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

# Sums and products of bigint amounts and rates with a dozen decimal places need about 35
# significant digits, more than the default context's 28. A wide context with Inexact
# trapped means such arithmetic is exact or fails loudly; it never rounds on the quiet.
EXACT_CONTEXT = Context(prec=120, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])


def round_half_up(amount: Decimal) -> int:
    """Round a precise amount of minor units to a whole number of them, half-up.

    Half-up is Decimal's ROUND_HALF_UP: a half goes away from zero, so 2.5 → 3 and
    -2.5 → -3. Being symmetric, a credit is rounded exactly like the charge it mirrors.
    """
    if not isinstance(amount, Decimal):
        # A float has already lost the exact value; an int needs no rounding.
        raise TypeError(f"round_half_up takes a Decimal; got {type(amount).__name__}.")
    if not amount.is_finite():
        raise ValueError(f"cannot round {amount} to minor units.")
    # to_integral_value ignores the context's precision, so bigint amounts round exactly.
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def split_largest_remainder(*, total: int, shares: list[tuple[str, Decimal]]) -> list[tuple[str, int]]:
    """Split `total` units among payees by `shares` (summing to 1), largest remainder.

    Each payee gets floor(total × share); the units left over go one each to the largest
    fractional remainders, a tie going to the payee listed first (§5a). The parts add up
    to `total` exactly and keep the order of `shares`.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise TypeError(f"total must be an int of minor units; got {type(total).__name__}.")
    if total < 0:
        # A negative period is carried forward as a credit, never split (§4).
        raise ValueError(f"cannot split a negative total ({total}).")
    if not shares:
        raise ValueError("cannot split among no payees.")
    for payee, share in shares:
        if not isinstance(share, Decimal) or not share.is_finite() or share < 0:
            raise ValueError(f"share of {payee!r} must be a non-negative Decimal; got {share!r}.")
    with localcontext(EXACT_CONTEXT):
        share_sum = sum((share for _, share in shares), Decimal(0))
        if share_sum != 1:
            raise ValueError(f"shares must sum to exactly 1; they sum to {share_sum}.")
        exact = [total * share for _, share in shares]
        floors = [int(amount.to_integral_value(rounding=ROUND_FLOOR)) for amount in exact]
        remainders = [amount - floor for amount, floor in zip(exact, floors, strict=True)]
    # Shares summing to 1 make the leftover a whole number smaller than the payee count.
    leftover = total - sum(floors)
    # sorted() stays stable with reverse=True, keeping equal remainders in listed order:
    # a tie goes to the payee listed first.
    by_remainder = sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [(payee, part) for (payee, _), part in zip(shares, floors, strict=True)]
