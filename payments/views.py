"""Payment pages. Finance console: invoices (issue, mark a manual one paid), payout runs
with htmx progress, payees (payment settings, Connect onboarding), the reconciliation
report, CSV exports and a PDF statement per partner and period. Partner portal: its
invoices and their status, and its PDF statements.

Thin like revenue.views: a form checks the shape, a service writes, a selector reads
(scoped: another partner's invoice or PDF is a 404). A refused action re-renders the page
with the service's message and status, and nothing has changed.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from contracts.forms import service_errors_onto
from contracts.models import Payee, PaymentProvider
from contracts.selectors import partners_visible, period_start, viewer_partner_id
from contracts.services import payee_create, payee_payment_settings_update
from core.charts import CHART_MONTHS, ChartSeries, TimeChart
from core.currencies import format_money
from core.errors import ApplicationError, NotFound, ValidationFailed
from core.exports import csv_response
from core.models import User
from core.periods import add_months, months_between, period_text
from core.permissions import console_required, finance_required, partner_required
from core.views import or_404, page_of, render_failure
from payments.forms import CreditNoteForm, TaxProfileForm, TrendsForm
from payments.models import Invoice, PayoutRun
from payments.pdf import invoice_pdf, statements_pdf
from payments.selectors import billing as selectors
from payments.selectors import trends
from payments.selectors.tax import partner_treatment
from payments.services import credit_notes, invoicing, payouts, reconciliation
from payments.services.tax import tax_profile_update
from payments.tax import rate_percent
from revenue.models import Statement


def money(amount: int | None, currency: str) -> str:
    return format_money(amount, currency)


# --- forms ---------------------------------------------------------------------------------------


class PayoutRunForm(forms.Form):
    as_of = forms.DateField(
        required=False,
        label="Pay money collected up to",
        help_text="Leave empty for now. Each payee's hold still applies.",
    )


class PayeeSettingsForm(forms.Form):
    payment_provider = forms.ChoiceField(choices=PaymentProvider.choices, required=False, label="Provider")
    minimum_payout = forms.IntegerField(min_value=0, label="Minimum payout (minor units)")
    hold_days = forms.IntegerField(min_value=0, max_value=365, label="Hold (days)")
    email = forms.EmailField(required=False)


class PayeeCreateForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.SlugField(
        max_length=64,
        label="Short name",
        help_text="How contract splits name the payee, e.g. “studio-aoi”. It cannot change.",
    )
    kind = forms.ChoiceField(choices=[c for c in Payee.Kind.choices if c[0] != Payee.Kind.PLATFORM])
    payment_provider = forms.ChoiceField(choices=PaymentProvider.choices, required=False, label="Provider")
    minimum_payout = forms.IntegerField(min_value=0, initial=0, label="Minimum payout (minor units)")
    hold_days = forms.IntegerField(min_value=0, max_value=365, initial=0, label="Hold (days)")
    email = forms.EmailField(required=False)


class MarkPaidForm(forms.Form):
    reference = forms.CharField(max_length=200, required=False, label="Bank reference")


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Invoice.Status.choices], required=False)


# --- finance console: invoices -----------------------------------------------------------------------


def _invoice_rows(invoices) -> list[dict[str, Any]]:
    return [
        {
            "invoice": invoice,
            "amount": money(invoice.amount, invoice.currency),
            "subtotal": money(invoice.subtotal, invoice.currency),
            "tax": money(invoice.tax_amount, invoice.currency),
            "tax_rates": ", ".join(
                f"{line['jurisdiction']} {rate_percent(line['rate'])}%" for line in invoice.tax_breakdown
            ),
            "amount_due": money(invoice.amount_due, invoice.currency),
            "credit_notes": [
                {
                    "note": note,
                    "amount": money(note.amount, note.currency),
                    "tax": money(note.tax_amount, note.currency),
                }
                for note in invoice.credit_notes.all()
            ],
            "statement": invoice.statement,
            "period": period_text(invoice.statement.period),
        }
        for invoice in invoices
    ]


def _invoices_context(request: HttpRequest) -> dict[str, Any]:
    filters = InvoiceFilterForm(request.GET or None)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    page = page_of(request, selectors.invoices_for(viewer=request.user, status=status or None))
    awaiting = [
        {"statement": s, "payable": money(s.payable, s.currency), "period": period_text(s.period)}
        for s in selectors.statements_awaiting_invoice()[:100]
    ]
    return {
        "filter_form": filters,
        "page": page,
        "rows": _invoice_rows(page.object_list),
        "awaiting": awaiting,
        "mark_paid_form": MarkPaidForm(),
        "credit_note_form": CreditNoteForm(),
        # Names this page's credit-note forms: a double submit is the same note.
        "nonce": secrets.token_hex(8),
    }


@finance_required
def console_invoices(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/console_invoices.html", _invoices_context(request))


@finance_required
@require_POST
def console_statement_invoice(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = Statement.objects.filter(pk=statement_id).first()
    if statement is None:
        raise Http404(_("No statement %(statement_id)s.") % {"statement_id": statement_id})
    try:
        invoice = invoicing.invoice_create(actor=request.user, statement=statement)
    except ApplicationError as error:
        return render_failure(request, "payments/console_invoices.html", _invoices_context(request), error)
    messages.success(
        request,
        _("Invoice #%(number)s for %(statement)s is being issued via %(provider)s.")
        % {"number": invoice.pk, "statement": statement, "provider": invoice.provider},
    )
    return redirect("console-invoices")


@finance_required
@require_POST
def console_invoice_mark_paid(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = or_404(selectors.invoice_get, viewer=request.user, invoice_id=invoice_id)
    form = MarkPaidForm(request.POST)
    reference = form.cleaned_data["reference"] if form.is_valid() else ""
    try:
        invoicing.invoice_mark_paid(actor=request.user, invoice=invoice, reference=reference)
    except ApplicationError as error:
        return render_failure(request, "payments/console_invoices.html", _invoices_context(request), error)
    messages.success(request, _("Invoice %(number)s is recorded as paid.") % {"number": invoice.number or invoice.pk})
    return redirect("console-invoices")


@finance_required
@require_POST
def console_invoice_issue(request: HttpRequest, invoice_id: int) -> HttpResponse:
    try:
        invoice = selectors.invoice_get(viewer=request.user, invoice_id=invoice_id)
        invoicing.invoice_issue_retry(actor=request.user, invoice=invoice)
    except NotFound as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        return render_failure(request, "payments/console_invoices.html", _invoices_context(request), error)
    messages.success(request, _("Invoice #%(number)s is being issued again.") % {"number": invoice.pk})
    return redirect("console-invoices")


@finance_required
@require_POST
def console_invoice_credit_note(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Finance credits part of an issued invoice (a correction agreed with the partner); the
    source names this form's request, so a double submit makes one note."""
    invoice = or_404(selectors.invoice_get, viewer=request.user, invoice_id=invoice_id)
    form = CreditNoteForm(request.POST)
    if not form.is_valid():
        error = ValidationFailed(_("The credit note is not valid."), fields=form.errors.get_json_data())
        return render_failure(request, "payments/console_invoices.html", _invoices_context(request), error)
    source = f"console:{request.POST.get('nonce', '')[:60] or timezone.now().isoformat()}"
    try:
        note = credit_notes.credit_note_issue(
            actor=cast(User, request.user),
            invoice=invoice,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            source=source,
        )
    except ApplicationError as error:
        return render_failure(request, "payments/console_invoices.html", _invoices_context(request), error)
    messages.success(request, _("Credit note #%(id)s is being issued.") % {"id": note.pk})
    return redirect("console-invoices")


