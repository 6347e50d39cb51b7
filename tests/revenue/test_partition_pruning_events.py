"""The hot queries over outcomes and touchpoints read only the monthly partitions they need
(migrations 0019 and 0020), as tests/revenue/test_partition_pruning.py shows for the sales.

Over four months of outcomes and touchpoints, each test runs the real service, takes the SQL
it sent to PostgreSQL, and reads the partitions in its plan (EXPLAIN (FORMAT JSON); with
ANALYZE where the month is found at run time, through a key table, counting the partitions
actually visited)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contracts.models import Contract
from revenue.models import Sale
from revenue.services import attribution, ingestion, settlement
from revenue.services.partitions import OUTCOMES, TOUCHPOINTS, table_partitions
from tests.support.plans import months_back, partitions_read, partitions_up_to, sql_of
from tests.support.world import hire, this_period

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def placement(world):
    return hire(world)


@pytest.fixture
def months(world, placement) -> list[date]:
    """Four months up to this one, Hoshi Mart's (Tokyo) months; the partitions exist (the
    migrations made them)."""
    return months_back(this_period(world.hoshi), 3)


@pytest.fixture
def outcomes(world, placement, months) -> list[date]:
    """Ten resolutions of Rinna's placement in each of the four months."""
    items = [
        {
            "placement": placement.pk,
            "kind": "resolution",
            "external_id": f"{month:%Y%m}-{n}",
            "occurred_at": datetime(month.year, month.month, 1, 0, n, tzinfo=TOKYO).isoformat(),
        }
        for month in months
        for n in range(10)
    ]
    result = ingestion.outcomes_ingest(partner=world.hoshi, outcomes=items)
    assert result.accepted == 40
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE revenue_outcome")
        cursor.execute("ANALYZE revenue_outcomekey")
    return months


def test_settlement_reads_the_outcomes_of_its_month_and_earlier_only(world, outcomes):
    # given a contract in force this month
    contract = Contract.objects.get(placement__partner=world.hoshi)
    # when this month's statement is computed
    with CaptureQueriesContext(connection) as queries:
        statement = settlement.statement_compute(contract=contract, period=outcomes[3])
    assert statement is not None
    # then its outcomes are read from this month's partition and the earlier ones (late
    # outcomes of a settled month count too), never from a later month's
    read = partitions_read(OUTCOMES, sql_of(queries, "FROM revenue_outcome o JOIN scope"))
    assert OUTCOMES.partition_name(outcomes[3]) in read
    assert read <= partitions_up_to(OUTCOMES, outcomes[3])
    later = set(table_partitions(OUTCOMES)) - partitions_up_to(OUTCOMES, outcomes[3])
    assert later and not read & later


def test_an_outcome_sent_again_is_found_in_its_own_month_only(world, placement, outcomes):
    # when a resolution of two months back is sent again, as it was
    month = outcomes[1]
    item = {
        "placement": placement.pk,
        "kind": "resolution",
        "external_id": f"{month:%Y%m}-3",
        "occurred_at": datetime(month.year, month.month, 1, 0, 3, tzinfo=TOKYO).isoformat(),
    }
    with CaptureQueriesContext(connection) as queries:
        result = ingestion.outcomes_ingest(partner=world.hoshi, outcomes=[item])
    assert (result.accepted, result.duplicates) == (0, 1)
    # then the look-up of the stored one goes through the key table to that month's partition only
    sql = sql_of(queries, "FROM revenue_outcomekey k")
    assert partitions_read(OUTCOMES, sql, analyze=True) == {OUTCOMES.partition_name(month)}


# --- touchpoints (migration 0020) ----------------------------------------------------------


def _touched(month: date, n: int) -> datetime:
    # Early in the month, and never in the future (ingestion refuses it).
    return min(datetime(month.year, month.month, 1, 0, n, tzinfo=UTC), timezone.now() - timedelta(seconds=10 - n))


@pytest.fixture
def touchpoints(world, placement) -> list[date]:
    """Ten of Rinna's coupons in each of the four months up to this one, UTC months (the
    touchpoints' partitions are months of occurred_at in UTC)."""
    months = months_back(timezone.now().date().replace(day=1), 3)
    items = [
        {
            "placement": placement.pk,
            "kind": "coupon",
            "key": f"T-{month:%Y%m}-{n}",
            "occurred_at": _touched(month, n).isoformat(),
        }
        for month in months
        for n in range(10)
    ]
    result = ingestion.touchpoints_ingest(partner=world.hoshi, touchpoints=items)
    assert result.accepted == 40
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE revenue_touchpoint")
        cursor.execute("ANALYZE revenue_touchpointkey")
    return months


