"""Figures over time for the charts: a partner's attributed sales by month and employee, and
finance's wages, payouts and ledger balances by month. Each is one aggregate query over the
months asked for (set-based: no query per month, account or placement)."""

from __future__ import annotations

from datetime import UTC, date

from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_noop

from core.periods import add_months
from ledger.models import Account
from payments.models import Payout
from revenue.models import Statement

# A statement's wage counts once finance approved it; drafts and reviews can still change.
SETTLED_STATUSES = (Statement.Status.APPROVED, Statement.Status.INVOICED, Statement.Status.PAID)


def chart_currencies() -> list[str]:
    """The currencies finance has figures in: those of statements and ledger accounts."""
    found = set(Statement.objects.values_list("currency", flat=True).distinct())
    found |= set(Account.objects.values_list("currency", flat=True).distinct())
    return sorted(found)


def wages_by_month(*, currency: str, period_from: date, period_to: date) -> dict[date, dict[str, int]]:
    """Per period: the wage earned and the total invoiced (after clawbacks and carried credit)
    on approved statements in `currency`."""
    rows = (
        Statement.objects.filter(
            currency=currency, status__in=SETTLED_STATUSES, period__gte=period_from, period__lte=period_to
        )
        .values("period")
        .annotate(wage=Sum("wage"), payable=Sum("payable"))
        .order_by("period")
    )
    return {row["period"]: {"wage": int(row["wage"]), "payable": int(row["payable"])} for row in rows}


def payouts_by_month(*, currency: str, period_from: date, period_to: date) -> dict[date, int]:
    """Per calendar month (UTC) of sending: what payouts sent to payees in `currency`."""
    rows = (
        Payout.objects.filter(
            currency=currency,
            status=Payout.Status.SENT,
            sent_at__date__gte=period_from,
            sent_at__date__lt=add_months(period_to, 1),
        )
        .annotate(month=TruncMonth("sent_at", tzinfo=UTC))
        .values("month")
        .annotate(amount=Sum("amount"))
        .order_by("month")
    )
    return {row["month"].date(): int(row["amount"]) for row in rows}


# Account codes are `<group>:<whose>` (DESIGN.md §4): one line per group on the chart.
LEDGER_GROUPS = {
    "partner_receivable": gettext_noop("Owed by partners"),
    "payee_payable": gettext_noop("Owed to payees"),
    "platform_revenue": gettext_noop("Platform revenue"),
    "cash": gettext_noop("Cash"),
}


def ledger_balances_by_month(*, currency: str, period_from: date, period_to: date) -> dict[str, dict[date, int]]:
    """Per account group, its balance at the end of each month from `period_from` to
    `period_to`, on its normal side (an asset's debit balance, a liability's or revenue's
    credit balance, as positive numbers). The balance includes everything posted before the
    range: the lines are summed per month and group once, then accumulated."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH moved AS (
                SELECT date_trunc('month', e.occurred_on)::date AS month,
                       split_part(a.code, ':', 1) AS grp,
                       SUM(CASE WHEN a.kind = 'asset' THEN l.amount ELSE -l.amount END) AS amount
                  FROM revenue_journalline l
                  JOIN revenue_journalentry e ON e.id = l.entry_id
                  JOIN revenue_account a ON a.id = l.account_id
                 WHERE l.currency = %(currency)s AND e.occurred_on < %(until)s
                 GROUP BY 1, 2
            ), months AS (
                SELECT generate_series(%(first)s::date, %(last)s::date, interval '1 month')::date AS month
            ), grps AS (
                SELECT DISTINCT grp FROM moved
            )
            SELECT g.grp, m.month,
                   (SELECT COALESCE(SUM(x.amount), 0) FROM moved x
                     WHERE x.grp = g.grp AND x.month <= m.month)::bigint AS balance
              FROM grps g CROSS JOIN months m
             ORDER BY g.grp, m.month
            """,
            {"currency": currency, "until": add_months(period_to, 1), "first": period_from, "last": period_to},
        )
        result: dict[str, dict[date, int]] = {}
        for group, month, balance in cursor.fetchall():
            result.setdefault(group, {})[month] = int(balance)
    return result
