"""The revenue engine's web pages: the partner's revenue and sales, the finance console
(settlement, statements, ledger, exports) and the account manager's contract simulator.

Views are thin, as in contracts.views: a form checks the input's shape, a selector reads
or a service writes, a template renders. Every read is scoped by the selectors, so
another partner's statement is a 404 and a partner never sees a draft. When a service
refuses, the page is drawn again with its message and its status (400, 403, 409) and
nothing has changed. Amounts reach templates already formatted (core.currencies).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from contracts.models import Placement
from contracts.selectors import (
    contract_draft_defaults,
    contract_version_effective,
    partner_today,
    payee_slugs,
    period_start,
    placement_get,
    viewer_partner,
    viewer_partner_id,
)
from contracts.terms import ATTRIBUTION_KEY_LABELS, terms_validate
from core.currencies import format_money
from core.errors import ApplicationError, NotFound, ValidationFailed
from core.models import User
from core.views import console_required, render_failure
from revenue import exports
from revenue.forms import (
    AdjustmentForm,
    ExportForm,
    SalesFilterForm,
    SettlementRunForm,
    SimulateForm,
    StatementFilterForm,
    TrendsForm,
    period_text,
)
from revenue.models import JournalEntry, Sale, SettlementRun, Statement
from revenue.selectors import reports, trends
from revenue.selectors.ledger import journal_entries as journal_entry_list
from revenue.selectors.ledger import trial_balance
from revenue.selectors.statements import settlement_runs, statement_get
from revenue.services import settlement, statement_batches

PAGE_SIZE = 50
FINANCE_ROLES = (User.Role.FINANCE, User.Role.STAFF)


# --- access ------------------------------------------------------------------------------------


def partner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in as a partner member. The portal's revenue pages speak for one partner;
    the platform's own people read the same figures in the console."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if viewer_partner_id(request.user) is None:
            raise DjangoPermissionDenied("These portal pages are for partner members; use the console.")
        return view(request, *args, **kwargs)

    return wrapped


def finance_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Finance and staff only: account managers and partners get a 403."""

    @console_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.role not in FINANCE_ROLES:
            raise DjangoPermissionDenied("The finance console is for finance.")
        return view(request, *args, **kwargs)

    return wrapped


# --- shared pieces -------------------------------------------------------------------------------


