"""Statements of account: one ledger account over a span of days, as an accountant reads it —
the balance brought forward, every line in date order with the running balance, the balance
carried forward. Finance reconciles a partner's receivable or a payee's payable with it.

Set-based: the opening balance is one aggregate and the running balance a window sum in
PostgreSQL, so a long account is never walked in Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from core.errors import NotFound, ValidationFailed
from ledger.models import Account, JournalLine

# A statement is read on a page and over the API in one piece: a span longer than this is
# asked for in parts (the ledger's CSV export has the whole journal).
MAX_DAYS = 366
MAX_LINES = 5000

_LINES_SQL = """
SELECT e.id, e.occurred_on, e.memo, l.description, l.amount,
       %(opening)s + sum(l.amount) OVER (ORDER BY e.occurred_on, e.id, l.id) AS balance
  FROM revenue_journalline l
  JOIN revenue_journalentry e ON e.id = l.entry_id
 WHERE l.account_id = %(account)s AND e.occurred_on >= %(first)s AND e.occurred_on <= %(last)s
 ORDER BY e.occurred_on, e.id, l.id
 LIMIT %(limit)s
"""


@dataclass(frozen=True)
class AccountStatementLine:
    entry_id: int
    occurred_on: date
    memo: str
    description: str
    amount: int  # debit > 0, credit < 0, minor units
    balance: int  # debit-positive running balance after this line

    @property
    def debit(self) -> int:
        return self.amount if self.amount > 0 else 0

    @property
    def credit(self) -> int:
        return -self.amount if self.amount < 0 else 0


@dataclass(frozen=True)
class AccountStatement:
    code: str
    currency: str
    kind: str
    first: date
    last: date
    opening: int
    debits: int  # the whole span's, also when the lines are cut at MAX_LINES
    credits: int  # as a positive number
    lines: list[AccountStatementLine]
    truncated: bool

    @property
    def closing(self) -> int:
        return self.opening + self.debits - self.credits


def account_statement(*, code: str, currency: str, first: date, last: date) -> AccountStatement:
    """The statement of account `code` in `currency` from `first` to `last`, both included, by
    the entries' own dates (occurred_on). Balances are debit-positive, as in the trial balance."""
    if last < first:
        raise ValidationFailed(_("The statement ends before it starts."), fields={"to": [f"is before {first}."]})
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed(
            _("A statement of account spans at most %(max_days)s days.") % {"max_days": MAX_DAYS},
            fields={"to": [f"is more than {MAX_DAYS} days after {first}."]},
        )
    account = Account.objects.filter(code=code, currency=currency).first()
    if account is None:
        raise NotFound(_("No ledger account %(code)r in %(currency)s.") % {"code": code, "currency": currency})
    totals = JournalLine.objects.filter(account=account, entry__occurred_on__lte=last).aggregate(
        opening=Sum("amount", filter=Q(entry__occurred_on__lt=first), default=0),
        debits=Sum("amount", filter=Q(entry__occurred_on__gte=first, amount__gt=0), default=0),
        credits=Sum("amount", filter=Q(entry__occurred_on__gte=first, amount__lt=0), default=0),
    )
    opening = int(totals["opening"])
    with connection.cursor() as cursor:
        cursor.execute(
            _LINES_SQL,
            {"opening": opening, "account": account.pk, "first": first, "last": last, "limit": MAX_LINES + 1},
        )
        rows = cursor.fetchall()
    lines = [
        AccountStatementLine(
            entry_id=row[0],
            occurred_on=row[1],
            memo=row[2],
            description=row[3],
            amount=int(row[4]),
            balance=int(row[5]),
        )
        for row in rows[:MAX_LINES]
    ]
    return AccountStatement(
        code=account.code,
        currency=account.currency,
        kind=account.kind,
        first=first,
        last=last,
        opening=opening,
        debits=int(totals["debits"]),
        credits=-int(totals["credits"]),
        lines=lines,
        truncated=len(rows) > MAX_LINES,
    )
