"""Reconciliation: the ledger's cash and receivables against Stripe's invoices, payments
and transfers; every mismatch is a row of the report finance reads.

Checks, per run:
- each Stripe invoice of ours: exists at Stripe, same amount; paid at Stripe ⇔ paid here
  (with the same amount booked to cash); Stripe invoices that name no invoice of ours;
- each sent Stripe payout: its transfer exists, same amount and destination; transfers
  that no sent payout records (a crash between Stripe's answer and our commit — the next
  payout run records them — or made outside the platform);
- cash per provider and currency: the ledger's `cash:<provider>` against what the
  provider says came in (paid invoices) less what went out (transfers); for the manual
  provider, against our own records of manual invoices and payouts;
- each partner's receivable: the ledger's balance against its approved statements not yet
  invoiced plus its invoices still open at the provider.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from contracts.models import Partner, PaymentProvider
from core.models import User
from core.permissions import finance_require
from core.queue import enqueue_on_commit
from core.services import audit_record
from ledger.selectors.balances import account_balance
from payments.models import CreditNote, Invoice, Payout, ReconciliationItem, ReconciliationRun
from payments.providers import ProviderError, provider_get
from payments.providers.base import ProviderInvoice, Transfer
from revenue.models import Statement


@dataclass(frozen=True)
class Mismatch:
    kind: str
    reference: str
    expected: str
    actual: str
    message: str


@transaction.atomic
def reconciliation_run_request(*, actor: User) -> ReconciliationRun:
    finance_require(actor, doing="reconcile")
    run = ReconciliationRun.objects.create(requested_by=actor)
    audit_record(actor=actor, action="reconciliation.requested", target=run, summary=f"Reconciliation #{run.pk}")
    enqueue_on_commit("payments.tasks.reconciliation_run_task", run.pk)
    return run


def _stripe_checks(found: list[Mismatch]) -> tuple[int, int, dict[str, int]]:
    """Invoices and transfers against Stripe; returns the counts checked and the cash
    Stripe implies per currency."""
    provider = provider_get(PaymentProvider.STRIPE)
    remote_invoices = {i.invoice_id: i for i in provider.invoices_list()}
    remote_transfers = {t.transfer_id: t for t in provider.transfers_list()}
    cash: dict[str, int] = defaultdict(int)
    remote: ProviderInvoice | None  # an invoice at Stripe; None where ours has no counterpart
    transfer: Transfer | None
    for remote in remote_invoices.values():
        if remote.status == "paid":
            cash[remote.currency] += remote.amount_paid
    for transfer in remote_transfers.values():
        cash[transfer.currency] -= transfer.amount

    ours = list(
        Invoice.objects.filter(provider=PaymentProvider.STRIPE)
        .exclude(status=Invoice.Status.DRAFT)
        .select_related("payment_entry")
    )
    known = {invoice.provider_invoice_id for invoice in ours}
    for invoice in ours:
        ref = f"invoice {invoice.number or invoice.pk} ({invoice.provider_invoice_id})"
        remote = remote_invoices.get(invoice.provider_invoice_id)
        if remote is None:
            found.append(
                Mismatch(
                    "invoice_missing_at_stripe",
                    ref,
                    "an invoice at Stripe",
                    "none",
                    "The ledger's invoice is not at Stripe.",
                )
            )
            continue
        if (remote.amount_due, remote.currency) != (invoice.amount_due, invoice.currency):
            found.append(
                Mismatch(
                    "invoice_amount",
                    ref,
                    f"{invoice.amount_due} {invoice.currency}",
                    f"{remote.amount_due} {remote.currency}",
                    "Stripe bills another amount.",
                )
            )
        if remote.status == "paid" and invoice.status != Invoice.Status.PAID:
            found.append(
                Mismatch(
                    "payment_not_booked",
                    ref,
                    f"paid {remote.amount_paid}",
                    invoice.status,
                    "Stripe has the payment; the ledger has no cash for it (a webhook was missed or refused).",
                )
            )
        elif invoice.status == Invoice.Status.PAID and remote.status != "paid":
            found.append(
                Mismatch(
                    "payment_not_at_stripe",
                    ref,
                    "paid",
                    remote.status,
                    "The ledger booked a payment Stripe does not show.",
                )
            )
        elif invoice.status == Invoice.Status.PAID and remote.amount_paid != invoice.amount_due:
            found.append(
                Mismatch(
                    "payment_amount",
                    ref,
                    str(invoice.amount_due),
                    str(remote.amount_paid),
                    "Stripe collected another amount than the ledger booked.",
                )
            )
    for remote in remote_invoices.values():
        if remote.invoice_id not in known:
            found.append(
                Mismatch(
                    "invoice_unknown",
                    remote.invoice_id,
                    "an invoice of ours",
                    "none",
                    f"Stripe has an invoice ({remote.status}, {remote.amount_due} {remote.currency}) "
                    "the ledger does not know.",
                )
            )

    sent = {
        p.provider_transfer_id: p
        for p in Payout.objects.filter(provider=PaymentProvider.STRIPE, status=Payout.Status.SENT)
    }
    for transfer_id, payout in sent.items():
        transfer = remote_transfers.get(transfer_id)
        ref = f"payout #{payout.pk} ({transfer_id})"
        if transfer is None:
            found.append(
                Mismatch(
                    "transfer_missing",
                    ref,
                    f"{payout.amount} {payout.currency}",
                    "none",
                    "The ledger paid out; Stripe has no such transfer.",
                )
            )
        elif (transfer.amount, transfer.currency, transfer.destination) != (
            payout.amount,
            payout.currency,
            payout.destination,
        ):
            found.append(
                Mismatch(
                    "transfer_amount",
                    ref,
                    f"{payout.amount} {payout.currency} → {payout.destination}",
                    f"{transfer.amount} {transfer.currency} → {transfer.destination}",
                    "Stripe's transfer differs from the payout.",
                )
            )
    for transfer in remote_transfers.values():
        if transfer.transfer_id not in sent:
            payout_id = transfer.metadata.get("haken_payout", "")
            found.append(
                Mismatch(
                    "transfer_not_booked",
                    transfer.transfer_id,
                    "a sent payout",
                    f"payout #{payout_id}" if payout_id else "none",
                    "Stripe made a transfer the ledger has not booked"
                    + (" (the next payout run records it)." if payout_id else " (not made by the platform)."),
                )
            )
    return len(ours), len(remote_transfers), dict(cash)


def _manual_cash() -> dict[str, int]:
    cash: dict[str, int] = defaultdict(int)
    for invoice in Invoice.objects.filter(provider=PaymentProvider.MANUAL, status=Invoice.Status.PAID).prefetch_related(
        "credit_notes"
    ):
        cash[invoice.currency] += invoice.amount_due
    for row in (
        Payout.objects.filter(provider=PaymentProvider.MANUAL, status=Payout.Status.SENT)
        .values("currency")
        .annotate(total=Sum("amount"))
    ):
        cash[row["currency"]] -= row["total"]
    return dict(cash)


def _cash_checks(found: list[Mismatch], provider: str, expected: dict[str, int]) -> None:
    currencies = set(expected) | set(
        Invoice.objects.filter(provider=provider).values_list("currency", flat=True).distinct()
    )
    for currency in sorted(currencies):
        booked = account_balance(code=f"cash:{provider}", currency=currency)
        if booked != expected.get(currency, 0):
            found.append(
                Mismatch(
                    "cash",
                    f"cash:{provider} {currency}",
                    str(expected.get(currency, 0)),
                    str(booked),
                    f"The ledger's {provider} cash differs from what {provider} received less what it paid out.",
                )
            )


def _receivable_checks(found: list[Mismatch], open_at_stripe: dict[str, int]) -> None:
    for partner in Partner.objects.order_by("slug"):
        approved = Statement.objects.filter(
            contract__placement__partner=partner, status=Statement.Status.APPROVED, payable__gt=0
        ).aggregate(total=Sum("payable", default=0))["total"]
        unpaid = 0  # a statement whose invoice is still being issued is counted as approved
        for invoice in Invoice.objects.filter(partner=partner).exclude(
            status__in=[Invoice.Status.PAID, Invoice.Status.VOID, Invoice.Status.DRAFT]
        ):
            unpaid += (
                open_at_stripe.get(invoice.provider_invoice_id, 0)
                if invoice.provider == PaymentProvider.STRIPE
                else invoice.amount_due
            )
        # A credit note after payment is money we owe the partner back (settled out of
        # band): the receivable goes below zero by it.
        owed_back = CreditNote.objects.filter(
            partner=partner, status=CreditNote.Status.ISSUED, kind=CreditNote.Kind.POST_PAYMENT
        ).aggregate(total=Sum("amount", default=0))["total"]
        expected = approved + unpaid - owed_back
        booked = account_balance(code=f"partner_receivable:{partner.slug}", currency=partner.currency)
        if booked != expected:
            found.append(
                Mismatch(
                    "receivable",
                    f"partner_receivable:{partner.slug}",
                    str(expected),
                    str(booked),
                    "The ledger's receivable differs from the approved statements not yet invoiced "
                    "plus the invoices still open.",
                )
            )


def reconciliation_run_execute(*, run_id: int) -> ReconciliationRun:
    """Check and write the report. Safe to run twice: a run found finished (done, or failed
    on the provider) is returned as is."""
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status != ReconciliationRun.Status.RUNNING:
        return run
    found: list[Mismatch] = []
    try:
        invoices_checked = transfers_checked = 0
        open_at_stripe: dict[str, int] = {}
        if settings.STRIPE_API_KEY:
            invoices_checked, transfers_checked, stripe_cash = _stripe_checks(found)
            _cash_checks(found, PaymentProvider.STRIPE, stripe_cash)
            open_at_stripe = {
                i.invoice_id: i.amount_due - i.amount_paid
                for i in provider_get(PaymentProvider.STRIPE).invoices_list()
                if i.status in ("open", "uncollectible", "draft")
            }
        _cash_checks(found, PaymentProvider.MANUAL, _manual_cash())
        _receivable_checks(found, open_at_stripe)
    except ProviderError as error:
        # Only a run still running fails: a second delivery that finished first keeps its report.
        ReconciliationRun.objects.filter(pk=run_id, status=ReconciliationRun.Status.RUNNING).update(
            status=ReconciliationRun.Status.FAILED, error=error.message, finished_at=timezone.now()
        )
        return ReconciliationRun.objects.get(pk=run_id)
    with transaction.atomic():
        # Two deliveries of one run both get here: the second waits for the first's row lock,
        # then finds the report written and keeps it (rather than writing its items twice).
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.status != ReconciliationRun.Status.RUNNING:
            return run
        run.items.all().delete()
        ReconciliationItem.objects.bulk_create(
            ReconciliationItem(
                run=run,
                kind=m.kind,
                reference=m.reference[:120],
                expected=m.expected[:120],
                actual=m.actual[:120],
                message=m.message[:300],
            )
            for m in found
        )
        run.status, run.finished_at, run.mismatches = ReconciliationRun.Status.DONE, timezone.now(), len(found)
        run.invoices_checked, run.transfers_checked = invoices_checked, transfers_checked
        run.save(update_fields=["status", "finished_at", "mismatches", "invoices_checked", "transfers_checked"])
    return run