def _form_failure(form: Any) -> ValidationFailed:
    """A form's errors in the services' shape, so both kinds of refusal render alike."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        message = f"{label}: {errors[0]}" if label else str(errors[0])
        return ValidationFailed(message, fields={k: list(v) for k, v in form.errors.items()})
    return ValidationFailed("The form is not valid.")


def _statement_or_404(request: HttpRequest, statement_id: int) -> Statement:
    try:
        return statement_get(viewer=request.user, statement_id=statement_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _page(request: HttpRequest, items: QuerySet[Any]) -> Page:
    # get_page copes with a missing, non-numeric or out-of-range ?page=.
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))


def _page_number(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("page", "1")), 1), 100_000)
    except ValueError:
        return 1


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else format_money(amount, currency)


def _current_period(request: HttpRequest) -> date:
    partner = viewer_partner(request.user)
    if partner is not None:
        return period_start(partner_today(partner=partner))
    return period_start(timezone.now().date())


@dataclass(frozen=True)
class LineRow:
    kind: str
    kind_label: str
    description: str
    quantity: int | None
    revenue: str
    amount: str


def _line_rows(statement: Statement) -> list[LineRow]:
    rows = []
    for line in statement.lines.all():
        # Revenue lines describe revenue and add nothing to the total: no amount shown.
        revenue_only = line.revenue is not None and line.amount == 0
        rows.append(LineRow(kind=line.kind, kind_label=line.get_kind_display(), description=line.description,
                            quantity=line.quantity, revenue=_money(line.revenue, statement.currency),
                            amount="" if revenue_only else _money(line.amount, statement.currency)))
    return rows


@dataclass(frozen=True)
class StatementRow:
    statement: Statement
    net: str
    wage: str
    total: str
    payable: str
    credit_carried_forward: str


def _statement_rows(statements: Iterable[Statement]) -> list[StatementRow]:
    return [StatementRow(statement=s, net=_money(s.net, s.currency), wage=_money(s.wage, s.currency),
                         total=_money(s.total, s.currency), payable=_money(s.payable, s.currency),
                         credit_carried_forward=_money(s.credit_carried_forward, s.currency))
            for s in statements]


# --- charts over time -------------------------------------------------------------------------------
# The figures are rendered as a table (what a screen reader, a keyboard or a printout reads);
# static/core/charts.js draws the chart from that table with the vendored Chart.js.

CHART_MONTHS = 12


@dataclass(frozen=True)
class ChartSeries:
    name: str
    values: list[int]


@dataclass(frozen=True)
class ChartCell:
    value: int
    formatted: str


@dataclass(frozen=True)
class ChartRow:
    period: date
    label: str
    cells: list[ChartCell]


@dataclass(frozen=True)
class TimeChart:
    key: str              # unique on the page: the ids of its parts
    title: str
    kind: str             # "bar" or "line"
    currency: str
    periods: list[date]
    series: list[ChartSeries]
    stacked: bool = False

    @property
    def rows(self) -> list[ChartRow]:
        return [ChartRow(period=period, label=f"{period:%b %Y}",
                         cells=[ChartCell(value=series.values[index],
                                          formatted=format_money(series.values[index], self.currency))
                                for series in self.series])
                for index, period in enumerate(self.periods)]

    @property
    def total(self) -> int:
        return sum(sum(series.values) for series in self.series)

    @property
    def summary(self) -> str:
        """One sentence a screen reader announces for the whole chart."""
        if not self.periods:
            return f"{self.title}: no figures."
        span = f"{self.periods[0]:%b %Y}" + (f" to {self.periods[-1]:%b %Y}" if len(self.periods) > 1 else "")
        if self.kind == "line":
            last = "; ".join(f"{series.name} {format_money(series.values[-1], self.currency)}"
                             for series in self.series)
            return f"{self.title} in {self.currency}, {span}. At the end of {self.periods[-1]:%b %Y}: {last}."
        per_month = [sum(series.values[index] for series in self.series) for index in range(len(self.periods))]
        peak = max(range(len(per_month)), key=lambda index: (per_month[index], -index))
        return (f"{self.title} in {self.currency}, {span}: {format_money(self.total, self.currency)} in all; "
                f"highest month {self.periods[peak]:%b %Y} ({format_money(per_month[peak], self.currency)}).")


def _months(first: date, last: date) -> list[date]:
    periods = [first]
    while periods[-1] < last:
        periods.append(reports.add_months(periods[-1], 1))
    return periods


def revenue_charts(rows: list[dict[str, Any]], *, current_period: date) -> list[TimeChart]:
    """One chart per currency: attributed sales per month, stacked by employee, from the first
    month with sales (within the last year) to the current month — not a year of empty months
    around the one that has sales."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    charts = []
    for currency, currency_rows in sorted(by_currency.items()):
        periods = _months(min(row["period"] for row in currency_rows),
                          max(current_period, max(row["period"] for row in currency_rows)))
        amounts: dict[str, dict[date, int]] = {}
        for row in currency_rows:
            amounts.setdefault(row["employee"], {})[row["period"]] = row["revenue"]
        # the employee who earned most first: the bottom of the stack, the first column
        names = sorted(amounts, key=lambda name: (-sum(amounts[name].values()), name))
        charts.append(TimeChart(
            key=f"revenue-{currency.lower()}", title="Attributed sales by employee", kind="bar",
            currency=currency, periods=periods, stacked=True,
            series=[ChartSeries(name=name, values=[amounts[name].get(period, 0) for period in periods])
                    for name in names]))
    return charts


