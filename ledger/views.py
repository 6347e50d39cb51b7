"""The ledger's pages for finance: the trial balance per currency, the journal, its CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.currencies import format_money
from core.errors import ApplicationError
from core.exports import csv_response
from core.periods import add_months
from core.permissions import finance_required
from core.views import form_failure, or_404
from ledger.forms import AccountStatementForm
from ledger.models import JournalEntry
from ledger.selectors.balances import LEDGER_EXPORT_HEADER, journal_entries, journal_lines_export, trial_balance
from ledger.selectors.statements import account_statement

PAGE_SIZE = 50
_ONE_DAY = timedelta(days=1)


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
    return JournalRow(
        entry=entry,
        lines=[
            JournalLineRow(
                account=line.account.code,
                description=line.description,
                debit=format_money(line.amount, line.currency) if line.amount > 0 else "",
                credit=format_money(-line.amount, line.currency) if line.amount < 0 else "",
            )
            for line in entry.lines.all()
        ],
    )


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
            accounts=[
                BalanceRow(
                    code=a.code,
                    kind=a.kind,
                    debits=format_money(a.debits, a.currency),
                    credits=format_money(a.credits, a.currency),
                    balance=format_money(abs(a.balance), a.currency),
                    side="Dr" if a.balance > 0 else "Cr" if a.balance < 0 else "",
                )
                for a in tb.accounts
            ],
            total_debits=format_money(tb.total_debits, tb.currency),
            total_credits=format_money(tb.total_credits, tb.currency),
            balanced=tb.balanced,
        )
        for tb in trial_balance()
    ]
    page = Paginator(journal_entries(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "ledger/console_ledger.html",
        {
            "balances": balances,
            "page": page,
            "entries": [journal_row(entry) for entry in page.object_list],
        },
    )


@finance_required
def console_ledger_export(request: HttpRequest) -> StreamingHttpResponse:
    return csv_response("ledger.csv", LEDGER_EXPORT_HEADER, journal_lines_export())


@finance_required
def console_account_statement(request: HttpRequest, code: str, currency: str) -> HttpResponse:
    """One account's statement of account; the current month unless a span is asked for."""
    this_month = timezone.now().date().replace(day=1)
    month_end = add_months(this_month, 1) - _ONE_DAY
    form = AccountStatementForm(request.GET or None, initial={"start": this_month, "end": month_end})
    context: dict[str, object] = {"form": form, "code": code, "currency": currency}
    if request.GET and not form.is_valid():
        error: ApplicationError = form_failure(form)
        return render(
            request, "ledger/console_account_statement.html", {**context, "error": error.message}, status=error.status
        )
    first = form.cleaned_data["start"] if form.is_bound else this_month
    last = form.cleaned_data["end"] if form.is_bound else month_end
    try:
        statement = or_404(account_statement, code=code, currency=currency, first=first, last=last)
    except ApplicationError as error:  # a span the selector refuses: said on the page, 400
        return render(
            request, "ledger/console_account_statement.html", {**context, "error": error.message}, status=error.status
        )

    def money(amount: int) -> str:
        return format_money(amount, statement.currency)

    return render(
        request,
        "ledger/console_account_statement.html",
        {
            **context,
            "statement": statement,
            "opening": money(statement.opening),
            "closing": money(statement.closing),
            "debits": money(statement.debits),
            "credits": money(statement.credits),
            "rows": [
                (
                    line,
                    money(line.debit) if line.debit else "",
                    money(line.credit) if line.credit else "",
                    money(line.balance),
                )
                for line in statement.lines
            ],
        },
    )
