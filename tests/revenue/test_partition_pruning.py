"""Every hot query over the sales reads only the monthly partitions it needs (migration 0017).

Over several months of sales, each test runs the real service or selector, takes the SQL it
sent to PostgreSQL, and reads the partitions in its plan (EXPLAIN (FORMAT JSON); with
ANALYZE where the month is found at run time, through the key table, counting the partitions
actually visited)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contracts.models import Contract
from revenue.models import Sale
from revenue.selectors.reports import attributed_revenue_by_employee, sales_page
from revenue.services import attribution, ingestion, settlement
from revenue.services.partitions import SALES, sale_partition_name, sale_partitions
from tests.support.plans import months_back, partitions_read, partitions_up_to, sql_of
from tests.support.world import hire, this_period

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def months(world) -> list[date]:
    """Hoshi Mart's sales in the four months up to this one (ten a month), attributed, with
    Rinna placed from this month; the months' partitions exist (the migration made them)."""
    hire(world)
    months = months_back(this_period(world.hoshi), 3)
    events = [
        {
            "external_id": f"{month:%Y%m}-{n}",
            "type": "sale",
            "occurred_at": datetime(month.year, month.month, 1, 0, n, tzinfo=TOKYO).isoformat(),
            "amount": 1000 + n,
            "currency": "JPY",
            "coupon_code": f"C-{n}",
        }
        for month in months
        for n in range(10)
    ]
    result = ingestion.sales_ingest(partner=world.hoshi, events=events)
    assert result.accepted == 40
    partitions = sale_partitions()
    assert all(sale_partition_name(month) in partitions for month in months)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE revenue_sale")
        cursor.execute("ANALYZE revenue_salekey")
    return months


def test_the_portal_sales_list_of_a_month_reads_that_month_only(world, months):
    # when Hoshi Mart's owner opens the sales of the month before this one
    with CaptureQueriesContext(connection) as queries:
        page = sales_page(viewer=world.hoshi_owner, period=months[2], attribution=None, number=1)
    # then the list reads that month's partition alone
    assert len(page.sales) == 10
    assert partitions_read(SALES, sql_of(queries, 'FROM "revenue_sale"')) == {sale_partition_name(months[2])}


def test_the_revenue_chart_reads_the_monthly_roll_up_not_the_sales(world, months):
    # when finance's revenue chart sums attributed sales from two months back
    with CaptureQueriesContext(connection) as queries:
        attributed_revenue_by_employee(viewer=world.finance, period_from=months[2])
    # then it reads the roll-up kept per (partner, placement, month, currency) and no
    # partition of the sales at all (revenue.services.rollups keeps it with every write)
    sql = [q["sql"] for q in queries.captured_queries]
    assert any('"revenue_salemonthlyrollup"' in q for q in sql)
    assert not any('"revenue_sale"' in q or "revenue_sale_y" in q for q in sql)


def test_settling_a_month_reads_no_later_month(world, months):
    # given a contract in force this month
    contract = Contract.objects.get(placement__partner=world.hoshi)
    # when this month's statement is computed
    with CaptureQueriesContext(connection) as queries:
        statement = settlement.statement_compute(contract=contract, period=months[3])
    assert statement is not None
    # then its sales are read from this month's partition and the earlier ones (late sales
    # of a settled month count too), never from a later month's
    sql = sql_of(queries, "count(*) FILTER (WHERE period <")
    read = partitions_read(SALES, sql)
    assert sale_partition_name(months[3]) in read
    assert read <= partitions_up_to(SALES, months[3])
    later = set(sale_partitions()) - partitions_up_to(SALES, months[3])
    assert later and not read & later


def test_attributing_a_batch_reads_the_batch_s_months_only(world, months):
    # given the sales of one month sent back to pending
    ids = list(Sale.objects.filter(period=months[1]).values_list("pk", flat=True))
    attribution.attribution_reopen(period_from=months[0])
    # when the batch hand-over attributes them
    with CaptureQueriesContext(connection) as queries:
        result = attribution.attribution_run(partner_ids=[world.hoshi.pk], sale_ids=ids)
    assert result.attributed + result.unattributed == 10
    # then the lock of the pending sales reads that month's partition alone
    sql = sql_of(queries, "FOR UPDATE SKIP LOCKED")
    assert partitions_read(SALES, sql) == {sale_partition_name(months[1])}


def test_the_duplicate_look_up_in_ingestion_visits_the_sale_s_month_only(world, months):
    # when a sale of two months back is sent again
    event = {
        "external_id": f"{months[1]:%Y%m}-3",
        "type": "sale",
        "occurred_at": datetime(months[1].year, months[1].month, 1, 0, 3, tzinfo=TOKYO).isoformat(),
        "amount": 1003,
        "currency": "JPY",
        "coupon_code": "C-3",
    }
    with CaptureQueriesContext(connection) as queries:
        result = ingestion.sales_ingest(partner=world.hoshi, events=[event])
    assert (result.accepted, result.duplicates) == (0, 1)
    # then the look-up of its digest goes through the key table to that month's partition only
    sql = sql_of(queries, "FROM revenue_salekey k")
    assert partitions_read(SALES, sql, analyze=True) == {sale_partition_name(months[1])}


def test_a_new_touchpoint_resets_late_sales_from_the_month_before_its_own_only(world, months):
    # given a placement of Hoshi Mart (sales stored in the four months up to this one)
    placement = Contract.objects.get(placement__partner=world.hoshi).placement
    occurred_at = datetime.now(TOKYO)
    # when an employee records a coupon touchpoint now (an agent's coupon turn)
    with CaptureQueriesContext(connection) as queries:
        ingestion.touchpoint_record(placement=placement, kind="coupon", key="C-LATE-1", occurred_at=occurred_at)
    # then the late-sale reset plans only the months a sale at or after the touch can be
    # stored under (from the UTC month before the touch's), not every month's partition
    sql = sql_of(queries, "WITH locked AS MATERIALIZED")
    read = partitions_read(SALES, sql)
    bound = ingestion.late_reset_period_from(occurred_at)
    assert sale_partition_name(months[3]) in read
    assert sale_partition_name(months[0]) not in read
    assert read == {name for name, bounds in sale_partitions().items() if bounds is None or bounds[1] > bound}
