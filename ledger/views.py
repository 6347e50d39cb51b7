"""The ledger's pages for finance: the trial balance per currency, the journal, its CSV."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from core.currencies import format_money
from core.exports import csv_response
from core.permissions import finance_required
from ledger.models import JournalEntry
from ledger.selectors.balances import LEDGER_EXPORT_HEADER, journal_entries, journal_lines_export, trial_balance

PAGE_SIZE = 50


@dataclass(frozen=True)
class JournalLineRow:
    account: str
    description: str
    debit: str
    credit: str


@dataclass(frozen=True)
class JournalRow:
    entry: JournalEntry
    lines: list[JournalLineRow]


def journal_row(entry: JournalEntry) -> JournalRow:
    return JournalRow(entry=entry, lines=[
        JournalLineRow(account=line.account.code, description=line.description,
                       debit=format_money(line.amount, line.currency) if line.amount > 0 else "",
                       credit=format_money(-line.amount, line.currency) if line.amount < 0 else "")
        for line in entry.lines.all()
    ])


@dataclass(frozen=True)
class BalanceRow:
    code: str
    kind: str
    debits: str
    credits: str
    balance: str
    side: str


@dataclass(frozen=True)
class TrialBalanceView:
    currency: str
    accounts: list[BalanceRow]
    total_debits: str
    total_credits: str
    balanced: bool


@finance_required
def console_ledger(request: HttpRequest) -> HttpResponse:
    balances = [
        TrialBalanceView(
            currency=tb.currency,
            accounts=[BalanceRow(code=a.code, kind=a.kind, debits=format_money(a.debits, a.currency),
                                 credits=format_money(a.credits, a.currency),
                                 balance=format_money(abs(a.balance), a.currency),
                                 side="Dr" if a.balance > 0 else "Cr" if a.balance < 0 else "")
                      for a in tb.accounts],
            total_debits=format_money(tb.total_debits, tb.currency),
            total_credits=format_money(tb.total_credits, tb.currency),
            balanced=tb.balanced,
        )
        for tb in trial_balance()
    ]
    page = Paginator(journal_entries(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "ledger/console_ledger.html", {
        "balances": balances,
        "page": page,
        "entries": [journal_row(entry) for entry in page.object_list],
    })


@finance_required
def console_ledger_export(request: HttpRequest) -> StreamingHttpResponse:
    return csv_response("ledger.csv", LEDGER_EXPORT_HEADER, journal_lines_export())