# --- partner portal ---------------------------------------------------------------------------------


@partner_required
def portal_revenue(request: HttpRequest) -> HttpResponse:
    page = _page(request, reports.statements_brief(viewer=request.user))
    current = _current_period(request)
    months = trends.attributed_revenue_by_employee(
        viewer=request.user, period_from=reports.add_months(current, -(CHART_MONTHS - 1)))
    return render(request, "revenue/portal_revenue.html", {
        "charts": revenue_charts(months, current_period=current),
        "owed": reports.wage_owed(viewer=request.user),
        "page": page,
        "rows": _statement_rows(page.object_list),
    })


@partner_required
def portal_statement(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    return render(request, "revenue/portal_statement.html", {
        "statement": statement,
        "row": _statement_rows([statement])[0],
        "lines": _line_rows(statement),
        "carried_credit": _money(statement.carried_credit, statement.currency),
    })


@dataclass(frozen=True)
class SaleRow:
    sale: Sale
    when: str
    amount: str
    status: str
    status_label: str
    key: str
    explanation: str
    employee: str
    key_label: str = ""


def _sale_row(sale: Sale, zone: Any) -> SaleRow:
    # A refund follows its sale: it shows the sale's attribution, and says which sale.
    source = sale.refund_of if sale.type == Sale.Type.REFUND and sale.refund_of else sale
    explanation = source.attribution_note
    key = source.attributed_key
    if key and explanation.startswith(f"{key} "):
        # The stored note names the key as the API does; a partner reads its plain name.
        explanation = ATTRIBUTION_KEY_LABELS.get(key, key) + explanation[len(key):]
    if source is not sale:
        explanation = f"Refund of {source.external_id}." + (f" {explanation}" if explanation else "")
    when = sale.occurred_at.astimezone(zone) if zone is not None else sale.occurred_at
    return SaleRow(
        sale=sale, when=f"{when:%Y-%m-%d %H:%M}",
        amount=format_money(-sale.amount if sale.type == Sale.Type.REFUND else sale.amount, sale.currency),
        status=source.attribution, status_label=source.get_attribution_display(),
        key=key, explanation=explanation,
        employee=source.placement.employee.name if source.placement_id else "",
        key_label=ATTRIBUTION_KEY_LABELS.get(key, key),
    )


@partner_required
def portal_sales(request: HttpRequest) -> HttpResponse:
    form = SalesFilterForm(request.GET)
    valid = form.is_valid()
    current = _current_period(request)
    period = (form.cleaned_data.get("period") if valid else None) or current
    attribution = (form.cleaned_data.get("attribution") if valid else None) or None
    page = reports.sales_page(viewer=request.user, period=period, attribution=attribution,
                              number=_page_number(request))
    partner = viewer_partner(request.user)
    zone = ZoneInfo(partner.timezone) if partner is not None else None
    return render(request, "revenue/portal_sales.html", {
        "form": form,
        "period": period,
        "period_label": period_text(period),
        "previous_period": period_text(reports.add_months(period, -1)),
        "next_period": period_text(reports.add_months(period, 1)) if period < current else None,
        "page": page,
        "rows": [_sale_row(sale, zone) for sale in page.sales],
        "zone": partner.timezone if partner is not None else "UTC",
    }, status=200 if valid else 400)


# --- finance console: settlement ------------------------------------------------------------------


def _settlement_context(request: HttpRequest, *, run_form: SettlementRunForm | None = None,
                        period: date | None = None) -> dict[str, Any]:
    # Its own ids: the run form beside it also has a period field. After a batch action the
    # page shows the run's own period, whatever the query said.
    query = {"period": period_text(period)} if period is not None else request.GET
    form = StatementFilterForm(query, auto_id="filter_%s")
    valid = form.is_valid()
    period = (form.cleaned_data.get("period") if valid else None) or reports.latest_statement_period(
        viewer=request.user) or reports.add_months(period_start(timezone.now().date()), -1)
    status = (form.cleaned_data.get("status") if valid else None) or None
    page = _page(request, reports.statements_brief(viewer=request.user, period=period, status=status))
    return {
        "filter_form": form,
        "filter_valid": valid,
        "run_form": run_form or SettlementRunForm(initial={"period": period}),
        "period": period,
        "period_label": period_text(period),
        "runs": settlement_runs(limit=10),
        "summary": reports.statement_period_summary(viewer=request.user, period=period),
        "page": page,
        "rows": _statement_rows(page.object_list),
    }


@finance_required
def console_settlement(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        context = _settlement_context(request)
        return render(request, "revenue/console_settlement.html", context,
                      status=200 if context["filter_valid"] else 400)
    form = SettlementRunForm(request.POST)
    try:
        if not form.is_valid():
            raise _form_failure(form)
        period = form.cleaned_data["period"]
        run = settlement.settlement_run_request(actor=request.user, period=period)
    except ApplicationError as error:
        context = _settlement_context(request, run_form=form)
        return render_failure(request, "revenue/console_settlement.html",
                              {**context, "failed_action": "run"}, error)
    messages.success(request, f"Settlement of {period_text(period)} is queued as run #{run.pk}; "
                              "its progress shows below.")
    return redirect(f"{reverse('console-settlement')}?period={period_text(period)}")


@finance_required
@require_POST
def console_settlement_run_batch(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    """Submit the drafts, or approve the statements in review, of one run: each statement
    through its own service and checks; the page lists what happened to each."""
    run = SettlementRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"No settlement run {run_id}.")
    try:
        result = statement_batches.statements_batch_decide(actor=request.user, run=run, action=action)
    except ApplicationError as error:
        context = _settlement_context(request, period=run.period)
        return render_failure(request, "revenue/console_settlement.html",
                              {**context, "failed_action": f"batch-{run.pk}"}, error)
    counts = result.counts
    done = statement_batches.ACTIONS[action][2]
    if not result.outcomes:
        messages.info(request, f"Run #{run.pk} has no statement to {action}.")
    elif counts[statement_batches.REFUSED]:
        messages.warning(request, f"{counts[done]} statement{pluralize(counts[done])} {done}; "
                                  f"{counts[statement_batches.REFUSED]} refused — see why below.")
    else:
        messages.success(request, f"{counts[done]} statement{pluralize(counts[done])} {done}.")
    context = _settlement_context(request, period=run.period)
    return render(request, "revenue/console_settlement.html", {**context, "batch": result})


@finance_required
def console_settlement_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """htmx: one run's row, polled every 2 s while the run is queued or running."""
    run = SettlementRun.objects.select_related("requested_by").filter(pk=run_id).first()
    if run is None:
        raise Http404(f"No settlement run {run_id}.")
    response = render(request, "revenue/_run_row.html", {"run": run})
    if request.htmx and run.status in (SettlementRun.Status.DONE, SettlementRun.Status.FAILED):
        # The row was polling, so the run finished while the page was open: reload it
        # once to list the statements the run wrote (the reloaded row no longer polls).
        response["HX-Refresh"] = "true"
    return response


# --- finance console: one statement -----------------------------------------------------------------


@dataclass(frozen=True)
class SplitRow:
    payee: str
    kind: str
    share: str
    amount: str


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


def _journal_row(entry: JournalEntry) -> JournalRow:
    return JournalRow(entry=entry, lines=[
        JournalLineRow(account=line.account.code, description=line.description,
                       debit=format_money(line.amount, line.currency) if line.amount > 0 else "",
                       credit=format_money(-line.amount, line.currency) if line.amount < 0 else "")
        for line in entry.lines.all()
    ])


def _console_statement_context(request: HttpRequest, statement: Statement, **extra: Any) -> dict[str, Any]:
    entry = reports.statement_journal_entry(statement=statement)
    currency = statement.currency
    status = Statement.Status
    return {
        "statement": statement,
        "row": _statement_rows([statement])[0],
        "lines": _line_rows(statement),
        "splits": [SplitRow(payee=split.payee.name, kind=split.payee.get_kind_display(),
                            share=f"{split.share * 100:.2f}".rstrip("0").rstrip(".") + "%",
                            amount=format_money(split.amount, currency))
                   for split in statement.splits.all()],
        "adjustments": [(adjustment, format_money(adjustment.amount, currency))
                        for adjustment in reports.statement_adjustments(statement=statement)],
        "journal": _journal_row(entry) if entry is not None else None,
        "figures": [
            ("Net revenue", _money(statement.net, currency)),
            ("Wage", _money(statement.wage, currency)),
            ("Clawback", _money(-statement.clawback, currency)),
            *([("Outcome clawback", _money(-statement.outcome_clawback, currency))]
              if statement.outcome_clawback else []),
            ("Credit brought forward", _money(-statement.carried_credit, currency)),
            ("Adjustments", _money(statement.adjustments, currency)),
            ("Total", _money(statement.total, currency)),
            ("Payable", _money(statement.payable, currency)),
            ("Credit carried forward", _money(statement.credit_carried_forward, currency)),
        ],
        "can_submit": statement.status == status.DRAFT,
        "can_approve": statement.status == status.IN_REVIEW,
        "needs_second_approver": (statement.status == status.IN_REVIEW
                                  and statement.submitted_by_id == request.user.pk
                                  and statement.payable > settlement.four_eyes_threshold(currency)),
        "can_adjust": statement.status in (status.DRAFT, status.IN_REVIEW),
        "adjust_form": extra.pop("adjust_form", None) or AdjustmentForm(),
        "period_label": period_text(statement.period),
        **extra,
    }


@finance_required
def console_statement(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    return render(request, "revenue/console_statement.html", _console_statement_context(request, statement))


_STATEMENT_ACTIONS: dict[str, tuple[Callable[..., Statement], str]] = {
    "submit": (settlement.statement_submit, "Statement #{pk} is in review."),
    "approve": (settlement.statement_approve, "Statement #{pk} is approved and posted to the ledger."),
}


def _statement_action(request: HttpRequest, statement_id: int, action: str) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    service, done = _STATEMENT_ACTIONS[action]
    try:
        statement = service(actor=request.user, statement=statement)
    except ApplicationError as error:
        context = _console_statement_context(request, _statement_or_404(request, statement_id),
                                             failed_action=action)
        return render_failure(request, "revenue/console_statement.html", context, error)
    if action == "approve" and statement.status == Statement.Status.CLOSED:
        done = "Statement #{pk} is closed: nothing is due, so no invoice is made."
    messages.success(request, done.format(pk=statement.pk))
    return redirect("console-statement", statement.pk)


@finance_required
@require_POST
def console_statement_submit(request: HttpRequest, statement_id: int) -> HttpResponse:
    return _statement_action(request, statement_id, "submit")


@finance_required
@require_POST
def console_statement_approve(request: HttpRequest, statement_id: int) -> HttpResponse:
    return _statement_action(request, statement_id, "approve")


@finance_required
@require_POST
def console_statement_adjust(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    form = AdjustmentForm(request.POST)
    try:
        if not form.is_valid():
            raise _form_failure(form)
        updated = settlement.statement_adjust(actor=request.user, statement=statement,
                                              amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        context = _console_statement_context(request, _statement_or_404(request, statement_id),
                                             adjust_form=form, failed_action="adjust")
        return render_failure(request, "revenue/console_statement.html", context, error)
    messages.success(request, f"Adjusted by {format_money(form.cleaned_data['amount'], statement.currency)}; "
                              f"the total is now {format_money(updated.total, updated.currency)}. "
                              "The statement is a draft again: send it to review when ready.")
    return redirect("console-statement", statement.pk)


# --- finance console: ledger ---------------------------------------------------------------------------


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
    page = _page(request, journal_entry_list())
    return render(request, "revenue/console_ledger.html", {
        "balances": balances,
        "page": page,
        "entries": [_journal_row(entry) for entry in page.object_list],
    })


@finance_required
def console_trends(request: HttpRequest) -> HttpResponse:
    """Finance's figures over time, in one currency: wages on approved statements, payouts
    sent, and the ledger's balances at each month's end."""
    currencies = trends.chart_currencies()
    form = TrendsForm(request.GET or None, currencies=currencies)
    if request.GET and not form.is_valid():
        return render(request, "revenue/console_trends.html", {"form": form, "charts": []}, status=400)
    currency = form.cleaned_data["currency"] if form.is_bound else (currencies[0] if currencies else "")
    months = form.cleaned_data["months"] if form.is_bound else CHART_MONTHS
    last = period_start(timezone.now().date())
    first = reports.add_months(last, -(months - 1))
    periods = _months(first, last)
    charts: list[TimeChart] = []
    if currency:
        wages = trends.wages_by_month(currency=currency, period_from=first, period_to=last)
        payouts = trends.payouts_by_month(currency=currency, period_from=first, period_to=last)
        balances = trends.ledger_balances_by_month(currency=currency, period_from=first, period_to=last)
        charts = [
            TimeChart(key="wages", title="Wages on approved statements", kind="bar", currency=currency,
                      periods=periods, series=[
                          ChartSeries(name="Wage", values=[wages.get(p, {}).get("wage", 0) for p in periods]),
                          ChartSeries(name="Payable", values=[wages.get(p, {}).get("payable", 0) for p in periods])]),
            TimeChart(key="payouts", title="Payouts sent", kind="bar", currency=currency, periods=periods,
                      series=[ChartSeries(name="Sent to payees", values=[payouts.get(p, 0) for p in periods])]),
            TimeChart(key="ledger", title="Ledger balances at month end", kind="line", currency=currency,
                      periods=periods, series=[
                          ChartSeries(name=trends.LEDGER_GROUPS.get(group, group),
                                      values=[balances[group][p] for p in periods])
                          for group in sorted(balances, key=lambda g: list(trends.LEDGER_GROUPS).index(g)
                                              if g in trends.LEDGER_GROUPS else len(trends.LEDGER_GROUPS))]),
        ]
    return render(request, "revenue/console_trends.html", {"form": form, "charts": charts, "currency": currency,
                                                           "months": months})


# --- CSV exports ----------------------------------------------------------------------------------------


@finance_required
def console_statements_export(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.GET)
    if not form.is_valid():
        error = _form_failure(form)
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    return exports.statements_csv(viewer=request.user, period=form.cleaned_data["period"])


@finance_required
def console_ledger_export(request: HttpRequest) -> HttpResponse:
    return exports.ledger_csv()


# --- account manager: contract simulator ---------------------------------------------------------------


def _placement_or_404(request: HttpRequest, placement_id: int) -> Placement:
    try:
        return placement_get(viewer=request.user, placement_id=placement_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _simulation_defaults(placement: Placement, today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """A: the terms in force now (else the latest accepted, else the latest version, else
    the template).
    B: an amendment under discussion if there is one, else A without the minimum wage."""
    contract = placement.contract
    versions = contract.versions.order_by("-number")
    current = (contract_version_effective(contract=contract, on=today)
               or versions.filter(status="accepted").order_by("-effective_from").first() or versions.first())
    # With no version yet, the template a first draft would start from.
    terms_a = _in_design_order(current.terms if current is not None
                               else contract_draft_defaults(placement=placement)["terms"])
    open_version = versions.filter(status__in=["draft", "proposed"]).first()
    if open_version is not None and open_version != current:
        terms_b = _in_design_order(open_version.terms)
    else:
        terms_b = {**terms_a, "minimum_per_period": None}
    return terms_a, terms_b


def _in_design_order(terms: dict[str, Any]) -> dict[str, Any]:
    # Stored terms come back from jsonb with their keys reordered; the canonical form has
    # DESIGN.md's order, which is how a person reads them.
    try:
        return terms_validate(terms)
    except ValidationFailed:
        return dict(terms)


@dataclass(frozen=True)
class SimulatedRow:
    period: str
    in_progress: bool
    sales: str
    refunds: str
    net: str
    outcomes: int
    calls: int
    wage_a: str
    wage_b: str
    difference: str
    per_call: str


def _simulation_rows(simulation: reports.Simulation) -> dict[str, Any]:
    currency = simulation.currency

    def fmt(amount: int) -> str:
        return format_money(amount, currency)

    def diff(amount: int) -> str:
        return ("+" if amount > 0 else "") + fmt(amount)

    rows = [SimulatedRow(period=period_text(month.period), in_progress=month.in_progress,
                         sales=fmt(month.activity.sales), refunds=fmt(-month.activity.refunds),
                         net=fmt(month.activity.net), outcomes=month.activity.outcomes_recorded,
                         calls=month.activity.calls, wage_a=fmt(month.wage_a), wage_b=fmt(month.wage_b),
                         difference=diff(month.wage_b - month.wage_a), per_call=fmt(month.per_call))
            for month in simulation.months]
    return {
        "simulation": simulation,
        "rows": rows,
        "totals": {
            "net": fmt(simulation.total_net), "wage_a": fmt(simulation.total_a), "wage_b": fmt(simulation.total_b),
            "difference": diff(simulation.total_b - simulation.total_a), "calls": simulation.total_calls,
            "per_call": fmt(simulation.total_per_call),
        },
        "price_per_call": fmt(simulation.price_per_call),
        "first_label": period_text(simulation.first),
        "last_label": period_text(simulation.last),
    }


@console_required
def console_simulate(request: HttpRequest, placement_id: int) -> HttpResponse:
    """Two sets of terms on the placement's real past sales, side by side. Reads only:
    nothing is drafted, saved or queued, whatever is typed."""
    placement = _placement_or_404(request, placement_id)
    if not hasattr(placement, "contract"):
        raise Http404("This placement has no contract yet.")
    today = partner_today(partner=placement.partner)
    terms_a, terms_b = _simulation_defaults(placement, today)
    defaults = {"terms_a": json.dumps(terms_a, indent=2), "terms_b": json.dumps(terms_b, indent=2),
                "months": "12", "price_per_call": "10"}
    form = SimulateForm(request.POST if request.method == "POST" else defaults)
    errors: dict[str, dict[str, list[str]]] = {}
    context: dict[str, Any] = {"placement": placement, "form": form}
    canonical: dict[str, dict[str, Any]] = {}
    if form.is_valid():
        for side in ("terms_a", "terms_b"):
            try:
                canonical[side] = terms_validate(form.cleaned_data[side], known_payees=payee_slugs(),
                                                 required_currency=placement.contract.currency)
            except ValidationFailed as error:
                errors[side] = error.fields
    else:
        for side in ("terms_a", "terms_b"):
            if side in form.errors:
                errors[side] = {"terms": list(form.errors[side])}
    if not errors and form.is_valid():
        simulation = reports.contract_simulate(
            placement=placement, terms_a=canonical["terms_a"], terms_b=canonical["terms_b"],
            months=form.cleaned_data["months"], price_per_call=form.cleaned_data["price_per_call"],
            current_period=period_start(today))
        context.update(_simulation_rows(simulation))
    context["errors"] = errors
    invalid = bool(errors) or not form.is_valid()
    partial = request.htmx and not request.htmx.history_restore_request
    template = "revenue/_simulate_results.html" if partial else "revenue/console_simulate.html"
    status = (422 if partial else 400) if invalid else 200
    return render(request, template, context, status=status)
