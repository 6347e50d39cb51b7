"""Reads behind the revenue pages: the partner's portal, the finance console, the CSV
exports and the contract simulator.

Every figure is an aggregate the database computes (one grouped query, never a Python
loop per sale), and every read is scoped through the same selectors as the API, so a
page cannot show what the viewer's API key could not fetch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from contracts.models import Placement
from contracts.selectors import next_period_start, partners_visible, viewer_partner_id
from core.currencies import format_money
from core.periods import add_months
from ledger.models import JournalEntry
from revenue.models import Outcome, Sale, SaleMonthlyRollup, Statement, StatementAdjustment, StatementLine, Touchpoint
from revenue.rating import rate_period
from revenue.selectors.statements import statement_list
from revenue.services.attribution import (
    PICK_PLACEMENT,
    RULES_CTE,
    attribution_rules,
    picked_sales_sql,
    touch_rules_cte,
)

# Approved or invoiced: the partner owes it until it is paid.
OWED = (Statement.Status.APPROVED, Statement.Status.INVOICED)
STATUS_ORDER = list(Statement.Status.values)


@dataclass(frozen=True)
class MoneyTotal:
    currency: str
    amount: int

    @property
    def formatted(self) -> str:
        return format_money(self.amount, self.currency)


def statements_brief(*, viewer: Any, period: date | None = None, status: str | None = None) -> QuerySet[Statement]:
    """statement_list without the lines and splits a list does not show: the same scope
    (partners see approved statements only), the same order."""
    return statement_list(viewer=viewer, period=period, status=status).prefetch_related(None)


# --- partner portal --------------------------------------------------------------------------


def wage_owed(*, viewer: Any) -> list[MoneyTotal]:
    """What the viewer's partner owes: payable of approved and invoiced statements, per
    currency (a paid statement is settled; a negative period has nothing payable)."""
    rows = (
        statements_brief(viewer=viewer)
        .filter(status__in=OWED)
        .order_by()
        .values("currency")
        .annotate(amount=Sum("payable"))
        .order_by("currency")
    )
    return [MoneyTotal(row["currency"], row["amount"]) for row in rows if row["amount"]]


@dataclass
class SalesPage:
    """One page of sales without counting the whole set: the page asks for one row more
    than it shows, and that row only says whether an older page exists."""

    sales: list[Sale]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def sales_page(*, viewer: Any, period: date, attribution: str | None, number: int, per_page: int = 50) -> SalesPage:
    """The viewer's sales and refunds of one period, newest first. The partner and the
    period narrow the rows first; LIMIT/OFFSET fetch the page. A refund is filtered by the
    attribution of the sale it refunds (refunds follow their sale)."""
    partner_id = viewer_partner_id(viewer)
    sales = Sale.objects.filter(period=period)
    if partner_id is not None:
        sales = sales.filter(partner_id=partner_id)
    else:
        sales = sales.filter(partner__in=partners_visible(viewer=viewer))
    if attribution:
        sales = sales.filter(
            Q(type=Sale.Type.SALE, attribution=attribution)
            | Q(type=Sale.Type.REFUND, refund_of__attribution=attribution)
        )
    number = max(number, 1)
    offset = (number - 1) * per_page
    rows = list(
        sales.order_by("-occurred_at", "-id").prefetch_related("placement__employee", "refund_of__placement__employee")[
            offset : offset + per_page + 1
        ]
    )
    return SalesPage(sales=rows[:per_page], number=number, has_next=len(rows) > per_page)


# --- finance console -------------------------------------------------------------------------


def latest_statement_period(*, viewer: Any) -> date | None:
    return statements_brief(viewer=viewer).order_by().aggregate(latest=Max("period"))["latest"]


@dataclass(frozen=True)
class StatusSummary:
    status: str
    label: str
    count: int
    payable: list[MoneyTotal]


def statement_period_summary(*, viewer: Any, period: date) -> list[StatusSummary]:
    """How many statements of the period are in each status, and what they make payable."""
    rows = (
        statements_brief(viewer=viewer, period=period)
        .order_by()
        .values("status", "currency")
        .annotate(count=Count("id"), payable=Sum("payable"))
    )
    grouped: dict[str, tuple[int, list[MoneyTotal]]] = {}
    for row in rows:
        count, totals = grouped.get(row["status"], (0, []))
        grouped[row["status"]] = (count + row["count"], [*totals, MoneyTotal(row["currency"], row["payable"])])
    labels = dict(Statement.Status.choices)
    return [
        StatusSummary(status, str(labels[status]), count, sorted(totals, key=lambda t: t.currency))
        for status, (count, totals) in sorted(grouped.items(), key=lambda item: STATUS_ORDER.index(item[0]))
    ]


def statement_adjustments(*, statement: Statement) -> QuerySet[StatementAdjustment]:
    return (
        StatementAdjustment.objects.filter(contract_id=statement.contract_id, period=statement.period)
        .select_related("created_by")
        .order_by("created_at", "id")
    )


def statement_journal_entry(*, statement: Statement) -> JournalEntry | None:
    if statement.journal_entry_id is None:
        return None
    return (
        JournalEntry.objects.filter(pk=statement.journal_entry_id)
        .prefetch_related("lines__account")
        .select_related("posted_by")
        .first()
    )


# --- charts ----------------------------------------------------------------------------------


def attributed_revenue_by_employee(*, viewer: Any, period_from: date) -> list[dict[str, Any]]:
    """(period, currency, employee name, revenue) of the viewer's attributed sales since
    `period_from`, read from the monthly roll-up (revenue.services.rollups), a few rows per
    month rather than every sale. Named per placement: a partner hires an employee once at a
    time, so names do not collide within one partner, and two placements of one employee (one
    ended, one new) add up. A group whose sales all moved away is a row of zeros, not a bar."""
    rows = SaleMonthlyRollup.objects.filter(
        partner__in=partners_visible(viewer=viewer), period__gte=period_from, sales__gt=0
    )
    return employee_revenue_rows(rows)


def employee_revenue_rows(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    """The chart's rows from a queryset of sales or roll-up rows (anything with period,
    currency, a placement and an amount): summed per month, currency and employee."""
    grouped = (
        rows.values("period", "currency", "placement__employee__name")
        .annotate(revenue=Sum("amount"))
        .order_by("period", "currency", "placement__employee__name")
    )
    return [
        {
            "period": row["period"],
            "currency": row["currency"],
            "employee": row["placement__employee__name"],
            "revenue": int(row["revenue"]),
        }
        for row in grouped
    ]


# --- CSV exports ------------------------------------------------------------------------------

STATEMENT_EXPORT_HEADER = [
    "statement_id",
    "period",
    "partner",
    "employee",
    "status",
    "line_kind",
    "description",
    "quantity",
    "revenue",
    "amount",
    "currency",
]


def statement_lines_export(*, viewer: Any, period: date) -> Iterator[tuple[Any, ...]]:
    """One row per statement line of the period, streamed from a server-side cursor."""
    statement_ids = statements_brief(viewer=viewer, period=period).order_by().values("pk")
    rows = (
        StatementLine.objects.filter(statement_id__in=statement_ids)
        .order_by("statement__contract_id", "statement_id", "position")
        .values_list(
            "statement_id",
            "statement__period",
            "statement__contract__placement__partner__slug",
            "statement__contract__placement__employee__slug",
            "statement__status",
            "kind",
            "description",
            "quantity",
            "revenue",
            "amount",
            "statement__currency",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        statement_id, period_, partner, employee, status, kind, description, quantity, revenue, amount, cur = row
        yield (
            statement_id,
            f"{period_:%Y-%m}",
            partner,
            employee,
            status,
            kind,
            description,
            "" if quantity is None else quantity,
            "" if revenue is None else revenue,
            amount,
            cur,
        )


# --- contract simulator -------------------------------------------------------------------------

# Attributed sales of one placement and refunds of those sales, by the period each counts
# in (its own), in one grouped pass. Settled sales keep the placement they were settled
# for; the partner's unsettled sales are attributed by the rule itself, as settlement does.
_PLACEMENT_NET_BY_PERIOD = f"""
WITH {RULES_CTE}, {touch_rules_cte()},
unsettled AS (
    SELECT id, partner_id, occurred_at, period, amount, coupon_code, click_id, conversation_id
      FROM revenue_sale
     WHERE partner_id = %(partner)s AND type = 'sale' AND statement_id IS NULL AND period <= %(last)s
),
placement_sales AS (
    SELECT p.id, p.period, p.amount FROM ({picked_sales_sql("unsettled")}) p
     WHERE p.pick[{PICK_PLACEMENT}] = %(placement)s
    UNION ALL
    SELECT s.id, s.period, s.amount
      FROM revenue_sale s
     WHERE s.placement_id = %(placement)s AND s.type = 'sale' AND s.statement_id IS NOT NULL
       AND s.period <= %(last)s
)
SELECT period, sum(sales)::bigint, sum(refunds)::bigint
  FROM (SELECT s.period, s.amount AS sales, 0 AS refunds
          FROM placement_sales s
         WHERE s.period >= %(first)s
        UNION ALL
        SELECT r.period, 0, r.amount
          FROM placement_sales o JOIN revenue_sale r ON r.refund_of_id = o.id
         WHERE r.type = 'refund' AND r.period BETWEEN %(first)s AND %(last)s) AS events
 GROUP BY period
