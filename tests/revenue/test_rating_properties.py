"""Property tests for rating (DESIGN.md §4, §5a) over random valid terms and nets: signs and
credit, monotone shares (and exactly where volume shares may drop), exact splits, one
rounding with lines that add up, the minimum and the cap, graduated bounds."""

from __future__ import annotations

from decimal import Decimal, localcontext
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from revenue.money import EXACT_CONTEXT, round_half_up, split_largest_remainder
from revenue.rating import rate_period, share_model_for

PROPERTIES = settings(max_examples=200, deadline=None)
MAX_BOUND = 10**9

# Rates in [0, 1] as decimal strings of up to four places, as the terms hold them.
rates = st.integers(min_value=0, max_value=4).flatmap(
    lambda places: st.integers(min_value=0, max_value=10**places).map(lambda n: f"{Decimal(n).scaleb(-places):f}")
)


@st.composite
def tiers(draw: st.DrawFn, *, ascending_rates: bool = False) -> list[dict[str, Any]]:
    """1–5 tiers with ascending bounds, the last open; rates optionally non-decreasing."""
    bounds = sorted(draw(st.lists(st.integers(min_value=1, max_value=MAX_BOUND), unique=True, max_size=4)))
    tier_rates = draw(st.lists(rates, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    if ascending_rates:
        tier_rates.sort(key=Decimal)
    return [{"up_to": up_to, "rate": rate} for up_to, rate in zip([*bounds, None], tier_rates, strict=True)]


def share_terms(*models: str) -> st.SearchStrategy[dict[str, Any]]:
    """Canonical `share` terms of the given models (all three when none is named)."""
    strategies = {
        "flat": rates.map(lambda rate: {"model": "flat", "rate": rate}),
        "graduated": tiers().map(lambda ts: {"model": "graduated", "tiers": ts}),
        "volume": tiers().map(lambda ts: {"model": "volume", "tiers": ts}),
    }
    return st.one_of(*(strategies[model] for model in models or strategies))


@st.composite
def splits(draw: st.DrawFn) -> list[dict[str, str]]:
    """1–4 payees whose positive shares of up to four places sum to exactly 1."""
    count = draw(st.integers(min_value=1, max_value=4))
    cuts = sorted(
        draw(st.lists(st.integers(min_value=1, max_value=9_999), unique=True, min_size=count - 1, max_size=count - 1))
    )
    units = [upper - lower for lower, upper in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    return [{"payee": f"payee-{index}", "share": f"{Decimal(unit).scaleb(-4):f}"} for index, unit in enumerate(units)]


@st.composite
def terms(draw: st.DrawFn, *, share: st.SearchStrategy[dict[str, Any]] | None = None) -> dict[str, Any]:
    minimum = draw(st.none() | st.integers(min_value=0, max_value=10**8))
    cap = draw(st.none() | st.integers(min_value=minimum or 0, max_value=2 * 10**8))
    fees = draw(
        st.dictionaries(st.sampled_from(["resolution", "delivered_work"]), st.integers(min_value=0, max_value=100_000))
    )
    return {
        "currency": draw(st.sampled_from(["JPY", "USD"])),
        "period": "monthly",
        "share": draw(share if share is not None else share_terms()),
        "outcome_fees": fees,
        "minimum_per_period": minimum,
        "cap_per_period": cap,
        "splits": draw(splits()),
    }


def nets_for(share: dict[str, Any]) -> st.SearchStrategy[int]:
    """Any net, negative included, with extra weight on tier bounds and their neighbours."""
    anywhere = st.integers(min_value=-(10**9), max_value=10 * MAX_BOUND)
    bounds = [tier["up_to"] for tier in share.get("tiers", []) if tier["up_to"] is not None]
    if not bounds:
        return anywhere
    near_bound = st.tuples(st.sampled_from(bounds), st.integers(min_value=-1, max_value=1)).map(sum)
    return st.one_of(anywhere, near_bound)


@st.composite
def periods(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for rate_period: terms, a net, outcomes, refunds, carried credit."""
    period_terms = draw(terms())
    refund_rates = rates.map(Decimal) | st.tuples(
        st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**7)
    ).map(lambda pair: Decimal(pair[0]) / Decimal(pair[1]) if pair[0] <= pair[1] else Decimal(1))
    return {
        "terms": period_terms,
        "net": draw(nets_for(period_terms["share"])),
        "outcomes": draw(
            st.dictionaries(
                st.sampled_from(["resolution", "delivered_work", "lead_qualified"]),
                st.integers(min_value=0, max_value=1_000),
            )
        ),
        "clawback_refunds": draw(
            st.lists(st.tuples(st.integers(min_value=0, max_value=10**7), refund_rates), max_size=4)
        ),
        "carried_credit": draw(st.integers(min_value=0, max_value=10**7) | st.just(0)),
    }


def tier_rates(share: dict[str, Any]) -> list[Decimal]:
    return [Decimal(share["rate"])] if share["model"] == "flat" else [Decimal(tier["rate"]) for tier in share["tiers"]]


# --- (1) signs: payable, credit, wage ---------------------------------------------------------


@PROPERTIES
@given(period=periods())
def test_payable_and_credit_are_never_negative_and_never_both_positive(period):
    # given any valid terms, net, outcomes, refunds and carried credit
    # when the period is rated
    rating = rate_period(**period)
    # then total = wage − clawback − carried credit, and it is either payable or carried forward
    assert rating.total == rating.wage - rating.clawback - rating.carried_credit
    assert rating.payable >= 0
    assert rating.credit_carried_forward >= 0
    assert not (rating.payable > 0 and rating.credit_carried_forward > 0)
    assert rating.payable - rating.credit_carried_forward == rating.total
    # and the wage is negative only where §5a lets it be: a negative net (given back at the
    # first tier's rate) with no minimum to raise it
    if period["net"] >= 0 or period["terms"]["minimum_per_period"] is not None:
        assert rating.wage >= 0
    if rating.wage < 0:
        assert period["net"] < 0 and period["terms"]["minimum_per_period"] is None


# --- (2) monotone shares ------------------------------------------------------------------------


@PROPERTIES
@given(share=share_terms("flat", "graduated"), data=st.data())
def test_flat_and_graduated_shares_never_fall_as_net_rises(share, data):
    # given a flat or graduated share and two nets, negative ones included
    low, high = sorted(data.draw(st.lists(nets_for(share), min_size=2, max_size=2)))
    model = share_model_for(share)
    # when both are rated; then the larger net earns at least as much
    assert model.share(Decimal(low)) <= model.share(Decimal(high))


@PROPERTIES
@given(ts=tiers(ascending_rates=True), data=st.data())
def test_volume_share_never_falls_when_rates_do_not_fall(ts, data):
    # given volume tiers whose rates never decrease, and two nets
    share = {"model": "volume", "tiers": ts}
    low, high = sorted(data.draw(st.lists(nets_for(share), min_size=2, max_size=2)))
    model = share_model_for(share)
    # when both are rated; then the larger net earns at least as much
    assert model.share(Decimal(low)) <= model.share(Decimal(high))


def volume_rate_of(ts: list[dict[str, Any]], net: int) -> Decimal:
    """The rate of the first tier whose bound is at or above the net (the open tier last)."""
    if net < 0:
        return Decimal(ts[0]["rate"])
    return next(Decimal(t["rate"]) for t in ts if t["up_to"] is None or net <= t["up_to"])


@PROPERTIES
@given(ts=tiers(), data=st.data())
def test_volume_share_drops_only_where_the_rate_drops(ts, data):
    # given volume tiers with any rates (a later tier may be cheaper) and two nets
    share = {"model": "volume", "tiers": ts}
    low, high = sorted(data.draw(st.lists(nets_for(share), min_size=2, max_size=2)))
    model = share_model_for(share)
    # when both are rated
    low_share, high_share = model.share(Decimal(low)), model.share(Decimal(high))
    # then each is its whole net at the rate of the tier it reaches
    assert low_share == low * volume_rate_of(ts, low)
    assert high_share == high * volume_rate_of(ts, high)
    # and the larger net earns less only if it reached a tier with a lower rate: a volume
    # share is monotone within a tier and can fall only across a bound into a cheaper tier
    if high_share < low_share:
        assert high > low >= 0
        assert volume_rate_of(ts, high) < volume_rate_of(ts, low)


@PROPERTIES
@given(ts=tiers())
def test_volume_share_on_and_just_above_each_bound(ts):
    # given volume tiers with any rates
    model = share_model_for({"model": "volume", "tiers": ts})
    for tier, following in pairwise(ts):
        bound = tier["up_to"]
        # when a net lands exactly on a bound, and one unit above it
        # then the bound belongs to its own tier, the next unit to the following tier
        assert model.share(Decimal(bound)) == bound * Decimal(tier["rate"])
        assert model.share(Decimal(bound + 1)) == (bound + 1) * Decimal(following["rate"])


# --- (3) splits ---------------------------------------------------------------------------------


@PROPERTIES
@given(period=periods())
def test_splits_add_up_to_payable_each_within_a_unit_of_its_share(period):
    # given any period; when rated
    rating = rate_period(**period)
    shares = [(split["payee"], Decimal(split["share"])) for split in period["terms"]["splits"]]
    if rating.total < 0:
        # then a negative period is not split at all
        assert rating.splits == ()
        return
    # then the parts sum exactly to what is payable, in the terms' payee order
    assert sum(part for _, part in rating.splits) == rating.payable
    assert [payee for payee, _ in rating.splits] == [payee for payee, _ in shares]
    for (_, part), (_, share) in zip(rating.splits, shares, strict=True):
        # and each part is non-negative and less than one unit from its exact share
        assert part >= 0
        assert abs(part - rating.payable * share) < 1


@PROPERTIES
@given(total=st.integers(min_value=0, max_value=2**62), payees=splits())
def test_largest_remainder_gives_leftover_units_to_the_largest_remainders(total, payees):
    # given any total and shares summing to 1
    shares = [(split["payee"], Decimal(split["share"])) for split in payees]
    # when split
    parts = split_largest_remainder(total=total, shares=shares)
    exact = [total * share for _, share in shares]
    floors = [int(value) for value in exact]
    bumped = [part - floor for (_, part), floor in zip(parts, floors, strict=True)]
    # then the parts add up, each payee gets its floor or one unit more
    assert sum(part for _, part in parts) == total
    assert set(bumped) <= {0, 1}
    # and no payee left at its floor had a larger remainder than one given an extra unit;
    # on an equal remainder, the one given the unit is listed first
    for given_unit in (i for i, extra in enumerate(bumped) if extra):
        for left_out in (i for i, extra in enumerate(bumped) if not extra):
            remainder_given = exact[given_unit] - floors[given_unit]
            remainder_left = exact[left_out] - floors[left_out]
            assert remainder_given >= remainder_left
            if remainder_given == remainder_left:
                assert given_unit < left_out


# --- (4) rounding happens once; lines add up ------------------------------------------------------


@PROPERTIES
@given(period=periods())
def test_rounding_happens_once_and_lines_add_up_to_the_total(period):
    # given any period; when rated
    rating = rate_period(**period)
    # then the wage is the precise wage rounded once, half-up — nothing rounded before it
    fees = sum(count * period["terms"]["outcome_fees"].get(kind, 0) for kind, count in period["outcomes"].items())
    assert rating.outcome_fees == fees
    assert rating.share_precise == share_model_for(period["terms"]["share"]).share(Decimal(period["net"]))
    lines = rating.lines()
    # (exact arithmetic: a refund rate of share ÷ net carries sixty digits)
    with localcontext(EXACT_CONTEXT):
        assert rating.wage_precise == (rating.share_precise + fees + rating.minimum_top_up - rating.cap_reduction)
        clawback = sum((amount * rate for amount, rate in period["clawback_refunds"]), Decimal(0))
        precise_total = sum((line.amount_precise for line in lines), Decimal(0))
        assert precise_total == rating.wage_precise - clawback - rating.carried_credit
        assert all(abs(line.amount - line.amount_precise) <= Decimal("0.5") for line in lines)
    assert rating.wage == round_half_up(rating.wage_precise)
    # and the clawback is the sum of refund × rate, rounded once
    assert rating.clawback == round_half_up(clawback)
    # and the statement lines add up exactly to the total and the wage lines to the wage,
    # each line within half a unit of its precise amount (checked above)
    assert sum(line.amount for line in lines) == rating.total
    wage_kinds = {"share", "outcome_fee", "minimum_top_up", "cap_reduction"}
    assert sum(line.amount for line in lines if line.kind in wage_kinds) == rating.wage


@PROPERTIES
@given(period=periods())
def test_effective_rate_is_share_over_net(period):
    # given any period; when rated
    rating = rate_period(**period)
    net = period["net"]
    if net > 0:
        # then share ÷ net, cut away from zero far below a unit: refunding the whole net
        # later claws back the share as it rounds, a share on a half unit included
        with localcontext(EXACT_CONTEXT):
            rebuilt = rating.effective_rate * net
            assert rating.share_precise <= rebuilt < rating.share_precise + Decimal("1e-30")
        assert round_half_up(rebuilt) == round_half_up(rating.share_precise)
    else:
        # and a zero or negative net's effective rate is the first tier's (or the flat) rate
        assert rating.effective_rate == tier_rates(period["terms"]["share"])[0]


# --- (5) minimum and cap ----------------------------------------------------------------------------


@PROPERTIES
@given(period=periods())
def test_wage_stays_between_minimum_and_cap(period):
    # given any period; when rated
    rating = rate_period(**period)
    minimum = period["terms"]["minimum_per_period"]
    cap = period["terms"]["cap_per_period"]
    # then whole-unit limits hold after rounding too
    if minimum is not None:
        assert rating.wage >= minimum
    if cap is not None:
        assert rating.wage <= cap
    # and a top-up lands exactly on the minimum, a cap reduction exactly on the cap,
    # never both (the cap is never below the minimum)
    assert rating.minimum_top_up >= 0
    assert rating.cap_reduction >= 0
    assert not (rating.minimum_top_up > 0 and rating.cap_reduction > 0)
    if rating.minimum_top_up > 0:
        assert rating.wage_precise == minimum
    if rating.cap_reduction > 0:
        assert rating.wage_precise == cap


# --- (6) graduated bounds ------------------------------------------------------------------------------


@PROPERTIES
@given(share=share_terms("graduated"), data=st.data())
def test_graduated_share_lies_between_net_at_lowest_and_highest_rate(share, data):
    # given graduated tiers and a non-negative net
    net = data.draw(nets_for(share).filter(lambda value: value >= 0))
    rates_ = tier_rates(share)
    # when rated
    value = share_model_for(share).share(Decimal(net))
    # then it is no less than the whole net at the lowest rate, no more than at the highest
    assert net * min(rates_) <= value <= net * max(rates_)


@PROPERTIES
@given(share=share_terms("graduated"), data=st.data())
def test_graduated_share_is_the_sum_of_each_band(share, data):
    # given graduated tiers and a non-negative net
    net = data.draw(nets_for(share).filter(lambda value: value >= 0))
    # when rated; then it equals each tier's rate on the part of the net inside its band
    expected = Decimal(0)
    lower = 0
    for tier in share["tiers"]:
        upper = net if tier["up_to"] is None else tier["up_to"]
        expected += max(0, min(net, upper) - lower) * Decimal(tier["rate"])
        lower = upper
    assert share_model_for(share).share(Decimal(net)) == expected


@PROPERTIES
@given(share=share_terms(), net=st.integers(min_value=-10 * MAX_BOUND, max_value=-1))
def test_negative_net_is_rated_at_the_first_rate_for_every_model(share, net):
    # given any share model and a negative net
    # when rated; then the whole net at the first tier's (or the flat) rate
    assert share_model_for(share).share(Decimal(net)) == net * tier_rates(share)[0]
