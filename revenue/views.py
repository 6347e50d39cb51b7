"""The revenue engine's web pages: the partner's revenue and sales, the finance console
(settlement, statements, ledger, exports) and the account manager's contract simulator.

Views are thin, as in contracts.views: a form checks the input's shape, a selector reads
or a service writes, a template renders. Every read is scoped by the selectors, so
another partner's statement is a 404 and a partner never sees a draft. When a service
refuses, the page is drawn again with its message and its status (400, 403, 409) and
nothing has changed. Amounts reach templates already formatted (core.currencies).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext
from django.views.decorators.http import require_GET, require_POST

from contracts.models import Partner, Placement
from contracts.selectors import (
    contract_draft_defaults,
    contract_version_effective,
    partner_today,
    payee_slugs,
    period_start,
    placement_get,
    viewer_partner,
)
from contracts.terms import ATTRIBUTION_KEY_LABELS, terms_validate
from core.charts import CHART_MONTHS, ChartSeries, TimeChart
from core.currencies import format_money
from core.errors import ApplicationError, ValidationFailed
from core.models import User
from core.periods import add_months, months_between, period_text
from core.permissions import console_required, finance_required, partner_required
from core.views import form_failure, or_404, page_of, render_failure
from ledger.views import journal_row
from revenue import exports
from revenue.forms import (
    AdjustmentForm,
    ExportForm,
    InquiryCommentForm,
    InquiryForm,
    InquiryResolveForm,
    SalesFilterForm,
    SettlementRunForm,
    SimulateForm,
    StatementFilterForm,
    UploadForm,
)
from revenue.line_text import line_description
from revenue.models import Inquiry, Sale, SaleUpload, SaleUploadRejection, SettlementRun, Statement, StatementLine
from revenue.selectors import reports
from revenue.selectors.inquiries import inquiry_get, inquiry_history, inquiry_list, reattribution_target
from revenue.selectors.statements import sales_by_key, settlement_runs, statement_get
from revenue.selectors.uploads import upload_get, upload_latest_with_rejections, upload_list, upload_rejections
from revenue.services import inquiries, settlement, statement_batches
from revenue.services.uploads import REQUIRED_COLUMNS, UPLOAD_COLUMNS, upload_create, upload_progress_percent

# --- access ------------------------------------------------------------------------------------


# --- shared pieces -------------------------------------------------------------------------------


def _statement_or_404(request: HttpRequest, statement_id: int) -> Statement:
    return or_404(statement_get, viewer=request.user, statement_id=statement_id)


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
        rows.append(
            LineRow(
                kind=line.kind,
                kind_label=line.get_kind_display(),
                description=line_description(kind=line.kind, description=line.description, period=statement.period),
                quantity=line.quantity,
                revenue=_money(line.revenue, statement.currency),
                amount="" if revenue_only else _money(line.amount, statement.currency),
            )
        )
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
    return [
        StatementRow(
            statement=s,
            net=_money(s.net, s.currency),
            wage=_money(s.wage, s.currency),
            total=_money(s.total, s.currency),
            payable=_money(s.payable, s.currency),
            credit_carried_forward=_money(s.credit_carried_forward, s.currency),
        )
        for s in statements
    ]


# --- charts over time -------------------------------------------------------------------------------
# The figures are rendered as a table (what a screen reader, a keyboard or a printout reads);
# static/core/charts.js draws the chart from that table with the vendored Chart.js.


def revenue_charts(rows: list[dict[str, Any]], *, current_period: date) -> list[TimeChart]:
    """One chart per currency: attributed sales per month, stacked by employee, from the first
    month with sales (within the last year) to the current month — not a year of empty months
    around the one that has sales."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    charts = []
    for currency, currency_rows in sorted(by_currency.items()):
        periods = months_between(
            min(row["period"] for row in currency_rows),
            max(current_period, max(row["period"] for row in currency_rows)),
        )
        amounts: dict[str, dict[date, int]] = {}
        for row in currency_rows:
            amounts.setdefault(row["employee"], {})[row["period"]] = row["revenue"]
        # the employee who earned most first: the bottom of the stack, the first column
        names = sorted(amounts, key=lambda name: (-sum(amounts[name].values()), name))
        charts.append(
            TimeChart(
                key=f"revenue-{currency.lower()}",
                title=_("Attributed sales by employee"),
                kind="bar",
                currency=currency,
                periods=periods,
                stacked=True,
                series=[
                    ChartSeries(name=name, values=[amounts[name].get(period, 0) for period in periods])
                    for name in names
                ],
            )
        )
    return charts


