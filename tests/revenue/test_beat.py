"""Beat settles a month once it has ended in every time zone (UTC−12 is the last)."""

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from revenue import tasks
from revenue.models import SettlementRun


@pytest.mark.parametrize(
    "now, expected",
    [
        # 1 Dec 11:59 UTC is still 30 Nov in UTC−12: November has not ended everywhere
        (datetime(2026, 12, 1, 11, 59, tzinfo=UTC), None),
        # 1 Dec 12:30 UTC is 1 Dec 00:30 in UTC−12: settle November
        (datetime(2026, 12, 1, 12, 30, tzinfo=UTC), date(2026, 11, 1)),
        # 2 Dec: already done the day before
        (datetime(2026, 12, 2, 12, 30, tzinfo=UTC), None),
        # 1 Jan settles December of the previous year
        (datetime(2027, 1, 1, 12, 30, tzinfo=UTC), date(2026, 12, 1)),
    ],
)
def test_beat_settles_the_month_that_has_closed_everywhere(
    db, monkeypatch, django_capture_on_commit_callbacks, now, expected
):
    monkeypatch.setattr(timezone, "now", lambda: now)
    queued: list[int] = []
    monkeypatch.setattr(tasks.settlement_run_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = tasks.settlement_run_closed_period()
    if expected is None:
        assert (run_id, SettlementRun.objects.count(), queued) == (None, 0, [])
    else:
        run = SettlementRun.objects.get()
        assert (run_id, run.period, run.trigger, run.requested_by, queued) == (run.pk, expected, "beat", None, [run.pk])
