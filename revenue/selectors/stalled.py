"""Work that a dead worker left behind, or whose message the broker lost.

A CSV upload or a settlement run holds a session advisory lock for as long as a worker is at
it (revenue.services.uploads.upload_lock, revenue.services.settlement.settlement_period_lock):
PostgreSQL releases it the moment that worker's session ends, killed or not. So one still
queued or in progress after a grace period, whose lock nobody holds, has nobody working on
it: its task is to be queued again. (Celery would redeliver an unacknowledged task only after
the broker's visibility timeout, an hour with Redis; a message lost while the broker was down,
never.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.locks import lock_is_free
from revenue.models import SaleUpload, SettlementRun
from revenue.services.settlement import settlement_period_lock
from revenue.services.uploads import upload_lock


@dataclass(frozen=True)
class StalledWork:
    upload_ids: list[int]
    settlement_run_ids: list[int]


def stalled_work(*, older_than: timedelta | None = None, limit: int | None = None) -> StalledWork:
    """Uploads and settlement runs queued or in progress since before `older_than` ago
    (settings.STALLED_WORK_AFTER) that no session is working on, oldest first, at most
    `limit` (settings.STALLED_WORK_BATCH) of each looked at."""
    cutoff = timezone.now() - (settings.STALLED_WORK_AFTER if older_than is None else older_than)
    limit = settings.STALLED_WORK_BATCH if limit is None else limit
    uploads = (
        SaleUpload.objects.filter(
            status__in=(SaleUpload.Status.QUEUED, SaleUpload.Status.PROCESSING),
            created_at__lt=cutoff,
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    runs = (
        SettlementRun.objects.filter(
            status__in=(SettlementRun.Status.QUEUED, SettlementRun.Status.RUNNING),
            created_at__lt=cutoff,
        )
        .order_by("created_at", "pk")
        .values_list("pk", "period")[:limit]
    )
    # Several runs of one period wait on one lock: only the oldest needs a nudge, the rest
    # follow it through the lock as they do normally.
    first_run_of_period: dict = {}
    for run_id, period in runs:
        first_run_of_period.setdefault(period, run_id)
    return StalledWork(
        upload_ids=[pk for pk in uploads if lock_is_free(upload_lock(pk))],
        settlement_run_ids=[
            run_id for period, run_id in first_run_of_period.items() if lock_is_free(settlement_period_lock(period))
        ],
    )
