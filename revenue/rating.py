"""Rating: one contract's period — net revenue, outcomes, refunds — into its wage (§5a).

Pure functions over `Decimal` and integer minor units, with no database, so every rule
can be tested exhaustively. Each share model is a small strategy class chosen by
`share_model_for`; `rate_period` applies §5a in order and keeps every precise amount
beside its rounded one, so a statement can show both.

Rounding happens at two points only, both half-up via `round_half_up`: the wage (after the
minimum and the cap) and the clawback (after summing the refunds). Everything before them
is exact: arithmetic runs in `EXACT_CONTEXT`, which raises rather than rounds. The one
inexact number is the effective rate, a quotient kept to sixty digits for later clawbacks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_UP, Context, Decimal, localcontext
from typing import Any, NamedTuple

from revenue.money import EXACT_CONTEXT, round_half_up, split_largest_remainder

# share ÷ net often does not terminate, so the effective rate must be cut somewhere. At
# sixty digits a bigint refund × rate is off the exact fraction by under 1e-40, far less
# than the gap (over 1e-31 for bigint nets and 12-place rates) between that fraction and
# any half unit it does not sit on; cutting away from zero (ROUND_UP) keeps a fraction
# that sits exactly on a half from landing just below it. So a clawback rounds half-up as
# refund × share ÷ net would: 0.5 ÷ 6 is kept as 0.08333…34, and refunding all 6 claws
# back 1, not 0.
_RATE_CONTEXT = Context(prec=60, rounding=ROUND_UP)


def _require_int(value: object, what: str) -> int:
    # bool is an int subclass; True units of money is a bug, not a count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int; got {type(value).__name__}.")
    return value


# --- share models ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A band of net revenue: up to `up_to` minor units (cumulative), None for the open top."""

    up_to: int | None
    rate: Decimal


class ShareModel(ABC):
    """The share of a period's net revenue that the employee earns, before fees and limits."""

    name: str

    @property
    @abstractmethod
    def first_rate(self) -> Decimal:
        """The rate of the lowest band: what a negative or zero net is rated at."""

    def share(self, net: Decimal) -> Decimal:
        """The unrounded share of `net` minor units."""
        net = Decimal(net)
        with localcontext(EXACT_CONTEXT):
            if net < 0:
                # A net below zero means refunds outran sales; §5a gives the money back at
                # the first tier's rate, whatever the model, so no band is ever "reached".
                return net * self.first_rate
            return self._share_of(net)

    @abstractmethod
    def _share_of(self, net: Decimal) -> Decimal:
        """The share of a non-negative net, computed in the exact context."""


class FlatShare(ShareModel):
    name = "flat"

    def __init__(self, rate: Decimal) -> None:
        self.rate = rate

    @property
    def first_rate(self) -> Decimal:
        return self.rate

    def _share_of(self, net: Decimal) -> Decimal:
        return net * self.rate


class _TieredShare(ShareModel):
    def __init__(self, tiers: Sequence[Tier]) -> None:
        if not tiers or tiers[-1].up_to is not None:
            raise ValueError("tiers must be non-empty and end with an open tier (up_to None).")
        bounds = [tier.up_to for tier in tiers[:-1] if tier.up_to is not None]
        if len(bounds) != len(tiers) - 1:
            raise ValueError("only the last tier may be open.")
        if any(lower >= upper for lower, upper in zip([0, *bounds], bounds, strict=False)):
            raise ValueError(f"tier bounds must be positive and ascending; got {bounds}.")
        self.tiers = tuple(tiers)
        # The bounded tiers as (up_to, rate), in order; the open top tier is tiers[-1].
        self.bounded: tuple[tuple[int, Decimal], ...] = tuple(zip(bounds, (t.rate for t in tiers[:-1]), strict=True))

    @property
    def first_rate(self) -> Decimal:
        return self.tiers[0].rate


class GraduatedShare(_TieredShare):
    """Each tier's rate on the part of net inside that tier, like income-tax brackets."""

    name = "graduated"

    def _share_of(self, net: Decimal) -> Decimal:
        share = Decimal(0)
        lower = 0
        for up_to, rate in self.bounded:
            if net <= up_to:
                return share + (net - lower) * rate
            share += (up_to - lower) * rate
            lower = up_to
        return share + (net - lower) * self.tiers[-1].rate


class VolumeShare(_TieredShare):
    """The whole net at the rate of the tier it reaches.

    A net belongs to the first tier whose `up_to` is at or above it, so a net exactly on a
    bound is rated at that tier and one unit more at the next. When the next rate is lower
    the share drops at the bound (a "cliff"); that is what volume pricing means.
    """

    name = "volume"

    def _share_of(self, net: Decimal) -> Decimal:
        for up_to, rate in self.bounded:
            if net <= up_to:
                return net * rate
        return net * self.tiers[-1].rate


