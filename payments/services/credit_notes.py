"""Credit notes (docs/credit-notes.md): a correction of an issued invoice is never an
invoice with a negative total but a credit note referencing it, through the invoice's own
provider, with the same tax rules (payments.tax: the reduction split over the invoice's
rates, the tax of each part rounded once, down).

- `credit_note_issue` (finance, a partner's account manager, or the platform itself with
  actor=None): one CreditNote row per (invoice, source) — the source names what the
  correction is for ("inquiry:12", "clawback:statement:40") and makes the request safe to
  repeat — queued for the provider.
- `credit_note_send` (task): sends it and posts the ledger entry
  Dr tax_payable:<jurisdiction> (the tax part) + Dr credit_notes:<partner> (the rest) /
  Cr partner_receivable:<partner> (the whole note).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from core.models import User
from core.queue import enqueue_on_commit
from core.services import audit_record
from ledger.services.posting import Posting, journal_entry_post
from payments import tax
from payments.models import CreditNote, Invoice
from payments.providers import ProviderError, provider_get
from payments.providers.base import CreditNoteLineSpec, CreditNoteSpec
from payments.selectors.tax import invoice_tax_lines
from revenue.models import Sale, Statement

CREDITABLE = (Invoice.Status.OPEN, Invoice.Status.PAYMENT_FAILED, Invoice.Status.PAID)


def _may_issue(actor: User | None, invoice: Invoice) -> bool:
    if actor is None:  # the platform itself (a clawback found on approval)
        return True
    role = getattr(actor, "role", None)
    return role in (User.Role.FINANCE, User.Role.STAFF) or (
        role == User.Role.ACCOUNT_MANAGER and invoice.partner.account_manager_id == actor.pk
    )


def credit_note_key(invoice: Invoice, source: str) -> str:
    return f"invoice:{invoice.pk}:credit:{source}"


@transaction.atomic
def credit_note_issue(*, actor: User | None, invoice: Invoice, amount: int, reason: str, source: str) -> CreditNote:
    """Credit `amount` (minor units, tax-exclusive: the reduction of what the invoice
    billed before tax) against an issued invoice; its tax is added by the invoice's rates.
    The same source again returns the first note (another amount is a Conflict). Refused
    requests change nothing."""
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("partner").get(pk=invoice.pk)
    if not _may_issue(actor, invoice):
        raise PermissionDenied(_("Only finance or the partner's account manager can issue credit notes."))
    reason, source = (reason or "").strip(), (source or "").strip()
    errors: dict[str, list[str]] = {}
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        errors["amount"] = [_("A credit note is a positive whole amount in the currency's minor unit.")]
    if not reason:
        errors["reason"] = [_("A reason is required.")]
    if not source or len(source) > 120:
        errors["source"] = [_("A source (what the correction is for, up to 120 characters) is required.")]
    if errors:
        raise ValidationFailed(_("The credit note is not valid."), fields=errors)
    key = credit_note_key(invoice, source)
    existing = CreditNote.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.subtotal != amount:
            raise Conflict(
                f"A credit note for {source} on invoice {invoice.number or invoice.pk} already credits "
                f"{existing.subtotal}, not {amount}."
            )
        return existing
    if invoice.status not in CREDITABLE:
        raise InvalidTransition(f"{invoice} is {invoice.status}; only an issued invoice can be credited.")
    credited = sum(invoice.credit_notes.values_list("subtotal", flat=True))
    if amount > invoice.subtotal - credited:
        raise ValidationFailed(
            f"Invoice {invoice.number or invoice.pk} billed {invoice.subtotal} before tax and "
            f"{credited} is already credited; {amount} is more than what is left.",
            fields={"amount": [f"at most {invoice.subtotal - credited}"]},
        )
    lines = tax.credit_tax_lines(amount, invoice_tax_lines(invoice))
    tax_amount = sum(line.tax for line in lines)
    credited_tax = sum(invoice.credit_notes.values_list("tax_amount", flat=True))
    if credited_tax + tax_amount > invoice.tax_amount:  # cannot happen with one rate: floor is superadditive
        raise ValidationFailed("The credit notes would give back more tax than the invoice charged.")
    note = CreditNote.objects.create(
        invoice=invoice,
        partner=invoice.partner,
        provider=invoice.provider,
        currency=invoice.currency,
        subtotal=amount,
        tax_amount=tax_amount,
        amount=amount + tax_amount,
        tax_breakdown=[line.as_dict() for line in lines],
        reason=reason[:300],
        source=source,
        idempotency_key=key,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="credit_note.created",
        target=note,
        partner_id=invoice.partner_id,
        summary=f"Credit note on invoice {invoice.number or invoice.pk}: {amount} + tax {tax_amount} ({reason})",
        changes={"invoice": invoice.pk, "subtotal": amount, "tax": tax_amount, "source": source},
    )
    enqueue_on_commit("payments.tasks.credit_note_send_task", note.pk)
    return note


def credit_note_spec(note: CreditNote, *, post_payment: bool) -> CreditNoteSpec:
    invoice = note.invoice
    parts = [
        CreditNoteLineSpec(description=f"Credit on invoice {invoice.number}: {note.reason}"[:500], amount=note.subtotal)
    ]
    parts += [
        CreditNoteLineSpec(
            description=f"Tax {line.jurisdiction} {tax.rate_percent(line.rate)}% on {line.taxable}", amount=line.tax
        )
        for line in (tax.TaxLine.from_dict(item) for item in note.tax_breakdown)
        if line.tax
    ]
    return CreditNoteSpec(
        key=note.idempotency_key + ("" if note.issue_attempt == 1 else f":attempt-{note.issue_attempt}"),
        invoice_id=invoice.provider_invoice_id,
        currency=note.currency,
        amount=note.amount,
        memo=note.reason,
        lines=parts,
        metadata={
            "haken_credit_note": str(note.pk),
            "haken_invoice": str(invoice.pk),
            "haken_source": note.source,
        },
        post_payment=post_payment,
    )


@transaction.atomic
def credit_note_send(*, credit_note_id: int) -> CreditNote:
    """Issue a created credit note at the provider and post it. Safe to repeat (same
    idempotency key; an issued note is left alone). An unanswered request raises (the task
    retries); a refusal is kept on the note for finance."""
    note = CreditNote.objects.select_for_update(of=("self",)).get(pk=credit_note_id)
    if note.status == CreditNote.Status.ISSUED:
        return note
    # The invoice's row too: a payment recorded meanwhile decides before or after payment.
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("partner").get(pk=note.invoice_id)
    note.invoice = invoice
    try:
        issued = provider_get(note.provider).credit_note_issue(
            credit_note_spec(note, post_payment=invoice.status == Invoice.Status.PAID)
        )
    except ProviderError as error:
        if not error.definitive:
            raise
        note.issue_error = error.message[:300]
        note.save(update_fields=["issue_error"])
        audit_record(
            actor=None,
            action="credit_note.issue_failed",
            target=note,
            partner_id=note.partner_id,
            summary=f"Credit note #{note.pk} could not be issued: {error.message}",
            via=note.provider,
        )
        return note
    note.provider_credit_note_id = issued.credit_note_id
    note.number = issued.number or f"HKN-CN-{note.pk:06d}"
    note.kind = issued.kind
    note.status, note.issued_at, note.issue_error = CreditNote.Status.ISSUED, timezone.now(), ""
    note.journal_entry = _credit_note_post(note, invoice)
    note.save(
        update_fields=[
            "provider_credit_note_id",
            "number",
            "kind",
            "status",
            "issued_at",
            "issue_error",
            "journal_entry",
        ]
    )
    audit_record(
        actor=None,
        action="credit_note.issued",
        target=note,
        partner_id=note.partner_id,
        summary=f"Credit note {note.number} issued on invoice {invoice.number} ({note.currency} {note.amount})",
        changes={"provider_credit_note_id": note.provider_credit_note_id, "kind": note.kind},
        via=note.provider,
    )
    return note


def _credit_note_post(note: CreditNote, invoice: Invoice):
    partner = invoice.partner
    label = f"Credit note {note.number} on invoice {invoice.number}"
    postings = [Posting(f"credit_notes:{partner.slug}", note.subtotal, note.currency, label)]
    for line in (tax.TaxLine.from_dict(item) for item in note.tax_breakdown):
        if line.tax:
            postings.append(Posting(f"tax_payable:{line.jurisdiction}", line.tax, note.currency, label))
    postings.append(Posting(f"partner_receivable:{partner.slug}", -note.amount, note.currency, label))
    return journal_entry_post(
        idempotency_key=f"credit_note:{note.pk}:issued",
        memo=f"{label} ({note.reason})",
        occurred_on=timezone.localdate(),
        postings=postings,
    )


@transaction.atomic
def credit_note_issue_retry(*, actor: User, credit_note: CreditNote) -> CreditNote:
    """Finance asks again for a note the provider refused (after fixing the cause)."""
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if not _may_issue(actor, note.invoice):
        raise PermissionDenied(_("Only finance or the partner's account manager can issue credit notes."))
    if note.status != CreditNote.Status.DRAFT:
        raise InvalidTransition(f"{note} is already issued.")
    # Stripe keeps a refused request's answer under its key: a new attempt, a new key.
    note.issue_attempt, note.issue_error = note.issue_attempt + 1, ""
    note.save(update_fields=["issue_attempt", "issue_error"])
    enqueue_on_commit("payments.tasks.credit_note_send_task", note.pk)
    return note


def statement_clawback_credit(*, statement: Statement) -> int:
    """Give back the clawback of `statement` (refunds of sales settled on earlier,
    approved statements: §5a) by credit notes on those statements' invoices, and return
    the total credited — which the statement's own invoice bills again on top of its
    payable, so the partner is credited once (docs/credit-notes.md).

    The rounded clawback is split among the original statements by largest remainder of
    their precise parts (refund × that statement's effective rate). A part whose original
    was never invoiced (or whose invoice is void, or fully credited) is not credited: it
    stays netted in this statement, as before. Idempotent: the notes' source is this
    statement, so asking again returns the same notes."""
    if statement.clawback <= 0:
        return 0
    precise: dict[int, Decimal] = defaultdict(Decimal)
    refunds = (
        Sale.objects.filter(statement=statement, type=Sale.Type.REFUND, refund_of__statement__isnull=False)
        .exclude(refund_of__statement=statement)
        .select_related("refund_of__statement")
    )
    for refund in refunds:
        original = refund.refund_of.statement if refund.refund_of else None
        if original is not None:  # always, by the filter; says so to the type checker
            precise[original.pk] += Decimal(refund.amount) * original.effective_rate
    if not precise:
        return 0
    originals = sorted(precise)
    parts = tax.clawback_split(statement.clawback, [precise[pk] for pk in originals])
    source = f"clawback:statement:{statement.pk}"
    credited = 0
    for original_id, part in zip(originals, parts, strict=True):
        invoice = Invoice.objects.filter(statement_id=original_id, status__in=CREDITABLE).first()
        if part <= 0 or invoice is None:
            continue
        room = invoice.subtotal - sum(invoice.credit_notes.exclude(source=source).values_list("subtotal", flat=True))
        amount = min(part, room)
        if amount <= 0:
            continue
        note = credit_note_issue(
            actor=None,
            invoice=invoice,
            amount=amount,
            reason=f"Clawback of refunds settled on the {statement.period:%Y-%m} statement #{statement.pk}",
            source=source,
        )
        credited += note.subtotal
    return credited