def _invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = or_404(selectors.invoice_get, viewer=request.user, invoice_id=invoice_id)
    response = HttpResponse(
        invoice_pdf(invoice=invoice, platform_name=settings.PLATFORM_LEGAL_NAME), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'inline; filename="invoice-{invoice.number or invoice.pk}.pdf"'
    return response


@finance_required
def console_invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    return _invoice_pdf(request, invoice_id)


@partner_required
def portal_invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    return _invoice_pdf(request, invoice_id)


# --- tax profiles ----------------------------------------------------------------------------------


def _tax_context(partner: Any, form: TaxProfileForm | None = None) -> dict[str, Any]:
    treatment, profile = partner_treatment(partner)
    initial = (
        {"country": profile.country, "registration_number": profile.registration_number, "treatment": profile.treatment}
        if profile
        else {"treatment": "auto"}
    )
    return {
        "partner": partner,
        "profile": profile,
        "treatment": treatment,
        "form": form or TaxProfileForm(initial=initial),
        "platform_country": settings.PLATFORM_TAX_COUNTRY,
        "platform_number": settings.PLATFORM_TAX_REGISTRATION_NUMBER,
    }


@console_required
def console_partner_tax(request: HttpRequest, partner_id: int) -> HttpResponse:
    """Finance and the partner's account manager edit how it is taxed (the service says who)."""
    partner = partners_visible(viewer=request.user).filter(pk=partner_id).first()
    if partner is None:
        raise Http404(f"No partner {partner_id}.")
    if request.method == "POST":
        form = TaxProfileForm(request.POST)
        if not form.is_valid():
            error = ValidationFailed(_("The tax profile is not valid."), fields=form.errors.get_json_data())
            return render_failure(request, "payments/console_tax.html", _tax_context(partner, form), error)
        try:
            tax_profile_update(actor=cast(User, request.user), partner=partner, **form.cleaned_data)
        except ApplicationError as error:
            return render_failure(request, "payments/console_tax.html", _tax_context(partner, form), error)
        messages.success(request, _("The tax profile of %(partner)s is saved.") % {"partner": partner.name})
        return redirect("console-partner-tax", partner.pk)
    return render(request, "payments/console_tax.html", _tax_context(partner))


@partner_required
def portal_tax(request: HttpRequest) -> HttpResponse:
    partner = partners_visible(viewer=request.user).first()
    if partner is None:
        raise Http404("You do not belong to a partner organisation.")
    return render(request, "payments/portal_tax.html", _tax_context(partner))


@finance_required
def console_invoices_export(request: HttpRequest) -> HttpResponse:
    rows = (
        (
            i.pk,
            i.number,
            i.partner.slug,
            i.statement_id,
            period_text(i.statement.period),
            i.provider,
            i.provider_invoice_id,
            i.currency,
            i.subtotal,
            i.tax_amount,
            i.amount,
            i.amount_due,
            i.status,
            i.issued_at,
            i.paid_at,
            i.failure_message,
        )
        for i in selectors.invoices_for(viewer=request.user).iterator(chunk_size=500)
    )
    return csv_response(
        "invoices.csv",
        [
            "invoice",
            "number",
            "partner",
            "statement",
            "period",
            "provider",
            "provider_invoice_id",
            "currency",
            "subtotal_minor",
            "tax_minor",
            "amount_minor",
            "amount_due_minor",
            "status",
            "issued_at",
            "paid_at",
            "failure",
        ],
        rows,
    )


# --- finance console: payout runs ----------------------------------------------------------------------


def _payouts_context(request: HttpRequest, run_form: PayoutRunForm | None = None) -> dict[str, Any]:
    payouts_page = page_of(request, selectors.payouts_recent())
    return {
        "run_form": run_form or PayoutRunForm(),
        "runs": selectors.payout_runs()[:20],
        "page": payouts_page,
        "payouts": [{"payout": p, "amount": money(p.amount, p.currency)} for p in payouts_page.object_list],
        "held": [
            {
                "held": h,
                "amount": money(h.split.amount, h.split.statement.currency),
                "period": period_text(h.split.statement.period),
            }
            for h in selectors.payouts_held(as_of=timezone.now())
        ],
    }


@finance_required
def console_payouts(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "payments/console_payouts.html", _payouts_context(request))
    form = PayoutRunForm(request.POST)
    if not form.is_valid():
        return render(request, "payments/console_payouts.html", _payouts_context(request, form), status=400)
    day = form.cleaned_data["as_of"]
    as_of = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min)) if day else None
    try:
        run = payouts.payout_run_request(actor=request.user, as_of=as_of)
    except ApplicationError as error:
        return render_failure(request, "payments/console_payouts.html", _payouts_context(request, form), error)
    messages.success(request, _("Payout run #%(number)s is queued; its progress shows below.") % {"number": run.pk})
    return redirect("console-payouts")