def share_model_for(share_terms: Mapping[str, Any]) -> ShareModel:
    """The share model of canonical `terms["share"]` (contracts.terms.terms_validate)."""
    model = share_terms.get("model")
    if model == "flat":
        return FlatShare(Decimal(share_terms["rate"]))
    tiered: dict[str, type[_TieredShare]] = {"graduated": GraduatedShare, "volume": VolumeShare}
    if model not in tiered:
        raise ValueError(f"unknown share model {model!r}.")
    tiers = [Tier(up_to=tier["up_to"], rate=Decimal(tier["rate"])) for tier in share_terms["tiers"]]
    return tiered[model](tiers)


# --- one period ----------------------------------------------------------------------------


class StatementLine(NamedTuple):
    kind: str
    description: str
    amount_precise: Decimal
    amount: int


@dataclass(frozen=True)
class PeriodRating:
    """Everything §5a derives for one contract and one period, precise and rounded."""

    share_model: str
    net: int
    share_precise: Decimal
    # (kind, count, fee per outcome) for each priced kind with outcomes in the period.
    outcome_fee_breakdown: tuple[tuple[str, int, int], ...]
    outcome_fees: int
    minimum_top_up: Decimal
    cap_reduction: Decimal
    wage_precise: Decimal
    wage: int
    clawback_refunds: tuple[tuple[int, Decimal], ...]
    clawback_precise: Decimal
    clawback: int
    # (kind, count, fee per outcome) for each kind with withdrawn outcomes whose fee is on an
    # approved statement, at that statement's fee; reversed whole, after the minimum and cap.
    outcome_reversals: tuple[tuple[str, int, int], ...]
    outcome_clawback: int
    carried_credit: int
    total: int
    payable: int
    credit_carried_forward: int
    # share ÷ net (sixty digits, see _RATE_CONTEXT; the first rate when net is 0): what a
    # refund of this period's sales is clawed back at later, so keep it as it is.
    effective_rate: Decimal
    splits: tuple[tuple[str, int], ...]

    def lines(self) -> list[StatementLine]:
        """The statement's lines, whose rounded amounts add up to `total` exactly.

        Rounding each wage line on its own could miss the wage by a unit (two halves
        rounded up make one too many), so the wage lines take their rounding from running
        subtotals instead: outcome fees are whole units already, the share line is
        round(share + fees) − fees, and the top-up and cap lines are the steps from that
        subtotal to the rounded wage. Each line stays within half a unit of its precise
        amount, and the wage lines add up to `wage` because the last subtotal is the wage.
        The clawback (rounded once over all its refunds) and the carried credit are whole.

        Credits are negated with copy_negate: unary minus would round a sixty-digit
        clawback to the ambient context's precision.
        """
        with localcontext(EXACT_CONTEXT):
            subtotal = round_half_up(self.share_precise + self.outcome_fees)
            after_minimum = round_half_up(self.share_precise + self.outcome_fees + self.minimum_top_up)
        lines = [
            StatementLine(
                "share",
                f"Revenue share ({self.share_model}) of the period's net revenue",
                self.share_precise,
                subtotal - self.outcome_fees,
            )
        ]
        for kind, count, fee in self.outcome_fee_breakdown:
            amount = count * fee
            lines.append(
                StatementLine(
                    "outcome_fee",
                    f"Outcome fees: {count} × {kind.replace('_', ' ')}",
                    Decimal(amount),
                    amount,
                )
            )
        if self.minimum_top_up:
            lines.append(
                StatementLine(
                    "minimum_top_up",
                    "Top-up to the minimum wage for the period",
                    self.minimum_top_up,
                    after_minimum - subtotal,
                )
            )
        if self.cap_reduction:
            lines.append(
                StatementLine(
                    "cap_reduction",
                    "Reduction to the cap for the period",
                    self.cap_reduction.copy_negate(),
                    self.wage - after_minimum,
                )
            )
        if self.clawback_refunds:
            count = len(self.clawback_refunds)
            lines.append(
                StatementLine(
                    "clawback",
                    f"Clawback: {count} refund(s) of sales on approved statements, at their effective rates",
                    self.clawback_precise.copy_negate(),
                    -self.clawback,
                )
            )
        for kind, count, fee in self.outcome_reversals:
            amount = count * fee
            lines.append(
                StatementLine(
                    "outcome_clawback",
                    f"Outcome clawback: {count} withdrawn {kind.replace('_', ' ')}(s) already settled, at their fee",
                    Decimal(-amount),
                    -amount,
                )
            )
        if self.carried_credit:
            lines.append(
                StatementLine(
                    "carried_credit",
                    "Credit carried forward from the previous period",
                    Decimal(-self.carried_credit),
                    -self.carried_credit,
                )
            )
        return lines


