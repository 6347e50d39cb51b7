"""Collection (DESIGN.md §4, §5.5): an approved statement becomes an invoice to its partner;
payment posts Dr cash:<provider> / Cr partner_receivable:<partner> and marks it paid.

- `invoice_create` (finance): one Invoice row per statement (unique), queued for issuing.
- `invoice_issue` (task): sends it to the partner's provider. Every provider request
  carries an idempotency key derived from the statement, and the row is locked while it
  runs, so a retry — after a crash, a timeout, a second worker — never makes a second
  invoice.
- `invoice_payment_record`: the one way an invoice becomes paid (the Stripe webhook, or
  finance marking a manual invoice paid). Its ledger entry's key is the invoice's, so a
  second report of the same payment posts nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import PaymentProvider
from contracts.services import notification_queue, partner_stripe_customer_record
from core.errors import InvalidTransition, ValidationFailed
from core.locks import Lock, advisory_key, lock_transaction_acquire
from core.models import User
from core.permissions import finance_require
from core.queue import enqueue_on_commit
from core.services import audit_record
from ledger.models import JournalEntry
from ledger.services.posting import Posting, journal_entry_post
from payments.models import Invoice
from payments.providers import ProviderError, provider_get, provider_name_for
from payments.providers.base import InvoiceLineSpec, InvoiceSpec, IssuedInvoice
from payments.selectors.tax import invoice_tax_for, invoice_tax_lines
from payments.services.credit_notes import statement_clawback_credit
from payments.tax import TaxLine, rate_percent
from revenue.models import Statement
from webhooks.models import EventType
from webhooks.services import webhook_event_emit

logger = logging.getLogger(__name__)

ISSUABLE = (Statement.Status.APPROVED,)


def _audit(
    actor: User | None, action: str, invoice: Invoice, summary: str, changes: dict | None = None, via: str | None = None
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=invoice,
        summary=summary,
        partner_id=invoice.partner_id,
        changes=changes or {},
        via=via,
    )


@transaction.atomic
def invoice_create(*, actor: User, statement: Statement) -> Invoice:
    """Bill an approved statement. Asking twice returns the first invoice."""
    finance_require(actor, doing="issue invoices")
    statement = (
        Statement.objects.select_for_update(of=("self",))
        .select_related("contract__placement__partner")
        .get(pk=statement.pk)
    )
    existing = Invoice.objects.filter(statement=statement).first()
    if existing is not None:
        return existing
    if statement.status not in ISSUABLE:
        raise InvalidTransition(
            _("The statement is %(status)s; only an approved statement is invoiced.") % {"status": statement.status}
        )
    if statement.payable <= 0:
        raise InvalidTransition(
            _("Nothing is payable on this statement (it carries a credit forward); there is nothing to invoice.")
        )
    partner = statement.contract.placement.partner
    # The clawback of refunds of sales on earlier invoices is given back by credit notes on
    # those invoices, and so billed here again (docs/credit-notes.md): never credited twice.
    clawback_credited = statement_clawback_credit(statement=statement)
    subtotal = statement.payable + clawback_credited
    # Tax on top (payments.tax); the statement's own figures stay as approved.
    taxed = invoice_tax_for(partner=partner, subtotal=subtotal, period=statement.period)
    invoice = Invoice.objects.create(
        statement=statement,
        partner=partner,
        provider=provider_name_for(partner),
        currency=statement.currency,
        subtotal=subtotal,
        clawback_credited=clawback_credited,
        tax_amount=taxed.amount,
        amount=subtotal + taxed.amount,
        tax_treatment=taxed.treatment,
        tax_point=taxed.tax_point,
        tax_breakdown=[line.as_dict() for line in taxed.lines],
        tax_note=taxed.note,
        seller_registration_number=taxed.seller_registration_number,
        buyer_registration_number=taxed.buyer_registration_number,
        idempotency_key=f"statement:{statement.pk}:invoice",
        created_by=actor,
    )
    _audit(
        actor,
        "invoice.created",
        invoice,
        f"Invoice for {statement} ({statement.currency} {statement.payable} + tax {taxed.amount}) "
        f"via {invoice.provider}",
        {
            "statement": statement.pk,
            "amount": invoice.amount,
            "tax": taxed.amount,
            "clawback_credited": clawback_credited,
            "treatment": taxed.treatment,
            "provider": invoice.provider,
        },
    )
    enqueue_on_commit("payments.tasks.invoice_issue_task", invoice.pk)
    return invoice


@transaction.atomic
def invoice_issue_retry(*, actor: User, invoice: Invoice) -> Invoice:
    """Finance asks again for an invoice the provider refused (after fixing the cause)."""
    finance_require(actor, doing="issue invoices")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        raise InvalidTransition(_("%(invoice)s is already issued.") % {"invoice": invoice})
    # Being issued again: the last refusal no longer stands (and the stalled-work sweep
    # looks for drafts without one, should this attempt's message be lost).
    invoice.issue_attempt, invoice.issue_error = invoice.issue_attempt + 1, ""
    invoice.save(update_fields=["issue_attempt", "issue_error"])
    _audit(
        actor,
        "invoice.issue_retried",
        invoice,
        f"Issuing invoice #{invoice.pk} again",
        {"attempt": invoice.issue_attempt},
    )
    enqueue_on_commit("payments.tasks.invoice_issue_task", invoice.pk)
    return invoice


CLAWBACK_CREDITED = "Clawback given back by credit notes on the earlier invoices (see them)"


def tax_line_description(line: TaxLine) -> str:
    return f"Tax {line.jurisdiction} {rate_percent(line.rate)}% on {line.taxable}"


def invoice_spec(invoice: Invoice) -> InvoiceSpec:
    statement = invoice.statement
    partner = invoice.partner
    placement = statement.contract.placement
    attempt = "" if invoice.issue_attempt == 1 else f":attempt-{invoice.issue_attempt}"
    lines = [
        InvoiceLineSpec(
            description=line.description
            if line.revenue is None
            else f"{line.description} (revenue {line.revenue} {statement.currency})",
            amount=line.amount,
            key=f"statement:{statement.pk}:line:{line.pk}{attempt}",
            metadata={"haken_statement": str(statement.pk), "haken_statement_line": str(line.pk), "kind": line.kind},
        )
        for line in statement.lines.all()
    ]
    if invoice.clawback_credited:
        lines.append(
            InvoiceLineSpec(
                description=CLAWBACK_CREDITED,
                amount=invoice.clawback_credited,
                key=f"statement:{statement.pk}:clawback-credited{attempt}",
                metadata={"haken_statement": str(statement.pk), "kind": "clawback_credited"},
            )
        )
    # The tax is one item per rate, with the amount we computed (rounded once per rate):
    # the provider adds it like any item, so its total is ours to the minor unit.
    lines += [
        InvoiceLineSpec(
            description=tax_line_description(line),
            amount=line.tax,
            key=f"statement:{statement.pk}:tax:{line.jurisdiction}:{line.category}:{line.rate}{attempt}",
            metadata={
                "haken_statement": str(statement.pk),
                "kind": "tax",
                "tax_rate": str(line.rate),
                "taxable": str(line.taxable),
            },
        )
        for line in invoice_tax_lines(invoice)
        if line.tax
    ]
    if sum(line.amount for line in lines) != invoice.amount:
        # Lines of a positive statement add up to its total; if they do not, an invoice
        # would bill something other than what finance approved.
        raise ValidationFailed(
            f"The statement's lines add up to {sum(line.amount for line in lines)}, "
            f"not the {invoice.amount} payable; it cannot be invoiced as is."
        )
    owner = partner.memberships.filter(role="owner").select_related("user").order_by("id").first()
    return InvoiceSpec(
        key=f"{invoice.idempotency_key}{attempt}",
        customer_key=f"partner:{partner.pk}:customer",
        replaces_earlier_attempt=invoice.issue_attempt > 1,
        customer_id=partner.stripe_customer_id,
        customer_name=partner.name,
        customer_email=owner.user.email if owner else "",
        currency=invoice.currency,
        amount=invoice.amount,
        description=f"{placement.employee.name} at {partner.name} — wage for {statement.period:%Y-%m}",
        days_until_due=settings.PAYMENTS_INVOICE_DAYS_DUE,
        lines=lines,
        metadata={
            "haken_invoice": str(invoice.pk),
            "haken_statement": str(statement.pk),
            "haken_partner": partner.slug,
            "period": f"{statement.period:%Y-%m}",
        },
    )


@transaction.atomic
def invoice_issue(*, invoice_id: int) -> Invoice:
    """Send a created invoice to its provider and record what it made. Safe to repeat:
    an issued invoice is left alone, and a retried request returns the provider's first
    answer (same idempotency keys). An unanswered request raises (the task retries);
    a refusal is recorded on the invoice for finance."""
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("partner", "statement__contract__placement__employee")
        .get(pk=invoice_id)
    )
    if invoice.status != Invoice.Status.DRAFT:
        return invoice
    lock_transaction_acquire(advisory_key(Lock.INVOICE_PARTNER, invoice.partner_id))
    try:
        issued = provider_get(invoice.provider).invoice_issue(invoice_spec(invoice))
    except ValidationFailed as error:
        invoice.issue_error = error.message[:300]
        invoice.save(update_fields=["issue_error"])
        return invoice
    except ProviderError as error:
        if not error.definitive:
            raise
        invoice.issue_error = error.message[:300]
        invoice.save(update_fields=["issue_error"])
        _audit(
            None,
            "invoice.issue_failed",
            invoice,
            f"{invoice} could not be issued: {error.message}",
            via=invoice.provider,
        )
        return invoice
    return _invoice_record_issued(invoice, issued)


def _invoice_record_issued(invoice: Invoice, issued: IssuedInvoice) -> Invoice:
    if issued.customer_id and invoice.partner.stripe_customer_id != issued.customer_id:
        partner_stripe_customer_record(partner=invoice.partner, customer_id=issued.customer_id)
    invoice.provider_invoice_id = issued.invoice_id
    invoice.number = issued.number or f"HKN-{invoice.pk:06d}"
    invoice.hosted_url = issued.hosted_url
    invoice.status, invoice.issued_at, invoice.issue_error = Invoice.Status.OPEN, timezone.now(), ""
    if invoice.tax_amount and invoice.tax_entry_id is None:
        invoice.tax_entry = _invoice_tax_post(invoice)
    if invoice.clawback_credited:
        _invoice_clawback_post(invoice)
    invoice.save(
        update_fields=["provider_invoice_id", "number", "hosted_url", "status", "issued_at", "issue_error", "tax_entry"]
    )
    Statement.objects.filter(pk=invoice.statement_id, status=Statement.Status.APPROVED).update(
        status=Statement.Status.INVOICED
    )
    _audit(
        None,
        "invoice.issued",
        invoice,
        f"Invoice {invoice.number} issued to {invoice.partner.name}",
        {"provider_invoice_id": invoice.provider_invoice_id},
        via=invoice.provider,
    )
    statement = invoice.statement
    webhook_event_emit(
        partner=invoice.partner,
        type=EventType.INVOICE_ISSUED,
        key=f"invoice:{invoice.pk}:issued",
        payload={
            "invoice": {
                "id": invoice.pk,
                "number": invoice.number,
                "statement": invoice.statement_id,
                "period": f"{statement.period:%Y-%m}",
                "currency": invoice.currency,
                "amount": invoice.amount,
                "subtotal": invoice.subtotal,
                "tax": invoice.tax_amount,
                "tax_treatment": invoice.tax_treatment,
                "provider": invoice.provider,
                "hosted_url": invoice.hosted_url,
                "issued_at": invoice.issued_at,
            }
        },
    )
    return invoice


def _invoice_tax_post(invoice: Invoice) -> JournalEntry:
    """Tax payable is kept apart from revenue: the partner owes it to us (receivable) and we
    owe it to the tax office, per jurisdiction. The payment then clears the whole receivable."""
    receivable = f"partner_receivable:{invoice.partner.slug}"
    postings = [Posting(receivable, invoice.tax_amount, invoice.currency, f"Tax on invoice {invoice.number}")]
    for line in invoice_tax_lines(invoice):
        if line.tax:
            postings.append(
                Posting(
                    f"tax_payable:{line.jurisdiction}",
                    -line.tax,
                    invoice.currency,
                    f"{rate_percent(line.rate)}% on {line.taxable}, invoice {invoice.number}",
                )
            )
    return journal_entry_post(
        idempotency_key=f"invoice:{invoice.pk}:tax",
        memo=f"Tax on invoice {invoice.number} to {invoice.partner.name}",
        occurred_on=invoice.tax_point or timezone.localdate(),
        postings=postings,
    )


def _invoice_clawback_post(invoice: Invoice) -> JournalEntry:
    """The clawback part billed here again: the partner owes it (the credit notes on the
    earlier invoices gave it back, Dr credit_notes / Cr receivable), so credit_notes:<partner>
    nets to zero for a clawback — its effect on revenue and payees is already in the
    statement's own approval entry."""
    receivable = f"partner_receivable:{invoice.partner.slug}"
    label = f"Clawback billed again on invoice {invoice.number}"
    return journal_entry_post(
        idempotency_key=f"invoice:{invoice.pk}:clawback",
        memo=label,
        occurred_on=invoice.tax_point or timezone.localdate(),
        postings=[
            Posting(receivable, invoice.clawback_credited, invoice.currency, label),
            Posting(f"credit_notes:{invoice.partner.slug}", -invoice.clawback_credited, invoice.currency, label),
        ],
    )