"""


@dataclass
class MonthActivity:
    sales: int = 0
    refunds: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # counted (not withdrawn), by kind
    outcomes_recorded: int = 0  # withdrawn ones included: the employee still did the work
    touchpoints: int = 0

    @property
    def net(self) -> int:
        return self.sales - self.refunds

    @property
    def calls(self) -> int:
        return self.touchpoints + self.outcomes_recorded


def placement_activity_by_month(*, placement: Placement, first: date, last: date) -> dict[date, MonthActivity]:
    """Per month of [first, last]: attributed sales, refunds of them, outcomes and
    touchpoints of the placement. Three grouped queries, whatever the volume."""
    activity: dict[date, MonthActivity] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _PLACEMENT_NET_BY_PERIOD,
            {
                "placement": placement.pk,
                "partner": placement.partner_id,
                "first": first,
                "last": last,
                **attribution_rules(partner_ids=[placement.partner_id]),
            },
        )
        for period, sales, refunds in cursor.fetchall():
            month = activity.setdefault(period, MonthActivity())
            month.sales, month.refunds = int(sales or 0), int(refunds or 0)
    outcomes = (
        Outcome.objects.filter(placement=placement, period__gte=first, period__lte=last)
        .values("period", "kind")
        .annotate(recorded=Count("id"), counted=Count("id", filter=Q(withdrawn_at__isnull=True)))
    )
    for row in outcomes:
        month = activity.setdefault(row["period"], MonthActivity())
        month.outcomes_recorded += row["recorded"]
        if row["counted"]:
            month.outcomes[row["kind"]] = row["counted"]
    zone = ZoneInfo(placement.partner.timezone)
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(next_period_start(last), time.min, tzinfo=zone)
    touches = (
        Touchpoint.objects.filter(placement=placement, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(month=TruncMonth("occurred_at", tzinfo=zone))
        .values("month")
        .annotate(count=Count("id"))
    )
    for touch in touches:
        activity.setdefault(touch["month"].date(), MonthActivity()).touchpoints = touch["count"]
    return activity


@dataclass(frozen=True)
class SimulatedMonth:
    period: date
    activity: MonthActivity
    wage_a: int
    wage_b: int
    per_call: int
    in_progress: bool


@dataclass(frozen=True)
class Simulation:
    currency: str
    first: date
    last: date
    price_per_call: int
    months: list[SimulatedMonth]

    @property
    def total_net(self) -> int:
        return sum(month.activity.net for month in self.months)

    @property
    def total_a(self) -> int:
        return sum(month.wage_a for month in self.months)

    @property
    def total_b(self) -> int:
        return sum(month.wage_b for month in self.months)

    @property
    def total_calls(self) -> int:
        return sum(month.activity.calls for month in self.months)

    @property
    def total_per_call(self) -> int:
        return sum(month.per_call for month in self.months)


def contract_simulate(
    *,
    placement: Placement,
    terms_a: Mapping[str, Any],
    terms_b: Mapping[str, Any],
    months: int,
    price_per_call: int,
    current_period: date,
) -> Simulation:
    """What two sets of (validated, canonical) terms would have paid on the placement's
    real history, month by month, beside per-call pricing. Reads only.

    Each month is rated on its own, as §5a rates a period: net = attributed sales − refunds
    of them counted that month, outcomes by their own month; no clawback and no carried
    credit, so the two columns compare the terms and nothing else. Months with no
    recorded activity are left out."""
    first = add_months(current_period, -(months - 1))
    activity = placement_activity_by_month(placement=placement, first=first, last=current_period)
    rows = []
    for period in sorted(activity):
        month = activity[period]
        wages = [
            rate_period(terms=terms, net=month.net, outcomes=month.outcomes, clawback_refunds=[], carried_credit=0).wage
            for terms in (terms_a, terms_b)
        ]
        rows.append(
            SimulatedMonth(
                period=period,
                activity=month,
                wage_a=wages[0],
                wage_b=wages[1],
                per_call=month.calls * price_per_call,
                in_progress=period == current_period,
            )
        )
    return Simulation(
        currency=placement.contract.currency,
        first=first,
        last=current_period,
        price_per_call=price_per_call,
        months=rows,
    )
