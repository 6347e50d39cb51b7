from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum

from ledger.models import Account, JournalEntry, JournalLine


@dataclass(frozen=True)
class AccountBalance:
    code: str
    currency: str
    kind: str
    debits: int
    credits: int  # as a positive number

    @property
    def balance(self) -> int:
        """Debit-positive balance: assets show positive, liabilities and revenue negative."""
        return self.debits - self.credits


def account_balances(*, currency: str | None = None, code_prefix: str | None = None) -> list[AccountBalance]:
    accounts: QuerySet[Account] = Account.objects.all()
    if currency:
        accounts = accounts.filter(currency=currency)
    if code_prefix:
        accounts = accounts.filter(code__startswith=code_prefix)
    rows = accounts.annotate(
        debits=Sum("lines__amount", filter=Q(lines__amount__gt=0), default=0),
        credits=Sum("lines__amount", filter=Q(lines__amount__lt=0), default=0),
    ).order_by("currency", "code")
    return [
        AccountBalance(code=row.code, currency=row.currency, kind=row.kind, debits=row.debits, credits=-row.credits)
        for row in rows
    ]


def account_balance(*, code: str, currency: str) -> int:
    total = Account.objects.filter(code=code, currency=currency).aggregate(total=Sum("lines__amount", default=0))[
        "total"
    ]
    return int(total)


@dataclass(frozen=True)
class TrialBalance:
    currency: str
    accounts: list[AccountBalance]

    @property
    def total_debits(self) -> int:
        return sum(account.balance for account in self.accounts if account.balance > 0)

    @property
    def total_credits(self) -> int:
        return -sum(account.balance for account in self.accounts if account.balance < 0)

    @property
    def balanced(self) -> bool:
        return self.total_debits == self.total_credits


def trial_balance() -> list[TrialBalance]:
    by_currency: dict[str, list[AccountBalance]] = {}
    for balance in account_balances():
        by_currency.setdefault(balance.currency, []).append(balance)
    return [TrialBalance(currency=currency, accounts=accounts) for currency, accounts in sorted(by_currency.items())]


def journal_entries(*, account_code: str | None = None) -> QuerySet[JournalEntry]:
    entries = JournalEntry.objects.prefetch_related("lines__account").select_related("posted_by")
    if account_code:
        entries = entries.filter(lines__account__code=account_code).distinct()
    return entries.order_by("-posted_at", "-id")


LEDGER_EXPORT_HEADER = ["entry_id", "occurred_on", "memo", "account", "currency", "debit", "credit"]


def journal_lines_export() -> Iterator[tuple[Any, ...]]:
    """One row per journal line, debit and credit as positive minor units."""
    rows = JournalLine.objects.order_by("entry_id", "id").values_list(
        "entry_id", "entry__occurred_on", "entry__memo", "account__code", "currency", "amount"
    )
    for entry_id, occurred_on, memo, account, currency, amount in rows.iterator(chunk_size=2000):
        yield (
            entry_id,
            occurred_on.isoformat(),
            memo,
            account,
            currency,
            amount if amount > 0 else 0,
            -amount if amount < 0 else 0,
        )