@finance_required
def console_payout_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """htmx: one run's row, polled every 2 s while it is queued or running."""
    run = PayoutRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(_("No payout run %(run_id)s.") % {"run_id": run_id})
    response = render(request, "payments/_payout_run_row.html", {"run": run})
    if request.htmx and run.status in (PayoutRun.Status.DONE, PayoutRun.Status.FAILED):
        response["HX-Refresh"] = "true"
    return response


@finance_required
def console_payouts_export(request: HttpRequest) -> HttpResponse:
    rows = (
        (
            p.pk,
            p.run_id,
            p.payee.slug,
            p.payee.name,
            p.provider,
            p.destination,
            p.currency,
            p.amount,
            p.status,
            p.attempt,
            p.provider_transfer_id,
            p.sent_at,
            p.failure_message,
        )
        for p in selectors.payouts_recent().iterator()
    )
    return csv_response(
        "payouts.csv",
        [
            "payout",
            "run",
            "payee",
            "payee_name",
            "provider",
            "destination",
            "currency",
            "subtotal_minor",
            "tax_minor",
            "amount_minor",
            "amount_due_minor",
            "status",
            "attempt",
            "transfer_id",
            "sent_at",
            "failure",
        ],
        rows,
    )


# --- finance console: payees --------------------------------------------------------------------------------


