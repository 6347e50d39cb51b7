"""Thin Celery tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from core.periods import add_months
from core.queue import enqueue
from revenue.models import SaleUpload
from revenue.selectors.stalled import stalled_work
from revenue.services import attribution, partitions, rollups, settlement
from revenue.services.uploads import upload_process


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def attribution_run_task(partner_id: int | None = None, sale_ids: list[int] | None = None) -> int:
    partners = [partner_id] if partner_id is not None else None
    result = attribution.attribution_run(partner_ids=partners, sale_ids=sale_ids)
    if result.skipped:
        # Another transaction held some of the sales (a refund of them being stored): look
        # again once it has committed, rather than wait on its locks.
        attribution_run_task.apply_async((partner_id, sale_ids), countdown=1)
    return result.attributed


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def attribution_sweep(limit: int = 5000) -> int:
    """Beat: explain pending sales whose hand-over after ingestion was lost (a broker that
    was down), the oldest first and a bounded batch at a time. Settlement never waits for
    this: it attributes the sales it counts itself."""
    result = attribution.attribution_run(limit=limit)
    return result.attributed + result.unattributed


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def sale_partitions_ensure_task() -> list[str]:
    """Beat, daily: the monthly partitions of the sales, touchpoints and outcomes for the months
    ahead, and for any month whose rows wait in a DEFAULT partition (revenue.services.partitions)."""
    return partitions.partitions_ensure().created


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def settlement_run_task(run_id: int) -> int:
    return settlement.settlement_run_execute(run_id=run_id).statements_written


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def stalled_work_sweep() -> dict[str, list[int]]:
    """Beat, every 5 minutes: queue again the uploads and settlement runs nobody is working
    on (a worker killed mid-task, a message lost; revenue.selectors.stalled). Running the
    same task twice is safe: the second finds the work done, or waits for the first."""
    stalled = stalled_work()
    for upload_id in stalled.upload_ids:
        enqueue("revenue.tasks.upload_process_task", upload_id)
    for run_id in stalled.settlement_run_ids:
        enqueue("revenue.tasks.settlement_run_task", run_id)
    return {"uploads": stalled.upload_ids, "settlement_runs": stalled.settlement_run_ids}


@shared_task
def settlement_run_closed_period() -> int | None:
    """Beat, daily at 12:30 UTC: on the day the previous month has ended in every zone
    (UTC−12 is the last to leave it), settle that month once."""
    today_everywhere = (timezone.now() - timedelta(hours=12)).date()
    if today_everywhere.day != 1:
        return None
    period = (today_everywhere - timedelta(days=1)).replace(day=1)
    return settlement.settlement_run_request(actor=None, period=period, trigger="beat").pk


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def rollup_reconcile_recent() -> int:
    """Beat, hourly: reconcile the monthly revenue roll-up of the months still changing, the
    previous one and on, in every partner's zone (UTC−12 is the last to leave a month);
    returns how many groups it corrected."""
    this_month = (timezone.now() - timedelta(hours=12)).date().replace(day=1)
    return rollups.rollup_reconcile(period_from=add_months(this_month, -1)).corrected


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=60)
def upload_process_task(self, upload_id: int) -> str:
    """Process a CSV upload of sale events; a run that finds it done returns.

    A run that finds another session holding the upload's lock tries again shortly: that
    session may be a run still at work (a message delivered twice), or the session of a
    worker process that was killed and whose query has not ended yet (Celery hands the
    task to a new process at once). Returning would leave the upload "processing" for
    ever; whichever run gets the lock first finishes it, and the others find it done."""
    upload = upload_process(upload_id=upload_id)
    if upload.status in (SaleUpload.Status.QUEUED, SaleUpload.Status.PROCESSING):
        raise self.retry(countdown=min(60, 2**self.request.retries))
    return upload.status
