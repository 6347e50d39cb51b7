"""Property tests for contract terms: splits that sum to exactly 1 and ascending tiers are
accepted as written; a split sum off by 0.01 or tiers out of order are refused, under the
exact path."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.terms import terms_validate
from core.errors import ValidationFailed
from tests.support.world import design_terms

CENT = Decimal("0.01")


def _format(units_of_ten_thousandth: int, places: int) -> str:
    """e.g. (7000, 2) → "0.70"; (10000, 3) → "1.000"."""
    value = Decimal(units_of_ten_thousandth).scaleb(-4).quantize(Decimal(1).scaleb(-places))
    assert value == Decimal(units_of_ten_thousandth).scaleb(-4)
    return f"{value:f}"


def _min_places(units: int) -> int:
    return 2 if units % 100 == 0 else 3 if units % 10 == 0 else 4


@st.composite
def exact_splits(draw: st.DrawFn) -> list[dict[str, str]]:
    """1–5 splits with positive shares of 2–4 decimal places summing to exactly 1."""
    count = draw(st.integers(min_value=1, max_value=5))
    remaining = 10_000  # in units of 0.0001
    shares: list[str] = []
    for index in range(count - 1):
        places = draw(st.integers(min_value=2, max_value=4))
        unit = 10 ** (4 - places)
        after = count - 1 - index  # shares still to come, each at least 0.01
        units = unit * draw(st.integers(min_value=1, max_value=(remaining - after * 100) // unit))
        shares.append(_format(units, places))
        remaining -= units
    shares.append(_format(remaining, draw(st.integers(min_value=_min_places(remaining), max_value=4))))
    payees = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), min_size=count, max_size=count, unique=True)
    )
    return [{"payee": payee, "share": share} for payee, share in zip(payees, shares, strict=True)]


@given(splits=exact_splits())
def test_splits_summing_to_one_are_accepted_unchanged(splits):
    # given 1–5 splits whose decimal shares sum to exactly 1
    assert sum(Decimal(split["share"]) for split in splits) == 1
    terms = design_terms(splits=splits)
    # when validated (every payee known)
    canonical = terms_validate(terms, known_payees=[split["payee"] for split in splits], required_currency="JPY")
    # then they round-trip exactly, share strings included
    assert canonical["splits"] == splits
    assert canonical == terms


@given(splits=exact_splits(), data=st.data())
def test_splits_off_by_a_cent_are_refused(splits, data):
    # given valid splits with one share moved by ±0.01 (staying within (0, 1])
    index = data.draw(st.integers(min_value=0, max_value=len(splits) - 1))
    delta = data.draw(st.sampled_from([CENT, -CENT]))
    share = Decimal(splits[index]["share"])
    if not 0 < share + delta <= 1:
        delta = -delta
    splits[index]["share"] = f"{share + delta:f}"
    total = Decimal(0)
    for split in splits:
        total += Decimal(split["share"])
    # when validated
    try:
        terms_validate(
            design_terms(splits=splits), known_payees=[split["payee"] for split in splits], required_currency="JPY"
        )
    except ValidationFailed as error:
        fields = error.fields
    else:
        raise AssertionError(f"splits summing to {total} were accepted")
    # then only the sum is refused, under "splits"
    assert total in (Decimal("0.99"), Decimal("1.01"))
    assert fields == {"splits": [f"shares must sum to exactly 1; they sum to {total}."]}


rates = st.integers(min_value=1, max_value=12).flatmap(
    lambda places: st.integers(min_value=0, max_value=10**places).map(lambda n: f"{Decimal(n).scaleb(-places):f}")
)
bounds = st.lists(st.integers(min_value=1, max_value=2**62), unique=True, max_size=6)


@given(model=st.sampled_from(["graduated", "volume"]), upper=bounds.map(sorted), data=st.data())
def test_ascending_tiers_ending_open_are_accepted_unchanged(model, upper, data):
    # given ascending tier bounds with decimal-string rates, the last tier open
    tiers = [{"up_to": up_to, "rate": data.draw(rates)} for up_to in [*upper, None]]
    terms = design_terms(share={"model": model, "tiers": tiers})
    # when validated
    canonical = terms_validate(terms, known_payees=["platform", "studio-aoi"], required_currency="JPY")
    # then the share comes back exactly as written
    assert canonical["share"] == {"model": model, "tiers": tiers}
    assert canonical == terms


@given(
    model=st.sampled_from(["graduated", "volume"]),
    shuffled=bounds.filter(lambda values: len(values) >= 2).flatmap(st.permutations),
    data=st.data(),
)
def test_tiers_out_of_order_are_refused(model, shuffled, data):
    # given bounded tiers in an order that is not ascending, then the open tier
    assume(shuffled != sorted(shuffled))
    tiers = [{"up_to": up_to, "rate": data.draw(rates)} for up_to in [*shuffled, None]]
    # when validated
    try:
        terms_validate(
            design_terms(share={"model": model, "tiers": tiers}),
            known_payees=["platform", "studio-aoi"],
            required_currency="JPY",
        )
    except ValidationFailed as error:
        fields = error.fields
    else:
        raise AssertionError(f"tiers {shuffled} were accepted")
    # then each tier that does not rise above the one before is named
    assert fields == {
        f"share.tiers[{index}].up_to": [
            f"tiers must ascend: {shuffled[index]} is not above the previous bound {shuffled[index - 1]}."
        ]
        for index in range(1, len(shuffled))
        if shuffled[index] < shuffled[index - 1]
    }