def _payees_context(
    request: HttpRequest,
    failed: int | None = None,
    form: PayeeSettingsForm | None = None,
    create_form: PayeeCreateForm | None = None,
) -> dict[str, Any]:
    rows = []
    for row in selectors.payees_for_payouts():
        payee = row["payee"]
        rows.append(
            {
                **row,
                "owed": ", ".join(money(a, c) for c, a in row["owed"]) or "—",
                "due": ", ".join(money(a, c) for c, a in row["due"]) or "—",
                "form": form
                if failed == payee.pk and form is not None
                else PayeeSettingsForm(
                    initial={
                        "payment_provider": payee.payment_provider,
                        "minimum_payout": payee.minimum_payout,
                        "hold_days": payee.hold_days,
                        "email": payee.email,
                    },
                    prefix=f"payee-{payee.pk}",
                ),
            }
        )
    return {"rows": rows, "create_form": create_form or PayeeCreateForm(prefix="new")}


@finance_required
def console_payees(request: HttpRequest) -> HttpResponse:
    """The payees and their payment settings; a POST creates one (payee_create)."""
    if request.method != "POST":
        return render(request, "payments/console_payees.html", _payees_context(request))
    form = PayeeCreateForm(request.POST, prefix="new")
    if not form.is_valid():
        messages.error(request, _("The new payee is not valid; see the fields below."))
        return render(request, "payments/console_payees.html", _payees_context(request, create_form=form), status=400)
    try:
        payee = payee_create(actor=request.user, **form.cleaned_data)
    except ApplicationError as error:
        service_errors_onto(form, error.fields)
        return render_failure(
            request, "payments/console_payees.html", _payees_context(request, create_form=form), error
        )
    messages.success(
        request,
        _("Payee %(name)s (%(slug)s) created; contract splits can name it now.")
        % {"name": payee.name, "slug": payee.slug}
        + (" " + _("Onboard its Stripe Connect account below.") if payee.payment_provider == "stripe" else ""),
    )
    return redirect("console-payees")


def _payee_or_404(payee_id: int) -> Payee:
    payee = Payee.objects.filter(pk=payee_id).exclude(kind=Payee.Kind.PLATFORM).first()
    if payee is None:
        raise Http404(_("No payee %(payee_id)s.") % {"payee_id": payee_id})
    return payee


@finance_required
@require_POST
def console_payee_settings(request: HttpRequest, payee_id: int) -> HttpResponse:
    payee = _payee_or_404(payee_id)
    form = PayeeSettingsForm(request.POST, prefix=f"payee-{payee.pk}")
    if not form.is_valid():
        messages.error(request, _("The settings of %(name)s are not valid.") % {"name": payee.name})
        return render(request, "payments/console_payees.html", _payees_context(request, payee.pk, form), status=400)
    try:
        payee_payment_settings_update(actor=request.user, payee=payee, **form.cleaned_data)
    except ApplicationError as error:
        return render_failure(request, "payments/console_payees.html", _payees_context(request, payee.pk, form), error)
    messages.success(request, _("Payment settings of %(name)s saved.") % {"name": payee.name})
    return redirect("console-payees")


@finance_required
@require_POST
def console_payee_onboard(request: HttpRequest, payee_id: int) -> HttpResponse:
    payee = _payee_or_404(payee_id)
    try:
        link = payouts.payee_onboarding_link(
            actor=request.user, payee=payee, return_url=request.build_absolute_uri(reverse("console-payees"))
        )
    except ApplicationError as error:
        return render_failure(request, "payments/console_payees.html", _payees_context(request), error)
    return redirect(link)


# --- finance console: reconciliation -----------------------------------------------------------------------