def rate_period(
    *,
    terms: Mapping[str, Any],
    net: int,
    outcomes: Mapping[str, int],
    clawback_refunds: Sequence[tuple[int, Decimal]],
    carried_credit: int,
    outcome_reversals: Sequence[tuple[str, int, int]] = (),
) -> PeriodRating:
    """Rate one contract's period by §5a.

    `terms` are canonical (terms_validate); `net` may be negative; `outcomes` counts each
    outcome kind (kinds the terms do not price earn nothing); `clawback_refunds` are
    (refund amount as a positive number of minor units, the effective rate of the approved
    statement its sale was on); `carried_credit` is the credit brought forward, as a
    non-negative number; `outcome_reversals` are (kind, count, fee) of withdrawn outcomes
    already paid for on approved statements, each at the fee it was settled at.
    """
    _require_int(net, "net")
    if _require_int(carried_credit, "carried_credit") < 0:
        raise ValueError(f"carried_credit is a credit and must not be negative; got {carried_credit}.")
    minimum = terms.get("minimum_per_period")
    cap = terms.get("cap_per_period")
    if minimum is not None and cap is not None and cap < minimum:
        # terms_validate refuses this; applying "raise, then lower" would silently break
        # the minimum, so un-validated terms fail here instead.
        raise ValueError(f"cap_per_period {cap} is below minimum_per_period {minimum}.")

    breakdown: list[tuple[str, int, int]] = []
    for kind, fee in sorted(terms.get("outcome_fees", {}).items()):
        count = _require_int(outcomes.get(kind, 0), f"outcomes[{kind!r}]")
        if count < 0:
            raise ValueError(f"outcome count for {kind!r} must not be negative; got {count}.")
        if count:
            breakdown.append((kind, count, fee))
    outcome_fees = sum(count * fee for _, count, fee in breakdown)

    refunds: list[tuple[int, Decimal]] = []
    for amount, rate in clawback_refunds:
        if _require_int(amount, "refund amount") < 0:
            raise ValueError(f"a refund is a positive amount of minor units; got {amount}.")
        if not isinstance(rate, Decimal) or not rate.is_finite():
            # A float rate would already be off from what the earlier statement recorded.
            raise TypeError(f"an effective rate must be a finite Decimal; got {rate!r}.")
        refunds.append((amount, rate))

    reversals: list[tuple[str, int, int]] = []
    for kind, count, fee in outcome_reversals:
        if _require_int(count, f"reversed {kind!r} count") <= 0 or _require_int(fee, f"{kind!r} fee") < 0:
            raise ValueError(
                f"an outcome reversal needs a positive count and a non-negative fee; got {count} × {fee} for {kind!r}."
            )
        reversals.append((kind, count, fee))
    reversals.sort()
    outcome_clawback = sum(count * fee for _, count, fee in reversals)

    model = share_model_for(terms["share"])
    share = model.share(Decimal(net))
    with localcontext(EXACT_CONTEXT):
        subtotal = share + outcome_fees
        raised = max(subtotal, Decimal(minimum)) if minimum is not None else subtotal
        wage_precise = min(raised, Decimal(cap)) if cap is not None else raised
        minimum_top_up = raised - subtotal
        cap_reduction = raised - wage_precise
        clawback_precise = sum((amount * rate for amount, rate in refunds), Decimal(0))
    wage = round_half_up(wage_precise)
    clawback = round_half_up(clawback_precise)

    if net:
        with localcontext(_RATE_CONTEXT):
            effective_rate = share / net
    else:
        effective_rate = model.first_rate

    total = wage - clawback - outcome_clawback - carried_credit
    splits: tuple[tuple[str, int], ...]
    if total < 0:
        # Nothing is invoiced or paid against a negative period; it becomes next period's
        # credit (§4, §5a).
        payable, credit_carried_forward, splits = 0, -total, ()
    else:
        payable, credit_carried_forward = total, 0
        shares = [(split["payee"], Decimal(split["share"])) for split in terms["splits"]]
        splits = tuple(split_largest_remainder(total=total, shares=shares))

    return PeriodRating(
        share_model=model.name,
        net=net,
        share_precise=share,
        outcome_fee_breakdown=tuple(breakdown),
        outcome_fees=outcome_fees,
        minimum_top_up=minimum_top_up,
        cap_reduction=cap_reduction,
        wage_precise=wage_precise,
        wage=wage,
        clawback_refunds=tuple(refunds),
        clawback_precise=clawback_precise,
        clawback=clawback,
        outcome_reversals=tuple(reversals),
        outcome_clawback=outcome_clawback,
        carried_credit=carried_credit,
        total=total,
        payable=payable,
        credit_carried_forward=credit_carried_forward,
        effective_rate=effective_rate,
        splits=splits,
    )
