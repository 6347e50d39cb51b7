"""Thin Celery tasks of payments: ids in, one service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from core.queue import enqueue
from payments.models import PayoutRun
from payments.providers.base import ProviderError
from payments.selectors.stalled import stalled_payments
from payments.services.credit_notes import credit_note_send
from payments.services.invoicing import invoice_issue
from payments.services.payouts import payout_run_execute, payout_run_request
from payments.services.reconciliation import reconciliation_run_execute


@shared_task(autoretry_for=(OperationalError, ProviderError), retry_backoff=True, max_retries=8)
def invoice_issue_task(invoice_id: int) -> str:
    """Issue an invoice at its provider; an unanswered request is retried (same keys)."""
    return invoice_issue(invoice_id=invoice_id).status


@shared_task(autoretry_for=(OperationalError, ProviderError), retry_backoff=True, max_retries=8)
def credit_note_send_task(credit_note_id: int) -> str:
    """Issue a credit note at its provider; an unanswered request is retried (same key)."""
    return credit_note_send(credit_note_id=credit_note_id).status


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=30)
def payout_run_task(self, run_id: int) -> str:
    """Runs are serialised: while another one holds the lock this one stays queued, and
    the task tries again shortly."""
    run = payout_run_execute(run_id=run_id)
    if run.status == PayoutRun.Status.QUEUED:
        raise self.retry(countdown=30)
    return run.status


@shared_task
def payout_run_scheduled() -> int:
    """Beat, daily: pay what is due and retry failed transfers."""
    return payout_run_request(actor=None, trigger="beat").pk


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def reconciliation_run_task(run_id: int) -> int:
    return reconciliation_run_execute(run_id=run_id).mismatches


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def stalled_work_sweep() -> dict[str, list[int]]:
    """Beat, every 5 minutes: queue again the invoices, credit notes, payout runs and reconciliation runs
    whose message was lost or whose worker died (payments.selectors.stalled). Each task is
    safe to run twice: the second finds the work done, or waits for the first."""
    stalled = stalled_payments()
    for invoice_id in stalled.invoice_ids:
        enqueue("payments.tasks.invoice_issue_task", invoice_id)
    for run_id in stalled.payout_run_ids:
        enqueue("payments.tasks.payout_run_task", run_id)
    for run_id in stalled.reconciliation_run_ids:
        enqueue("payments.tasks.reconciliation_run_task", run_id)
    for credit_note_id in stalled.credit_note_ids:
        enqueue("payments.tasks.credit_note_send_task", credit_note_id)
    return {
        "invoices": stalled.invoice_ids,
        "payout_runs": stalled.payout_run_ids,
        "reconciliation_runs": stalled.reconciliation_run_ids,
        "credit_notes": stalled.credit_note_ids,
    }