@finance_required
def console_reconciliation(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            run = reconciliation.reconciliation_run_request(actor=request.user)
        except ApplicationError as error:
            return render_failure(
                request, "payments/console_reconciliation.html", {"run": selectors.reconciliation_latest()}, error
            )
        messages.success(
            request, _("Reconciliation #%(number)s is running; reload in a moment for its report.") % {"number": run.pk}
        )
        return redirect("console-reconciliation")
    run = selectors.reconciliation_latest()
    return render(
        request, "payments/console_reconciliation.html", {"run": run, "items": list(run.items.all()) if run else []}
    )


@finance_required
def console_reconciliation_export(request: HttpRequest) -> HttpResponse:
    run = selectors.reconciliation_latest()
    items = run.items.all().iterator() if run else iter(())
    return csv_response(
        "reconciliation.csv",
        ["run", "kind", "reference", "expected", "actual", "message"],
        ((i.run_id, i.kind, i.reference, i.expected, i.actual, i.message) for i in items),
    )


# --- PDF statements ---------------------------------------------------------------------------------------------


def _period_or_404(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError as error:
        raise Http404(_("No period %(text)r.") % {"text": text}) from error


def _statement_pdf(request: HttpRequest, partner_id: int, period_label: str) -> HttpResponse:
    period = _period_or_404(period_label)
    statements = list(selectors.partner_period_statements(viewer=request.user, partner_id=partner_id, period=period))
    if not statements:
        raise Http404(_("No settled statement for that partner and period."))
    partner = statements[0].contract.placement.partner
    invoices = {i.statement_id: i for i in Invoice.objects.filter(statement__in=statements)}
    response = HttpResponse(
        statements_pdf(partner=partner, period=period, statements=statements, invoices=invoices),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = f'inline; filename="statement-{partner.slug}-{period:%Y-%m}.pdf"'
    return response


@finance_required
def console_statement_pdf(request: HttpRequest, partner_id: int, period: str) -> HttpResponse:
    return _statement_pdf(request, partner_id, period)


@partner_required
def portal_statement_pdf(request: HttpRequest, period: str) -> HttpResponse:
    return _statement_pdf(request, viewer_partner_id(request.user), period)


# --- partner portal: invoices -------------------------------------------------------------------------------


@partner_required
def portal_invoices(request: HttpRequest) -> HttpResponse:
    page = page_of(request, selectors.invoices_for(viewer=request.user))
    return render(request, "payments/portal_invoices.html", {"page": page, "rows": _invoice_rows(page.object_list)})


# --- finance console: trends ---------------------------------------------------------------------------


@finance_required
def console_trends(request: HttpRequest) -> HttpResponse:
    """Finance's figures over time, in one currency: wages on approved statements, payouts
    sent, and the ledger's balances at each month's end."""
    currencies = trends.chart_currencies()
    form = TrendsForm(request.GET or None, currencies=currencies)
    if request.GET and not form.is_valid():
        return render(request, "payments/console_trends.html", {"form": form, "charts": []}, status=400)
    currency = form.cleaned_data["currency"] if form.is_bound else (currencies[0] if currencies else "")
    months = form.cleaned_data["months"] if form.is_bound else CHART_MONTHS
    last = period_start(timezone.now().date())
    first = add_months(last, -(months - 1))
    periods = months_between(first, last)
    charts: list[TimeChart] = []
    if currency:
        wages = trends.wages_by_month(currency=currency, period_from=first, period_to=last)
        payouts = trends.payouts_by_month(currency=currency, period_from=first, period_to=last)
        balances = trends.ledger_balances_by_month(currency=currency, period_from=first, period_to=last)
        charts = [
            TimeChart(
                key="wages",
                title=_("Wages on approved statements"),
                kind="bar",
                currency=currency,
                periods=periods,
                series=[
                    ChartSeries(name=_("Wage"), values=[wages.get(p, {}).get("wage", 0) for p in periods]),
                    ChartSeries(name=_("Payable"), values=[wages.get(p, {}).get("payable", 0) for p in periods]),
                ],
            ),
            TimeChart(
                key="payouts",
                title=_("Payouts sent"),
                kind="bar",
                currency=currency,
                periods=periods,
                series=[ChartSeries(name=_("Sent to payees"), values=[payouts.get(p, 0) for p in periods])],
            ),
            TimeChart(
                key="ledger",
                title=_("Ledger balances at month end"),
                kind="line",
                currency=currency,
                periods=periods,
                series=[
                    ChartSeries(
                        name=_(trends.LEDGER_GROUPS[group]) if group in trends.LEDGER_GROUPS else group,
                        values=[balances[group][p] for p in periods],
                    )
                    for group in sorted(
                        balances,
                        key=lambda g: (
                            list(trends.LEDGER_GROUPS).index(g)
                            if g in trends.LEDGER_GROUPS
                            else len(trends.LEDGER_GROUPS)
                        ),
                    )
                ],
            ),
        ]
    return render(
        request,
        "payments/console_trends.html",
        {"form": form, "charts": charts, "currency": currency, "months": months},
    )