def invoice_opened_record(*, invoice: Invoice, provider_invoice_id: str, number: str, hosted_url: str) -> Invoice:
    """The provider says the invoice is open before our own record of issuing it was
    committed (a crash between the two): take its word. Called with the row locked."""
    if invoice.status != Invoice.Status.DRAFT:
        return invoice
    return _invoice_record_issued(
        invoice,
        IssuedInvoice(
            customer_id="", invoice_id=provider_invoice_id, number=number, status="open", hosted_url=hosted_url
        ),
    )


def invoice_payment_record(
    *,
    invoice: Invoice,
    amount: int,
    currency: str,
    paid_at: datetime,
    actor: User | None = None,
    via: str | None = None,
) -> Invoice:
    """Record the partner's payment. Called with the invoice row locked. Paid already:
    nothing changes. An amount other than the invoice's is refused (reconciliation
    reports it), never booked as a payment in full."""
    if invoice.status == Invoice.Status.PAID:
        return invoice
    if invoice.status == Invoice.Status.VOID:
        raise InvalidTransition(_("%(invoice)s is void; a payment for it needs finance.") % {"invoice": invoice})
    # A credit note issued before payment lowered what is due (Stripe's amount_due).
    due = invoice.amount_due
    if amount != due or currency.upper() != invoice.currency:
        raise ValidationFailed(
            _("Paid %(amount)s %(upper)s against an invoice of %(due)s %(currency)s due; not recorded.")
            % {"amount": amount, "upper": currency.upper(), "due": due, "currency": invoice.currency}
        )
    statement = invoice.statement
    partner = invoice.partner
    invoice.payment_entry = journal_entry_post(
        idempotency_key=f"invoice:{invoice.pk}:paid",
        memo=f"{partner.name} paid invoice {invoice.number or invoice.pk} ({statement.period:%Y-%m})",
        occurred_on=timezone.localdate(paid_at),
        postings=[
            Posting(f"cash:{invoice.provider}", due, invoice.currency, f"Invoice {invoice.number}"),
            Posting(f"partner_receivable:{partner.slug}", -due, invoice.currency, f"Invoice {invoice.number}"),
        ],
        actor=actor,
    )
    previous = invoice.status
    invoice.status, invoice.paid_at = Invoice.Status.PAID, paid_at
    invoice.save(update_fields=["payment_entry", "status", "paid_at"])
    Statement.objects.filter(pk=statement.pk).update(status=Statement.Status.PAID)
    _audit(
        actor,
        "invoice.paid",
        invoice,
        f"{partner.name} paid invoice {invoice.number} ({invoice.currency} {due})",
        {"status": [previous, "paid"]},
        via=via,
    )
    return invoice


