"""Rating one period by DESIGN.md §5a, hand-computed: the share models, outcome fees, the
minimum and the cap, the one rounding of the wage, clawbacks at an earlier statement's
effective rate, carried credit, payee splits, and statement lines that add up to the total."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from revenue.rating import (
    FlatShare,
    GraduatedShare,
    PeriodRating,
    StatementLine,
    Tier,
    VolumeShare,
    rate_period,
    share_model_for,
)
from tests.support.world import design_terms

D = Decimal
DESIGN_TIERS = [{"up_to": 1_000_000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]


def rate(
    terms: dict[str, Any],
    net: int,
    *,
    outcomes: dict[str, int] | None = None,
    refunds: list[tuple[int, Decimal]] | None = None,
    carried_credit: int = 0,
) -> PeriodRating:
    return rate_period(
        terms=terms, net=net, outcomes=outcomes or {}, clawback_refunds=refunds or [], carried_credit=carried_credit
    )


def amounts(rating: PeriodRating) -> list[tuple[str, Decimal, int]]:
    return [(line.kind, line.amount_precise, line.amount) for line in rating.lines()]


# --- the share models ----------------------------------------------------------------------


def test_factory_picks_the_model_named_by_the_terms():
    # given each share model's canonical terms; when built; then the matching strategy
    assert isinstance(share_model_for({"model": "flat", "rate": "0.10"}), FlatShare)
    assert isinstance(share_model_for({"model": "graduated", "tiers": DESIGN_TIERS}), GraduatedShare)
    assert isinstance(share_model_for({"model": "volume", "tiers": DESIGN_TIERS}), VolumeShare)
    with pytest.raises(ValueError, match="unknown share model 'tiered'"):
        share_model_for({"model": "tiered", "tiers": DESIGN_TIERS})


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (0, "0"),
        (999_999, "79999.92"),
        (1_000_000, "80000"),  # exactly on the bound: all of it in the first tier
        (1_000_001, "80000.05"),  # one unit more: that unit at the second tier's 5%
        (5_000_000, "280000"),  # 8% of 1,000,000 + 5% of 4,000,000
        (10_000_000, "530000"),  # 80,000 + 450,000
    ],
)
def test_graduated_share_rates_each_part_of_net_in_its_own_tier(net, expected):
    # given DESIGN's graduated tiers; when a net is rated; then each tier's rate on its part
    assert share_model_for({"model": "graduated", "tiers": DESIGN_TIERS}).share(D(net)) == D(expected)


def test_graduated_share_with_three_tiers():
    # given 10% to 100, 5% to 1,000, 1% above
    model = GraduatedShare([Tier(100, D("0.10")), Tier(1000, D("0.05")), Tier(None, D("0.01"))])
    # when 2,000 is rated; then 10 + 45 + 10
    assert model.share(D(2000)) == D(65)


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (999_999, "79999.92"),
        (1_000_000, "80000"),  # a net exactly on a bound belongs to that tier: 8%
        (1_000_001, "50000.05"),  # one unit above: the whole net at 5% — the share drops
        (5_000_000, "250000"),
    ],
)
def test_volume_share_rates_the_whole_net_at_the_tier_it_reaches(net, expected):
    # given DESIGN's tiers as volume tiers; when a net is rated
    # then the whole net at the rate of the first tier whose bound is at or above it
    assert share_model_for({"model": "volume", "tiers": DESIGN_TIERS}).share(D(net)) == D(expected)


def test_flat_share():
    # given a flat 10%; when 12,345 is rated; then 1,234.5, unrounded
    assert share_model_for({"model": "flat", "rate": "0.10"}).share(D(12_345)) == D("1234.5")


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        ({"model": "flat", "rate": "0.10"}, "-200000"),
        ({"model": "graduated", "tiers": DESIGN_TIERS}, "-160000"),  # 8%, not 5%, on all of it
        ({"model": "volume", "tiers": [{"up_to": 10, "rate": "0.02"}, {"up_to": None, "rate": "0.5"}]}, "-40000"),
    ],
)
def test_negative_net_is_rated_at_the_first_tiers_rate(share, expected):
    # given any share model; when a net of −2,000,000 is rated
    # then the whole net at the first tier's (or the flat) rate
    assert share_model_for(share).share(D(-2_000_000)) == D(expected)


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [Tier(100, D("0.1"))],  # the last tier must be open
        [Tier(None, D("0.1")), Tier(None, D("0.1"))],
        [Tier(100, D("0.1")), Tier(100, D("0.1")), Tier(None, D("0.1"))],
        [Tier(0, D("0.1")), Tier(None, D("0.1"))],
    ],
)
def test_malformed_tiers_are_refused(tiers):
    # given tiers terms_validate would refuse; when a tiered model is built; then ValueError
    with pytest.raises(ValueError, match="tier"):
        GraduatedShare(tiers)


# --- one period: DESIGN's graduated JPY example -------------------------------------------


def test_design_example_topped_up_to_the_minimum():
    # given DESIGN's terms (graduated 8% to 1,000,000 then 5%; minimum 300,000)
    # when a period nets 5,000,000 with no outcomes
    rating = rate(design_terms(), 5_000_000)
    # then the share 280,000 is topped up by 20,000 to the minimum wage of 300,000
    assert rating.share_precise == D(280_000)
    assert rating.minimum_top_up == D(20_000)
    assert rating.cap_reduction == 0
    assert rating.wage_precise == D(300_000)
    assert rating.wage == rating.total == rating.payable == 300_000
    assert rating.credit_carried_forward == 0
    assert rating.effective_rate == D("0.056")  # share ÷ net, not wage ÷ net
    assert rating.splits == (("platform", 210_000), ("studio-aoi", 90_000))
    assert amounts(rating) == [("share", D(280_000), 280_000), ("minimum_top_up", D(20_000), 20_000)]


def test_design_example_above_the_minimum():
    # given DESIGN's terms; when a period nets 10,000,000
    rating = rate(design_terms(), 10_000_000)
    # then the share is 530,000, above the minimum, so nothing is topped up
    assert rating.share_precise == D(530_000)
    assert rating.minimum_top_up == 0
    assert rating.wage == rating.payable == 530_000
    assert rating.effective_rate == D("0.053")
    assert rating.splits == (("platform", 371_000), ("studio-aoi", 159_000))
    assert amounts(rating) == [("share", D(530_000), 530_000)]


def test_outcome_fees_add_to_the_share_and_count_toward_the_minimum():
    # given DESIGN's terms (90 per resolution, 50,000 per delivered work)
    # when a period nets 1,000,000 with 1,000 resolutions, 2 delivered works and 7
    # outcomes of a kind the terms do not price
    rating = rate(design_terms(), 1_000_000, outcomes={"resolution": 1_000, "delivered_work": 2, "lead_qualified": 7})
    # then 80,000 + 90,000 + 100,000 = 270,000, topped up by 30,000; the unpriced kind earns 0
    assert rating.outcome_fees == 190_000
    assert rating.outcome_fee_breakdown == (("delivered_work", 2, 50_000), ("resolution", 1_000, 90))
    assert rating.minimum_top_up == D(30_000)
    assert rating.wage == 300_000
    assert amounts(rating) == [
        ("share", D(80_000), 80_000),
        ("outcome_fee", D(100_000), 100_000),
        ("outcome_fee", D(90_000), 90_000),
        ("minimum_top_up", D(30_000), 30_000),
    ]
    assert [line.description for line in rating.lines()][1:3] == [
        "Outcome fees: 2 × delivered work",
        "Outcome fees: 1000 × resolution",
    ]


def test_outcome_fees_above_the_minimum():
    # given DESIGN's terms; when a period nets 5,000,000 with 1,000 resolutions
    rating = rate(design_terms(), 5_000_000, outcomes={"resolution": 1_000})
    # then 280,000 + 90,000, no top-up
    assert rating.wage == 370_000
    assert rating.minimum_top_up == 0


def test_the_cap_lowers_the_wage():
    # given DESIGN's terms capped at 400,000; when a period nets 10,000,000 and has 10 resolutions
    rating = rate(design_terms(cap_per_period=400_000), 10_000_000, outcomes={"resolution": 10})
    # then 530,000 + 900 is lowered by 130,900 to the cap
    assert rating.cap_reduction == D(130_900)
    assert rating.wage_precise == D(400_000)
    assert rating.wage == rating.payable == 400_000
    # and the effective rate stays the share's, so a later clawback ignores the cap
    assert rating.effective_rate == D("0.053")
    assert amounts(rating) == [
        ("share", D(530_000), 530_000),
        ("outcome_fee", D(900), 900),
        ("cap_reduction", D(-130_900), -130_900),
    ]


def test_volume_period_at_a_bound_and_just_above_it():
    # given DESIGN's tiers as volume tiers, no minimum
    terms = design_terms(share={"model": "volume", "tiers": DESIGN_TIERS}, minimum_per_period=None)
    # when a period nets exactly 1,000,000, and another one unit more
    on_bound, above = rate(terms, 1_000_000), rate(terms, 1_000_001)
    # then the first is rated at 8%, the second wholly at 5%, rounded once half-up
    assert (on_bound.share_precise, on_bound.wage) == (D(80_000), 80_000)
    assert (above.share_precise, above.wage) == (D("50000.05"), 50_000)
    assert above.effective_rate == D("0.05")
    assert amounts(above) == [("share", D("50000.05"), 50_000)]


def test_flat_share_rounds_the_wage_once_half_up():
    # given a flat 10%, no minimum; when a period nets 12,345
    rating = rate(design_terms(share={"model": "flat", "rate": "0.10"}, minimum_per_period=None), 12_345)
    # then 1,234.5 rounds half-up to 1,235
    assert rating.wage_precise == D("1234.5")
    assert rating.wage == 1_235
    assert rating.effective_rate == D("0.1")
    assert amounts(rating) == [("share", D("1234.5"), 1_235)]


def test_splits_of_an_odd_total_go_by_largest_remainder():
    # given a flat 10% split 0.70 / 0.30; when a period nets 10,010
    rating = rate(design_terms(share={"model": "flat", "rate": "0.10"}, minimum_per_period=None), 10_010)
    # then 1,001 splits 700.7 / 300.3 → 700 / 300 and the leftover unit to the larger remainder
    assert rating.payable == 1_001
    assert rating.splits == (("platform", 701), ("studio-aoi", 300))


# --- clawback and carried credit -----------------------------------------------------------


def test_clawback_at_an_earlier_statements_effective_rate():
    # given DESIGN's terms and a refund of 100,000 of a sale on an approved statement whose
    # effective rate was 0.056 (280,000 ÷ 5,000,000)
    earlier = rate(design_terms(), 5_000_000)
    # when this period nets 10,000,000
    rating = rate(design_terms(), 10_000_000, refunds=[(100_000, earlier.effective_rate)])
    # then 5,600 is clawed back after the minimum and the cap
    assert rating.clawback == 5_600
    assert rating.wage == 530_000
    assert rating.total == rating.payable == 524_400
    assert rating.splits == (("platform", 367_080), ("studio-aoi", 157_320))
    assert amounts(rating) == [("share", D(530_000), 530_000), ("clawback", D(-5_600), -5_600)]


def test_clawback_is_rounded_once_over_all_refunds():
    # given two refunds each worth half a unit at their statement's rate
    terms = design_terms(minimum_per_period=None)
    # when clawed back together
    rating = rate(terms, 0, refunds=[(5, D("0.1")), (5, D("0.1"))])
    # then the sum 1.0 is rounded once (1), not each half separately (1 + 1)
    assert rating.clawback == 1
    # and a single half-unit clawback rounds half-up to 1
    assert rate(terms, 0, refunds=[(5, D("0.1"))]).clawback == 1


def test_clawback_of_an_unterminated_rate_rounds_as_the_exact_fraction():
    # given an earlier statement whose share ÷ net does not terminate
    # (graduated: 80,000 + 5% of 2,000,001 = 180,000.05 on 3,000,001)
    earlier = rate(design_terms(minimum_per_period=None), 3_000_001)
    assert earlier.share_precise == D("180000.05")
    # when its whole net is refunded later
    rating = rate(design_terms(minimum_per_period=None), 0, refunds=[(3_000_001, earlier.effective_rate)])
    # then the clawback is that statement's share, rounded once: 180,000.05 → 180,000
    assert rating.clawback == 180_000


def test_clawback_of_a_half_unit_through_an_unterminated_rate_still_rounds_up():
    # given an earlier statement with a share of 0.5 on a net of 6 (nothing to 5, then 50%):
    # its effective rate 1/12 cannot be written exactly
    terms = design_terms(
        share={"model": "graduated", "tiers": [{"up_to": 5, "rate": "0"}, {"up_to": None, "rate": "0.5"}]},
        minimum_per_period=None,
    )
    earlier = rate(terms, 6)
    assert earlier.share_precise == D("0.5")
    # when all 6 are refunded, and separately 3 of them
    whole = rate(terms, 0, refunds=[(6, earlier.effective_rate)])
    half = rate(terms, 0, refunds=[(3, earlier.effective_rate)])
    # then the clawbacks round as 6 × 0.5 ÷ 6 = 0.5 → 1 and 0.25 → 0 would, the stored rate
    # being cut away from zero so the exact half does not land a hair below 0.5
    assert whole.clawback == 1
    assert half.clawback == 0


def test_a_negative_total_is_carried_forward_and_not_split():
    # given no minimum, a quiet period (net 0), a 5,600 clawback and 1,000 credit brought forward
    rating = rate(design_terms(minimum_per_period=None), 0, refunds=[(100_000, D("0.056"))], carried_credit=1_000)
    # then the total is −6,600: carried into the next period, nothing payable, no splits
    assert rating.wage == 0
    assert rating.total == -6_600
    assert rating.payable == 0
    assert rating.credit_carried_forward == 6_600
    assert rating.splits == ()
    assert rating.effective_rate == D("0.08")  # net 0: the first tier's rate
    assert amounts(rating) == [
        ("share", D(0), 0),
        ("clawback", D(-5_600), -5_600),
        ("carried_credit", D(-1_000), -1_000),
    ]
    assert sum(line.amount for line in rating.lines()) == rating.total


def test_carried_credit_is_used_up_by_a_good_period():
    # given DESIGN's terms and 6,600 of credit brought forward; when a period nets 10,000,000
    rating = rate(design_terms(), 10_000_000, carried_credit=6_600)
    # then the credit comes off the wage and the rest is paid
    assert rating.total == rating.payable == 523_400
    assert rating.credit_carried_forward == 0
    assert sum(part for _, part in rating.splits) == 523_400


# --- negative nets -----------------------------------------------------------------------------


def test_negative_net_gives_back_share_at_the_first_tiers_rate():
    # given DESIGN's graduated tiers without a minimum
    terms = design_terms(minimum_per_period=None)
    # when refunds outrun sales: net −2,000,000
    rating = rate(terms, -2_000_000)
    # then −2,000,000 × 8% = −160,000, carried forward as credit
    assert rating.share_precise == D(-160_000)
    assert rating.wage == rating.total == -160_000
    assert rating.credit_carried_forward == 160_000
    assert rating.payable == 0
    assert rating.splits == ()
    assert rating.effective_rate == D("0.08")


def test_negative_net_is_still_raised_to_the_minimum():
    # given DESIGN's terms with their 300,000 minimum; when the period nets −2,000,000
    rating = rate(design_terms(), -2_000_000)
    # then, as §5a orders it (share, then raised to the minimum), the wage is the minimum
    assert rating.minimum_top_up == D(460_000)
    assert rating.wage == 300_000
    assert amounts(rating) == [("share", D(-160_000), -160_000), ("minimum_top_up", D(460_000), 460_000)]


# --- statement lines: rounded once, adding up exactly ------------------------------------------


def test_lines_add_up_when_share_and_top_up_are_both_halves():
    # given a flat 50% with a minimum of 1; when a period nets 1
    rating = rate(design_terms(share={"model": "flat", "rate": "0.5"}, minimum_per_period=1), 1)
    # then share 0.5 and top-up 0.5: each rounded alone would show 1 + 1 for a wage of 1;
    # the share rounds half-up and the top-up line is the step to the wage
    assert rating.wage == 1
    assert amounts(rating) == [("share", D("0.5"), 1), ("minimum_top_up", D("0.5"), 0)]


def test_the_share_line_carries_the_wages_rounding():
    # given a flat 10% without minimum; when a period nets −5 and has one resolution (90)
    rating = rate(
        design_terms(share={"model": "flat", "rate": "0.10"}, minimum_per_period=None), -5, outcomes={"resolution": 1}
    )
    # then the wage is 89.5 → 90; the fee line shows its exact 90, so the share of −0.5
    # shows 0 (half a unit away, where round(−0.5) alone would give −1 and a sum of 89)
    assert rating.wage == 90
    assert amounts(rating) == [("share", D("-0.5"), 0), ("outcome_fee", D(90), 90)]


def test_lines_are_statement_lines():
    # given any rating; when its lines are read; then named tuples of (kind, description, precise, amount)
    line = rate(design_terms(), 10_000_000).lines()[0]
    assert isinstance(line, StatementLine)
    kind, description, precise, amount = line
    assert (kind, precise, amount) == ("share", D(530_000), 530_000)
    assert description == "Revenue share (graduated) of the period's net revenue"


# --- refused input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "kwargs", "error", "message"),
    [
        ({}, {"carried_credit": -1}, ValueError, "must not be negative"),
        ({"minimum_per_period": 500, "cap_per_period": 400}, {}, ValueError, "below minimum_per_period"),
        ({}, {"outcomes": {"resolution": -1}}, ValueError, "must not be negative"),
        ({}, {"refunds": [(-100, D("0.05"))]}, ValueError, "positive amount"),
        ({}, {"refunds": [(100, 0.05)]}, TypeError, "finite Decimal"),
        ({}, {"net": D(100)}, TypeError, "net must be an int"),
    ],
)
def test_refused_input(overrides, kwargs, error, message):
    # given input that validated terms and the settlement code never produce
    net = kwargs.pop("net", 1_000)
    # when rated; then a clear error, not a quietly wrong wage
    with pytest.raises(error, match=message):
        rate(design_terms(**overrides), net, **kwargs)