# --- partner portal ---------------------------------------------------------------------------------


@partner_required
def portal_revenue(request: HttpRequest) -> HttpResponse:
    page = page_of(request, reports.statements_brief(viewer=request.user))
    current = _current_period(request)
    months = reports.attributed_revenue_by_employee(
        viewer=request.user, period_from=add_months(current, -(CHART_MONTHS - 1))
    )
    return render(
        request,
        "revenue/portal_revenue.html",
        {
            "charts": revenue_charts(months, current_period=current),
            "owed": reports.wage_owed(viewer=request.user),
            "page": page,
            "rows": _statement_rows(page.object_list),
        },
    )


def _portal_statement_context(request: HttpRequest, statement: Statement, **extra: Any) -> dict[str, Any]:
    return {
        "statement": statement,
        "row": _statement_rows([statement])[0],
        "lines": _line_rows(statement),
        "carried_credit": _money(statement.carried_credit, statement.currency),
        **_inquiries_context(statement, side="partner", **extra),
    }


@partner_required
def portal_statement(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    return render(request, "revenue/portal_statement.html", _portal_statement_context(request, statement))


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
        explanation = (_(ATTRIBUTION_KEY_LABELS[key]) if key in ATTRIBUTION_KEY_LABELS else key) + explanation[
            len(key) :
        ]
    if source is not sale:
        refund = _("Refund of %(sale)s.") % {"sale": source.external_id}
        explanation = refund + (f" {explanation}" if explanation else "")
    when = sale.occurred_at.astimezone(zone) if zone is not None else sale.occurred_at
    return SaleRow(
        sale=sale,
        when=f"{when:%Y-%m-%d %H:%M}",
        amount=format_money(-sale.amount if sale.type == Sale.Type.REFUND else sale.amount, sale.currency),
        status=source.attribution,
        status_label=source.get_attribution_display(),
        key=key,
        explanation=explanation,
        employee=source.placement.employee.name if source.placement_id else "",
        key_label=_(ATTRIBUTION_KEY_LABELS[key]) if key in ATTRIBUTION_KEY_LABELS else key,
    )


@partner_required
def portal_sales(request: HttpRequest) -> HttpResponse:
    form = SalesFilterForm(request.GET)
    valid = form.is_valid()
    current = _current_period(request)
    period = (form.cleaned_data.get("period") if valid else None) or current
    attribution = (form.cleaned_data.get("attribution") if valid else None) or None
    page = reports.sales_page(viewer=request.user, period=period, attribution=attribution, number=_page_number(request))
    partner = viewer_partner(request.user)
    zone = ZoneInfo(partner.timezone) if partner is not None else None
    return render(
        request,
        "revenue/portal_sales.html",
        {
            "form": form,
            "period": period,
            "period_label": period_text(period),
            "previous_period": period_text(add_months(period, -1)),
            "next_period": period_text(add_months(period, 1)) if period < current else None,
            "page": page,
            "rows": [_sale_row(sale, zone) for sale in page.sales],
            "zone": partner.timezone if partner is not None else "UTC",
        },
        status=200 if valid else 400,
    )


# --- finance console: settlement ------------------------------------------------------------------


def _settlement_context(
    request: HttpRequest, *, run_form: SettlementRunForm | None = None, period: date | None = None
) -> dict[str, Any]:
    # Its own ids: the run form beside it also has a period field. After a batch action the
    # page shows the run's own period, whatever the query said.
    query = {"period": period_text(period)} if period is not None else request.GET
    form = StatementFilterForm(query, auto_id="filter_%s")
    valid = form.is_valid()
    period = (
        (form.cleaned_data.get("period") if valid else None)
        or reports.latest_statement_period(viewer=request.user)
        or add_months(period_start(timezone.now().date()), -1)
    )
    status = (form.cleaned_data.get("status") if valid else None) or None
    page = page_of(request, reports.statements_brief(viewer=request.user, period=period, status=status))
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
        return render(
            request, "revenue/console_settlement.html", context, status=200 if context["filter_valid"] else 400
        )
    form = SettlementRunForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        period = form.cleaned_data["period"]
        run = settlement.settlement_run_request(actor=request.user, period=period)
    except ApplicationError as error:
        context = _settlement_context(request, run_form=form)
        return render_failure(request, "revenue/console_settlement.html", {**context, "failed_action": "run"}, error)
    messages.success(
        request,
        _("Settlement of %(period)s is queued as run #%(number)s; its progress shows below.")
        % {"period": period_text(period), "number": run.pk},
    )
    return redirect(f"{reverse('console-settlement')}?period={period_text(period)}")


@finance_required
@require_POST
def console_settlement_run_batch(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    """Submit the drafts, or approve the statements in review, of one run: each statement
    through its own service and checks; the page lists what happened to each."""
    run = SettlementRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(_("No settlement run %(run_id)s.") % {"run_id": run_id})
    try:
        result = statement_batches.statements_batch_decide(actor=request.user, run=run, action=action)
    except ApplicationError as error:
        context = _settlement_context(request, period=run.period)
        return render_failure(
            request, "revenue/console_settlement.html", {**context, "failed_action": f"batch-{run.pk}"}, error
        )
    counts = result.counts
    done = statement_batches.ACTIONS[action][2]
    if not result.outcomes:
        nothing = (
            _("Run #%(number)s has no statement to submit.")
            if action == "submit"
            else _("Run #%(number)s has no statement to approve.")
        )
        messages.info(request, nothing % {"number": run.pk})
    else:
        count = counts[done]
        if action == "submit":
            outcome = ngettext("%(count)s statement submitted", "%(count)s statements submitted", count)
        else:
            outcome = ngettext("%(count)s statement approved", "%(count)s statements approved", count)
        outcome = outcome % {"count": count}
        if counts[statement_batches.REFUSED]:
            refused = _("%(count)s refused — see why below.") % {"count": counts[statement_batches.REFUSED]}
            messages.warning(request, f"{outcome}; {refused}")
        else:
            messages.success(request, f"{outcome}.")
    context = _settlement_context(request, period=run.period)
    return render(request, "revenue/console_settlement.html", {**context, "batch": result})


@finance_required
def console_settlement_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """htmx: one run's row, polled every 2 s while the run is queued or running."""
    run = SettlementRun.objects.select_related("requested_by").filter(pk=run_id).first()
    if run is None:
        raise Http404(_("No settlement run %(run_id)s.") % {"run_id": run_id})
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


def _console_statement_context(request: HttpRequest, statement: Statement, **extra: Any) -> dict[str, Any]:
    entry = reports.statement_journal_entry(statement=statement)
    currency = statement.currency
    status = Statement.Status
    return {
        "statement": statement,
        "row": _statement_rows([statement])[0],
        "lines": _line_rows(statement),
        "splits": [
            SplitRow(
                payee=split.payee.name,
                kind=split.payee.get_kind_display(),
                share=f"{split.share * 100:.2f}".rstrip("0").rstrip(".") + "%",
                amount=format_money(split.amount, currency),
            )
            for split in statement.splits.all()
        ],
        "adjustments": [
            (adjustment, format_money(adjustment.amount, currency))
            for adjustment in reports.statement_adjustments(statement=statement)
        ],
        "journal": journal_row(entry) if entry is not None else None,
        "figures": [
            ("Net revenue", _money(statement.net, currency)),
            ("Wage", _money(statement.wage, currency)),
            ("Clawback", _money(-statement.clawback, currency)),
            *(
                [("Outcome clawback", _money(-statement.outcome_clawback, currency))]
                if statement.outcome_clawback
                else []
            ),
            ("Credit brought forward", _money(-statement.carried_credit, currency)),
            ("Adjustments", _money(statement.adjustments, currency)),
            ("Total", _money(statement.total, currency)),
            ("Payable", _money(statement.payable, currency)),
            ("Credit carried forward", _money(statement.credit_carried_forward, currency)),
        ],
        "can_submit": statement.status == status.DRAFT,
        "can_approve": statement.status == status.IN_REVIEW,
        "needs_second_approver": (
            statement.status == status.IN_REVIEW
            and statement.submitted_by_id == request.user.pk
            and statement.payable > settlement.four_eyes_threshold(currency)
        ),
        "can_adjust": statement.status in (status.DRAFT, status.IN_REVIEW),
        "adjust_form": extra.pop("adjust_form", None) or AdjustmentForm(),
        "period_label": period_text(statement.period),
        **_inquiries_context(statement, side="platform", **extra),
    }


@finance_required
def console_statement(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    return render(request, "revenue/console_statement.html", _console_statement_context(request, statement))


_STATEMENT_ACTIONS: dict[str, tuple[Callable[..., Statement], str]] = {
    "submit": (settlement.statement_submit, gettext_noop("Statement #{pk} is in review.")),
    "approve": (settlement.statement_approve, gettext_noop("Statement #{pk} is approved and posted to the ledger.")),
}


def _statement_action(request: HttpRequest, statement_id: int, action: str) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    service, done = _STATEMENT_ACTIONS[action]
    try:
        statement = service(actor=request.user, statement=statement)
    except ApplicationError as error:
        context = _console_statement_context(request, _statement_or_404(request, statement_id), failed_action=action)
        return render_failure(request, "revenue/console_statement.html", context, error)
    if action == "approve" and statement.status == Statement.Status.CLOSED:
        done = gettext_noop("Statement #{pk} is closed: nothing is due, so no invoice is made.")
    messages.success(request, _(done).format(pk=statement.pk))
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
            raise form_failure(form)
        updated = settlement.statement_adjust(
            actor=request.user,
            statement=statement,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as error:
        context = _console_statement_context(
            request, _statement_or_404(request, statement_id), adjust_form=form, failed_action="adjust"
        )
        return render_failure(request, "revenue/console_statement.html", context, error)
    messages.success(
        request,
        _(
            "Adjusted by %(amount)s; the total is now %(total)s. "
            "The statement is a draft again: send it to review when ready."
        )
        % {
            "amount": format_money(form.cleaned_data["amount"], statement.currency),
            "total": format_money(updated.total, updated.currency),
        },
    )
    return redirect("console-statement", statement.pk)


# --- inquiries and the evidence export (issue 15) ----------------------------------------------------------
# Both sides read the same inquiries on the statement's page: the partner opens, comments on and
# withdraws them in the portal; finance comments and accepts or rejects them in the console.


@dataclass(frozen=True)
class InquiryRow:
    inquiry: Inquiry
    subject: str
    history: list[Any]
    figures_before: str
    figures_after: str


def _inquiry_rows(statement: Statement) -> list[InquiryRow]:
    items = list(inquiry_list(statement=statement))
    history = inquiry_history(inquiries=items)
    labels = dict(StatementLine.Kind.choices)
    rows = []
    for item in items:
        subject = (
            str(labels.get(item.line_kind, item.line_kind))
            if item.line_kind
            else f"{item.sale.get_type_display()} {item.sale.external_id}"  # type: ignore[union-attr]
        )
        before, after = item.figures_before or {}, item.figures_after or {}
        rows.append(
            InquiryRow(
                inquiry=item,
                subject=subject,
                history=history[item.pk],
                figures_before=_money(before.get("total"), statement.currency) if before else "",
                figures_after=_money(after.get("total"), statement.currency) if after else "",
            )
        )
    return rows


def _inquiries_context(statement: Statement, *, side: str, **extra: Any) -> dict[str, Any]:
    rows = _inquiry_rows(statement)
    closes = inquiries.inquiry_window_closes(statement=statement)
    present = set(statement.lines.values_list("kind", flat=True))
    labels = dict(StatementLine.Kind.choices)
    context: dict[str, Any] = {
        "side": side,
        "inquiries": rows,
        "open_inquiries": [row for row in rows if row.inquiry.status == Inquiry.Status.OPEN],
        "inquiry_window_closes": closes,
        "can_inquire": closes is not None and timezone.now() <= closes,
        "inquiry_lines": [(kind, labels[kind]) for kind in inquiries.INQUIRABLE_LINES if kind in present],
        "inquiry_form": extra.pop("inquiry_form", None) or InquiryForm(),
        "comment_form": InquiryCommentForm(),
        "resolve_form": extra.pop("resolve_form", None) or InquiryResolveForm(),
    }
    if side == "platform":
        placement = statement.contract.placement
        context["other_placements"] = list(
            Placement.objects.filter(partner_id=placement.partner_id, contract__isnull=False)
            .exclude(pk=placement.pk)
            .select_related("employee")
            .order_by("id")
        )
    return {**context, **extra}


def _inquiry_or_404(request: HttpRequest, inquiry_id: int) -> Inquiry:
    return or_404(inquiry_get, viewer=request.user, inquiry_id=inquiry_id)


def _statement_page_failure(
    request: HttpRequest, statement_id: int, error: ApplicationError, **extra: Any
) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    if viewer_partner(request.user) is not None:
        context = _portal_statement_context(request, statement, **extra)
        return render_failure(request, "revenue/portal_statement.html", context, error)
    context = _console_statement_context(request, statement, **extra)
    return render_failure(request, "revenue/console_statement.html", context, error)


def _statement_page(request: HttpRequest, statement_id: int) -> HttpResponse:
    name = "portal-statement" if viewer_partner(request.user) is not None else "console-statement"
    return redirect(reverse(name, args=[statement_id]) + "#inquiries")


@partner_required
@require_POST
def portal_inquiry_open(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement_or_404(request, statement_id)
    form = InquiryForm(request.POST, request.FILES)
    try:
        if not form.is_valid():
            raise form_failure(form)
        subject = form.cleaned_data["subject"]
        sale = None
        line_kind = subject.removeprefix("line:") if subject.startswith("line:") else ""
        if subject == "sale":
            external_id = (form.cleaned_data["sale"] or "").strip()
            sale = sales_by_key(partner_ids=[statement.contract.placement.partner_id], external_id=external_id).first()
            if sale is None:
                raise ValidationFailed(
                    _("No sale or refund %(id)r.") % {"id": external_id},
                    fields={"sale": [_("no such sale or refund.")]},
                )
        inquiry = inquiries.inquiry_open(
            actor=request.user,
            statement=statement,
            reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"],
            line_kind=line_kind,
            sale=sale,
            attachment=form.cleaned_data.get("attachment"),
        )
    except ApplicationError as error:
        return _statement_page_failure(request, statement_id, error, inquiry_form=form, failed_action="inquiry")
    messages.success(request, _("Inquiry #%(pk)s is open; finance will answer it here.") % {"pk": inquiry.pk})
    return _statement_page(request, statement_id)


def _inquiry_comment(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    inquiry = _inquiry_or_404(request, inquiry_id)
    form = InquiryCommentForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        inquiries.inquiry_comment(actor=request.user, inquiry=inquiry, body=form.cleaned_data["body"])
    except ApplicationError as error:
        return _statement_page_failure(request, inquiry.statement_id, error, failed_action=f"comment-{inquiry.pk}")
    messages.success(request, _("Comment added to inquiry #%(pk)s.") % {"pk": inquiry.pk})
    return _statement_page(request, inquiry.statement_id)


@partner_required
@require_POST
def portal_inquiry_comment(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    return _inquiry_comment(request, inquiry_id)


@finance_required
@require_POST
def console_inquiry_comment(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    return _inquiry_comment(request, inquiry_id)


@partner_required
@require_POST
def portal_inquiry_withdraw(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    inquiry = _inquiry_or_404(request, inquiry_id)
    try:
        inquiries.inquiry_withdraw(actor=request.user, inquiry=inquiry)
    except ApplicationError as error:
        return _statement_page_failure(request, inquiry.statement_id, error, failed_action=f"withdraw-{inquiry.pk}")
    messages.success(request, _("Inquiry #%(pk)s is withdrawn.") % {"pk": inquiry.pk})
    return _statement_page(request, inquiry.statement_id)


@finance_required
@require_POST
def console_inquiry_resolve(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    inquiry = _inquiry_or_404(request, inquiry_id)
    form = InquiryResolveForm(request.POST)
    try:
        if not form.is_valid():
            raise form_failure(form)
        placement = reattribution_target(placement_id=form.cleaned_data.get("placement"))
        actor = request.user
        assert isinstance(actor, User)  # finance_required: a signed-in finance user
        resolved = inquiries.inquiry_resolve(
            actor=actor,
            inquiry=inquiry,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data.get("note") or "",
            reattribute_to=placement,
        )
    except ApplicationError as error:
        return _statement_page_failure(
            request, inquiry.statement_id, error, resolve_form=form, failed_action=f"resolve-{inquiry.pk}"
        )
    if resolved.status == Inquiry.Status.ACCEPTED:
        messages.success(
            request,
            _("Inquiry #%(pk)s accepted: the statement is re-rated and back in review.") % {"pk": resolved.pk},
        )
    else:
        messages.success(request, _("Inquiry #%(pk)s rejected; the figures are unchanged.") % {"pk": resolved.pk})
    return _statement_page(request, inquiry.statement_id)


def _inquiry_attachment(request: HttpRequest, inquiry_id: int) -> FileResponse:
    inquiry = _inquiry_or_404(request, inquiry_id)
    if not inquiry.attachment:
        raise Http404("This inquiry has no attachment.")
    return FileResponse(inquiry.attachment.open("rb"), as_attachment=True, filename=inquiry.attachment_name)


@partner_required
@require_GET
def portal_inquiry_attachment(request: HttpRequest, inquiry_id: int) -> FileResponse:
    return _inquiry_attachment(request, inquiry_id)


@finance_required
@require_GET
def console_inquiry_attachment(request: HttpRequest, inquiry_id: int) -> FileResponse:
    return _inquiry_attachment(request, inquiry_id)


@partner_required
@require_GET
def portal_statement_evidence(request: HttpRequest, statement_id: int, fmt: str) -> StreamingHttpResponse:
    return exports.statement_evidence(statement=_statement_or_404(request, statement_id), fmt=fmt)


@finance_required
@require_GET
def console_statement_evidence(request: HttpRequest, statement_id: int, fmt: str) -> StreamingHttpResponse:
    return exports.statement_evidence(statement=_statement_or_404(request, statement_id), fmt=fmt)


# --- CSV exports ----------------------------------------------------------------------------------------


@finance_required
def console_statements_export(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.GET)
    if not form.is_valid():
        error = form_failure(form)
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    return exports.statements_csv(viewer=request.user, period=form.cleaned_data["period"])


# --- partner portal: CSV uploads of sales and refunds (DESIGN.md §5b "Large files") ----------------
# The list polls each unfinished row with htmx until it is done; the rejection report streams as CSV.

UPLOADS_PAGE_SIZE = 25
REJECTIONS_PAGE_SIZE = 50
EXAMPLE = (
    "external_id,type,occurred_at,amount,currency,coupon_code,click_id,conversation_id,customer_ref,store_id,refund_of\n"
    "pos-8812-001,sale,2026-10-03T12:01:00+09:00,1280,JPY,RINNA-7F3K2,,,,tokyo-221,\n"
    "pos-8812-001-r,refund,2026-10-05T09:00:00+09:00,1280,JPY,,,,,,pos-8812-001\n"
)


def _member_partner(request: HttpRequest) -> Partner:
    partner = viewer_partner(request.user)
    if partner is None:
        raise DjangoPermissionDenied("Sales uploads are for a partner's members.")
    return partner


def _upload_or_404(request: HttpRequest, upload_id: int) -> SaleUpload:
    return or_404(upload_get, viewer=request.user, upload_id=upload_id)


def _upload_row(upload: SaleUpload) -> dict[str, Any]:
    active = upload.status in (SaleUpload.Status.QUEUED, SaleUpload.Status.PROCESSING)
    return {"upload": upload, "active": active, "percent": upload_progress_percent(upload)}


def _upload_rejected(request: HttpRequest, partner: Partner) -> tuple[SaleUpload | None, Any]:
    """The upload whose rejected rows show inline (?rejections=<id>, else the latest with
    any), and the page of them asked for (?rpage=)."""
    chosen = request.GET.get("rejections", "")
    if chosen.isdigit():
        upload = _upload_or_404(request, int(chosen))
    else:
        upload = upload_latest_with_rejections(partner=partner)
    if upload is None or not upload.rejected:
        return upload, None
    return upload, page_of(request, upload_rejections(upload=upload), size=REJECTIONS_PAGE_SIZE, param="rpage")


def _uploads_context(request: HttpRequest, partner: Partner | None, **extra: Any) -> dict[str, Any]:
    page = None
    rejected_upload, rejections = None, None
    if partner is not None:
        page = page_of(request, upload_list(partner=partner), size=UPLOADS_PAGE_SIZE)
        rejected_upload, rejections = _upload_rejected(request, partner)
    return {
        "rejected_upload": rejected_upload,
        "rejections": rejections,
        "partner": partner,
        "page": page,
        "rows": [_upload_row(upload) for upload in page] if page is not None else [],
        "form": form if (form := extra.pop("form", None)) is not None else UploadForm(),
        "columns": UPLOAD_COLUMNS,
        "required_columns": REQUIRED_COLUMNS,
        "example": EXAMPLE,
        **extra,
    }


@login_required
def portal_uploads(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "revenue/uploads.html", _uploads_context(request, _member_partner(request)))
    partner = viewer_partner(request.user)
    form = UploadForm(request.POST, request.FILES)
    try:
        if partner is None:
            raise DjangoPermissionDenied("Sales uploads are for a partner's members.")
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise ValidationFailed(str(errors[0]), fields={field: list(errors)})
        upload = upload_create(actor=request.user, partner=partner, file=form.cleaned_data.get("file"))
    except ApplicationError as error:
        return render_failure(request, "revenue/uploads.html", _uploads_context(request, partner, form=form), error)
    messages.success(
        request, _("“%(name)s” is uploaded; its rows are being processed.") % {"name": upload.original_name}
    )
    return redirect("portal-uploads")


@login_required
@require_GET
def portal_upload_row(request: HttpRequest, upload_id: int) -> HttpResponse:
    """One row of the list, for htmx to poll while the upload is processed."""
    upload = _upload_or_404(request, upload_id)
    return render(request, "revenue/upload_row.html", _upload_row(upload))


def _report_lines(upload: SaleUpload) -> Iterator[str]:
    class Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Line())
    yield writer.writerow(["row", "column", "code", "reason"])
    rejections = (
        SaleUploadRejection.objects.filter(upload=upload)
        .order_by("row_number", "id")
        .values_list("row_number", "column", "code", "reason")
    )
    for row in rejections.iterator(chunk_size=5000):
        yield writer.writerow(row)


@login_required
@require_GET
def portal_upload_rejections(request: HttpRequest, upload_id: int) -> StreamingHttpResponse:
    """The rejected rows of an upload as CSV: row number, column, code, reason."""
    upload = _upload_or_404(request, upload_id)
    stem = upload.original_name.rsplit(".", 1)[0] or "upload"
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in stem)[:80]
    response = StreamingHttpResponse(_report_lines(upload), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{safe}-rejections.csv"'
    return response


# --- account manager: contract simulator ---------------------------------------------------------------


def _placement_or_404(request: HttpRequest, placement_id: int) -> Placement:
    return or_404(placement_get, viewer=request.user, placement_id=placement_id)


def _simulation_defaults(placement: Placement, today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """A: the terms in force now (else the latest accepted, else the latest version, else
    the template).
    B: an amendment under discussion if there is one, else A without the minimum wage."""
    contract = placement.contract
    versions = contract.versions.order_by("-number")
    current = (
        contract_version_effective(contract=contract, on=today)
        or versions.filter(status="accepted").order_by("-effective_from").first()
        or versions.first()
    )
    # With no version yet, the template a first draft would start from.
    terms_a = _in_design_order(
        current.terms if current is not None else contract_draft_defaults(placement=placement)["terms"]
    )
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

    rows = [
        SimulatedRow(
            period=period_text(month.period),
            in_progress=month.in_progress,
            sales=fmt(month.activity.sales),
            refunds=fmt(-month.activity.refunds),
            net=fmt(month.activity.net),
            outcomes=month.activity.outcomes_recorded,
            calls=month.activity.calls,
            wage_a=fmt(month.wage_a),
            wage_b=fmt(month.wage_b),
            difference=diff(month.wage_b - month.wage_a),
            per_call=fmt(month.per_call),
        )
        for month in simulation.months
    ]
    return {
        "simulation": simulation,
        "rows": rows,
        "totals": {
            "net": fmt(simulation.total_net),
            "wage_a": fmt(simulation.total_a),
            "wage_b": fmt(simulation.total_b),
            "difference": diff(simulation.total_b - simulation.total_a),
            "calls": simulation.total_calls,
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
        raise Http404(_("This placement has no contract yet."))
    today = partner_today(partner=placement.partner)
    terms_a, terms_b = _simulation_defaults(placement, today)
    defaults = {
        "terms_a": json.dumps(terms_a, indent=2),
        "terms_b": json.dumps(terms_b, indent=2),
        "months": "12",
        "price_per_call": "10",
    }
    form = SimulateForm(request.POST if request.method == "POST" else defaults)
    errors: dict[str, dict[str, list[str]]] = {}
    context: dict[str, Any] = {"placement": placement, "form": form}
    canonical: dict[str, dict[str, Any]] = {}
    if form.is_valid():
        for side in ("terms_a", "terms_b"):
            try:
                canonical[side] = terms_validate(
                    form.cleaned_data[side], known_payees=payee_slugs(), required_currency=placement.contract.currency
                )
            except ValidationFailed as error:
                errors[side] = error.fields
    else:
        for side in ("terms_a", "terms_b"):
            if side in form.errors:
                errors[side] = {"terms": list(form.errors[side])}
    if not errors and form.is_valid():
        simulation = reports.contract_simulate(
            placement=placement,
            terms_a=canonical["terms_a"],
            terms_b=canonical["terms_b"],
            months=form.cleaned_data["months"],
            price_per_call=form.cleaned_data["price_per_call"],
            current_period=period_start(today),
        )
        context.update(_simulation_rows(simulation))
    context["errors"] = errors
    invalid = bool(errors) or not form.is_valid()
    partial = request.htmx and not request.htmx.history_restore_request
    template = "revenue/_simulate_results.html" if partial else "revenue/console_simulate.html"
    status = (422 if partial else 400) if invalid else 200
    return render(request, template, context, status=status)
