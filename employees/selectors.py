from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Max, Q, QuerySet, Sum

from core.currencies import format_money
from core.models import User
from employees.models import DigitalEmployee


def employee_list(
    *, viewer: User | None, skill: str | None = None, industry: str | None = None
) -> QuerySet[DigitalEmployee]:
    """The catalog as `viewer` may see it: partners see published employees only; the
    platform's own staff also see drafts and retired ones."""
    employees = DigitalEmployee.objects.all()
    if viewer is None or viewer.is_partner_member:
        employees = employees.filter(status=DigitalEmployee.Status.PUBLISHED)
    if skill:
        employees = employees.filter(skills__contains=[skill])
    if industry:
        employees = employees.filter(industries__contains=[industry])
    return employees.order_by("name")


@dataclass(frozen=True)
class MoneyFigure:
    currency: str
    amount: int

    @property
    def formatted(self) -> str:
        return format_money(self.amount, self.currency)


@dataclass(frozen=True)
class TrackRecord:
    placements_total: int
    placements_active: int
    partners_served: int
    # Per currency, from approved statements; None until there is one: shown as "not yet
    # available", never 0.
    attributed_revenue: tuple[MoneyFigure, ...] | None = None
    annualised_wage: tuple[MoneyFigure, ...] | None = None


# Statement statuses from approval on (revenue.services.settlement.SETTLED), spelled out
# here so employees need not import revenue.
_SETTLED = ("approved", "invoiced", "paid")
ANNUALISING_PERIODS = 12


def _months_before(period: date, months: int) -> date:
    index = period.year * 12 + period.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _settled_statement_figures(
    employee: DigitalEmployee,
) -> tuple[tuple[MoneyFigure, ...] | None, tuple[MoneyFigure, ...] | None]:
    """Attributed revenue (the net of every approved statement) and the annualised wage
    (the wage of approved statements in the last 12 periods up to the latest approved one,
    ÷ the periods in that window that had one, × 12), per currency; None without any
    approved statement. One pass over employee.placements → contract → statements, so
    employees need not import revenue."""
    statements = employee.placements.filter(contract__statements__status__in=_SETTLED)
    latest = statements.aggregate(latest=Max("contract__statements__period"))["latest"]
    if latest is None:
        return None, None
    recent = Q(contract__statements__period__gt=_months_before(latest, ANNUALISING_PERIODS))
    rows = (
        statements.values(currency=F("contract__statements__currency"))
        .annotate(
            net=Sum("contract__statements__net"),
            wage=Sum("contract__statements__wage", filter=recent),
            periods=Count("contract__statements__period", filter=recent, distinct=True),
        )
        .order_by("currency")
    )
    revenue, annualised = [], []
    for row in rows:
        revenue.append(MoneyFigure(row["currency"], row["net"]))
        if row["periods"]:
            yearly = (Decimal(row["wage"]) * ANNUALISING_PERIODS / row["periods"]).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
            annualised.append(MoneyFigure(row["currency"], int(yearly)))
    return tuple(revenue), tuple(annualised) or None


def employee_track_record(*, employee: DigitalEmployee) -> TrackRecord:
    # Read through the reverse relation so employees need not import contracts.
    figures = employee.placements.exclude(status="requested").aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status="active")),
        partners=Count("partner", distinct=True),
    )
    revenue, annualised = _settled_statement_figures(employee)
    return TrackRecord(
        placements_total=figures["total"],
        placements_active=figures["active"],
        partners_served=figures["partners"],
        attributed_revenue=revenue,
        annualised_wage=annualised,
    )
