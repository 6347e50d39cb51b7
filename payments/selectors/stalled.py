"""Payments work nobody is doing: its message was lost (the broker was down when the
request committed, core.queue) or its worker died. Each kind is found by the guard its own
task already keeps, so queueing it again never does the work twice:

- an invoice still `draft` with no refusal on it (a refusal waits for finance to issue it
  again), whose row no worker holds: invoice_issue locks the row for as long as it talks
  to the provider, so a row we cannot lock is being issued right now;
- payout runs `queued` or `running` while no session holds the payout lock: runs are
  serialised by it and a worker holds it for the whole run (PostgreSQL lets go when that
  worker's session ends, killed or not);
- a credit note still `draft` with no refusal on it, whose row no worker holds (the same
  guard as invoices: credit_note_send locks it while it talks to the provider);
- reconciliation runs still `running`: they take no lock and finish in seconds, so one
  this old lost its message or its worker (a second run of one writes nothing twice:
  reconciliation_run_execute re-checks the run under its row lock before writing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.locks import Lock, advisory_key, lock_is_free
from payments.models import CreditNote, Invoice, PayoutRun, ReconciliationRun


@dataclass(frozen=True)
class StalledPayments:
    invoice_ids: list[int]
    payout_run_ids: list[int]
    reconciliation_run_ids: list[int]
    credit_note_ids: list[int] = field(default_factory=list)


def stalled_payments(*, older_than: timedelta | None = None, limit: int | None = None) -> StalledPayments:
    """Invoices, payout runs and reconciliation runs created before `older_than` ago
    (settings.STALLED_WORK_AFTER) still waiting for a worker, oldest first, at most `limit`
    (settings.STALLED_WORK_BATCH) of each."""
    cutoff = timezone.now() - (settings.STALLED_WORK_AFTER if older_than is None else older_than)
    limit = settings.STALLED_WORK_BATCH if limit is None else limit
    with transaction.atomic():
        # SKIP LOCKED passes over the invoices a worker is issuing; the row locks this takes
        # end with this short transaction.
        invoice_ids = list(
            Invoice.objects.select_for_update(skip_locked=True)
            .filter(status=Invoice.Status.DRAFT, issue_error="", created_at__lt=cutoff)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        credit_note_ids = list(
            CreditNote.objects.select_for_update(skip_locked=True)
            .filter(status=CreditNote.Status.DRAFT, issue_error="", created_at__lt=cutoff)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
    payout_run_ids: list[int] = []
    if lock_is_free(advisory_key(Lock.PAYOUT_RUNS)):
        # Each is queued: the first to get the lock runs (and fails any other left
        # `running`, taking over its payouts), the others wait their turn as usual.
        payout_run_ids = list(
            PayoutRun.objects.filter(
                status__in=(PayoutRun.Status.QUEUED, PayoutRun.Status.RUNNING), created_at__lt=cutoff
            )
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
    reconciliation_run_ids = list(
        ReconciliationRun.objects.filter(status=ReconciliationRun.Status.RUNNING, created_at__lt=cutoff)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return StalledPayments(
        invoice_ids=invoice_ids,
        payout_run_ids=payout_run_ids,
        reconciliation_run_ids=reconciliation_run_ids,
        credit_note_ids=credit_note_ids,
    )
