"""Work nobody is doing any more — an upload or settlement run whose worker died, or whose
message the broker lost — is found by its free advisory lock and queued again by the beat's
sweep (revenue.selectors.stalled, revenue.tasks.stalled_work_sweep)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from revenue import tasks
from revenue.models import Sale, SaleUpload, SettlementRun
from revenue.selectors.stalled import StalledWork, stalled_work
from revenue.services.settlement import settlement_period_lock
from revenue.services.uploads import upload_lock
from tests.support.workers import own_connection, wait_for

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
CSV = (
    b"external_id,type,occurred_at,amount,currency\n"
    b"pos-1,sale,2026-10-03T12:00:00+09:00,1200,JPY\n"
    b"pos-2,sale,2026-10-04T12:00:00+09:00,-5,JPY\n"
)


def upload(world, *, status: str, minutes_ago: int) -> SaleUpload:
    """An upload stored as a worker would have left it, `minutes_ago` minutes old."""
    row = SaleUpload(
        partner=world.hoshi,
        original_name="october.csv",
        uploaded_by=world.hoshi_owner,
        status=status,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    row.file.save("stalled/october.csv", ContentFile(CSV), save=True)
    return row


def run(*, period: date, status: str, minutes_ago: int) -> SettlementRun:
    return SettlementRun.objects.create(
        period=period, status=status, created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def advisory_locks_held_here() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'")
        return cursor.fetchone()[0]


def test_only_old_unfinished_work_whose_lock_nobody_holds_is_stalled(world, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    # given uploads: a dead one, one at work in another session, a young one, a finished one
    dead = upload(world, status="processing", minutes_ago=10)
    lost = upload(world, status="queued", minutes_ago=30)
    at_work = upload(world, status="processing", minutes_ago=10)
    young = upload(world, status="processing", minutes_ago=1)
    upload(world, status="done", minutes_ago=60)
    # and settlement runs: October's dead one with a newer one queued behind it, November's at
    # work in another session, and a failed one
    october = run(period=OCT, status="running", minutes_ago=20)
    run(period=OCT, status="queued", minutes_ago=15)
    run(period=NOV, status="running", minutes_ago=20)
    run(period=date(2026, 9, 1), status="failed", minutes_ago=90)
    other = own_connection()
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", upload_lock(at_work.pk))
        other.execute("SELECT pg_advisory_lock(%s, %s)", settlement_period_lock(NOV))
        # when the sweep looks
        found = stalled_work()
    finally:
        other.close()
    # then it finds the dead and the lost upload, oldest first, and October's oldest run
    # (the one queued behind it follows through the lock as usual)
    assert found == StalledWork(upload_ids=[lost.pk, dead.pk], settlement_run_ids=[october.pk])
    # and it holds none of the locks it tried
    assert advisory_locks_held_here() == 0
    assert young.pk not in found.upload_ids


@pytest.mark.integration
def test_the_sweep_queues_a_lost_upload_and_the_worker_imports_it(world, shared_media, celery_worker_process):
    # given an upload whose message never reached a worker (the broker was down), 10 minutes old
    lost = upload(world, status="queued", minutes_ago=10)
    # when the beat's sweep runs
    assert tasks.stalled_work_sweep() == {"uploads": [lost.pk], "settlement_runs": []}
    # then the worker imports it: one sale stored, the negative amount rejected
    wait_for(lambda: SaleUpload.objects.get(pk=lost.pk).status == "done", what="the worker to import it")
    lost.refresh_from_db()
    assert (lost.rows_total, lost.accepted, lost.duplicates, lost.rejected) == (2, 1, 0, 1)
    assert list(Sale.objects.filter(partner=world.hoshi).values_list("external_id", "amount")) == [("pos-1", 1200)]
    # and the next sweep finds nothing
    assert tasks.stalled_work_sweep() == {"uploads": [], "settlement_runs": []}