def test_attributing_a_batch_looks_touchpoints_up_in_the_window_s_months_only(world, placement, touchpoints):
    # given three coupons issued two minutes ago and three sales carrying them, just stored
    now = timezone.now()
    touched = now - timedelta(minutes=2)
    coupons = [
        {"placement": placement.pk, "kind": "coupon", "key": f"NOW-{n}", "occurred_at": touched.isoformat()}
        for n in range(3)
    ]
    assert ingestion.touchpoints_ingest(partner=world.hoshi, touchpoints=coupons).accepted == 3
    sold = now - timedelta(minutes=1)
    events = [
        {
            "external_id": f"now-{n}",
            "type": "sale",
            "occurred_at": sold.isoformat(),
            "amount": 1000,
            "currency": "JPY",
            "coupon_code": f"NOW-{n}",
        }
        for n in range(3)
    ]
    assert ingestion.sales_ingest(partner=world.hoshi, events=events).accepted == 3
    ids = list(Sale.objects.filter(external_id__startswith="now-").values_list("pk", flat=True))
    # when the batch hand-over attributes them
    with CaptureQueriesContext(connection) as queries:
        result = attribution.attribution_run(partner_ids=[world.hoshi.pk], sale_ids=ids)
    # (each to its coupon: the look-up found them)
    assert result.attributed == 3
    assert sorted(Sale.objects.filter(pk__in=ids).values_list("external_id", "touchpoint__key")) == [
        (f"now-{n}", f"NOW-{n}") for n in range(3)
    ]
    # then the touchpoints are looked up in the months the window before the sales spans
    # (14 days: this month's partition, and last month's if the window reaches into it), and
    # no other month's; the coupons of the months before are never read
    window_from = sold - timedelta(days=14)
    spanned = {
        name
        for name, bounds in table_partitions(TOUCHPOINTS).items()
        if bounds is not None
        and datetime(*bounds[0].timetuple()[:3], tzinfo=UTC) <= sold
        and window_from < datetime(*bounds[1].timetuple()[:3], tzinfo=UTC)
    }
    read = partitions_read(TOUCHPOINTS, sql_of(queries, "batch_touchpoints AS MATERIALIZED"))
    assert read == spanned
    assert TOUCHPOINTS.partition_name(touchpoints[0]) not in read
    assert TOUCHPOINTS.partition_name(touchpoints[1]) not in read


def test_a_touchpoint_sent_again_is_found_in_its_own_month_only(world, placement, touchpoints):
    # when a coupon of two months back is sent again, as it was
    month = touchpoints[1]
    item = {
        "placement": placement.pk,
        "kind": "coupon",
        "key": f"T-{month:%Y%m}-3",
        "occurred_at": _touched(month, 3).isoformat(),
    }
    with CaptureQueriesContext(connection) as queries:
        result = ingestion.touchpoints_ingest(partner=world.hoshi, touchpoints=[item])
    assert (result.accepted, result.duplicates) == (0, 1)
    # then the look-up of the stored one goes through the key table to that month's partition only
    sql = sql_of(queries, "FROM revenue_touchpointkey k")
    assert partitions_read(TOUCHPOINTS, sql, analyze=True) == {TOUCHPOINTS.partition_name(month)}


def test_an_agent_s_touchpoint_is_found_in_its_own_month_only(world, placement, touchpoints):
    # when the agents record a coupon of two months back again (the one-at-a-time service)
    month = touchpoints[1]
    with CaptureQueriesContext(connection) as queries:
        touchpoint = ingestion.touchpoint_record(
            placement=placement,
            kind="coupon",
            key=f"T-{month:%Y%m}-4",
            occurred_at=_touched(month, 4),
        )
    # then it is the stored one, read through the key table from its month's partition only
    assert touchpoint.key == f"T-{month:%Y%m}-4"
    sql = sql_of(queries, "SELECT t.* FROM revenue_touchpointkey k")
    assert partitions_read(TOUCHPOINTS, sql, analyze=True) == {TOUCHPOINTS.partition_name(month)}