def invoice_payment_failed_record(*, invoice: Invoice, message: str, failed_at: datetime) -> Invoice:
    """A failed payment is shown to finance and the partner (and notified to the partner's
    owners and account manager). Called with the invoice row locked; paid stays paid."""
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN, Invoice.Status.PAYMENT_FAILED):
        return invoice
    previous = invoice.status
    invoice.status, invoice.failed_at, invoice.failure_message = Invoice.Status.PAYMENT_FAILED, failed_at, message[:300]
    invoice.save(update_fields=["status", "failed_at", "failure_message"])
    # `placement` in the changes is what contracts' notifier keys on: the partner's owners
    # and its account manager get a notice.
    entry = audit_record(
        actor=None,
        action="invoice.payment_failed",
        target=invoice,
        partner_id=invoice.partner_id,
        summary=f"Payment of invoice {invoice.number or invoice.pk} failed: {message}",
        changes={
            "placement": invoice.statement.contract.placement_id,
            "invoice": invoice.pk,
            "status": [previous, "payment_failed"],
        },
        via=invoice.provider,
    )
    notification_queue(entry=entry)
    return invoice


@transaction.atomic
def invoice_mark_paid(*, actor: User, invoice: Invoice, reference: str = "") -> Invoice:
    """Finance records that a manual invoice was paid (a bank transfer outside Stripe)."""
    finance_require(actor, doing="record payments")
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("partner", "statement__contract__placement")
        .get(pk=invoice.pk)
    )
    if invoice.provider != PaymentProvider.MANUAL:
        raise InvalidTransition(_("Stripe invoices are marked paid by Stripe's webhook, not by hand."))
    if invoice.status == Invoice.Status.PAID:
        raise InvalidTransition(_("%(invoice)s is already paid.") % {"invoice": invoice})
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.PAYMENT_FAILED):
        raise InvalidTransition(
            _("%(invoice)s is %(status)s; only an open invoice is paid.")
            % {"invoice": invoice, "status": invoice.status}
        )
    invoice = invoice_payment_record(
        invoice=invoice, amount=invoice.amount_due, currency=invoice.currency, paid_at=timezone.now(), actor=actor
    )
    if reference.strip():
        _audit(actor, "invoice.payment_reference", invoice, f"Payment reference: {reference.strip()[:200]}")
    return invoice
