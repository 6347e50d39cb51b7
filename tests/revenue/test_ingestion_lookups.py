"""What a batch of sales reads and how it travels (issue 16).

A batch's look-ups by key (the sales its refunds name, the stored sales and refunds it
repeats) probe the key table and the one month's partition per key, whatever the
statistics say: while they lagged (a table just filled, a new month's partition), joins
over them merge-joined the keys with every sale of the partner, each batch. And the
batch's rows go to PostgreSQL as one JSON text: every value arrives exactly."""

from __future__ import annotations

import pytest
from django.db import connection

from revenue.models import Sale
from revenue.services import ingestion

STORED = 2_000

# Entries returned by every index, and rows by every sequential scan, of the sales' partitions
# (the month's) and of the key table, so far in this transaction.
_READS = """
SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(r.oid)) FILTER (WHERE t.oid <> 'revenue_salekey'::regclass), 0),
       coalesce(sum(pg_stat_get_xact_tuples_returned(r.oid)) FILTER (WHERE t.oid = 'revenue_salekey'::regclass), 0)
  FROM (SELECT inhrelid AS oid FROM pg_inherits WHERE inhparent = 'revenue_sale'::regclass
        UNION ALL SELECT 'revenue_salekey'::regclass) t
 CROSS JOIN LATERAL (SELECT t.oid UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid = t.oid) r(oid)
"""


def _reads() -> tuple[int, int]:
    """(sale rows and index entries read, key rows and index entries read)"""
    with connection.cursor() as cursor:
        cursor.execute(_READS)
        sales, keys = cursor.fetchone()
        return int(sales), int(keys)


def sale(n: int) -> dict[str, object]:
    return {
        "external_id": f"s-{n:05d}",
        "type": "sale",
        "occurred_at": "2026-10-03T12:00:00+09:00",
        "amount": 1000 + n,
        "currency": "JPY",
    }


def refund(n: int, amount: int) -> dict[str, object]:
    return {
        "external_id": f"r-{n:05d}",
        "type": "refund",
        "refund_of": f"s-{n:05d}",
        "occurred_at": "2026-10-04T12:00:00+09:00",
        "amount": amount,
        "currency": "JPY",
    }


@pytest.mark.parametrize("statistics", ["never analyzed", "analyzed when nearly empty"])
def test_refunds_read_only_the_sales_they_name_whatever_the_statistics(world, statistics):
    # given one sale of Hoshi Mart, the statistics as named, then 2,000 more sales
    ingestion.sales_ingest(partner=world.hoshi, events=[sale(0)])
    if statistics == "analyzed when nearly empty":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE revenue_sale")
            cursor.execute("ANALYZE revenue_salekey")
    for first in range(1, STORED + 1, 1000):
        result = ingestion.sales_ingest(partner=world.hoshi, events=[sale(n) for n in range(first, first + 1000)])
        assert result.accepted == 1000
    # when a batch refunds three of them
    before = _reads()
    result = ingestion.sales_ingest(partner=world.hoshi, events=[refund(5, 100), refund(700, 200), refund(1999, 300)])
    reads = tuple(a - b for a, b in zip(_reads(), before, strict=True))
    # then the refunds are stored, having read each named sale's row once (the lock) and no
    # other sale: no stored refunds to find
    assert (result.accepted, result.rejected) == (3, [])
    assert reads[0] == 3
    # and the key table in one scan a look-up (the lock's, the stored refunds'): each named
    # key where the planner takes the primary key, else at most every key of the partner
    # once (through `salekey_sale_unique`, while the statistics are a nearly empty table's),
    # never once per key named
    assert reads[1] in {3, 2 * (STORED + 1)}
    assert sorted(
        Sale.objects.filter(type="refund").values_list("external_id", "amount", "refund_of__external_id")
    ) == [
        ("r-00005", 100, "s-00005"),
        ("r-00700", 200, "s-00700"),
        ("r-01999", 300, "s-01999"),
    ]


def test_a_batch_sent_again_reads_one_key_and_one_sale_per_event(world):
    # given 1,000 stored sales, the statistics taken when one was
    assert ingestion.sales_ingest(partner=world.hoshi, events=[sale(0)]).accepted == 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE revenue_sale")
        cursor.execute("ANALYZE revenue_salekey")
    events = [sale(n) for n in range(1000)]
    assert ingestion.sales_ingest(partner=world.hoshi, events=events).accepted == 999
    # when the same batch is sent again
    before = _reads()
    result = ingestion.sales_ingest(partner=world.hoshi, events=events)
    reads = tuple(a - b for a, b in zip(_reads(), before, strict=True))
    # then all are duplicates, found by one probe of a sale each (the code before read the
    # month's every sale per key here: 1,000,000) and the keys at most twice each
    assert (result.accepted, result.duplicates, result.rejected) == (0, 1000, [])
    assert reads[0] == 1000
    assert reads[1] <= 2000
    assert Sale.objects.filter(partner=world.hoshi).count() == 1000


def test_every_value_arrives_exactly_through_the_batch_s_json(world):
    # given texts JSON and SQL both escape, non-Latin text, and the largest amount
    odd = "a\"b\\c'd\ne\tf/é日本🙂"
    event = {
        "external_id": f"x-{odd}",
        "type": "sale",
        "occurred_at": "2026-10-03T12:00:00.123456+09:00",
        "amount": ingestion.MAX_AMOUNT,
        "currency": "JPY",
        "coupon_code": f"c-{odd}",
        "customer_ref": "\u2028",
        "store_id": "0",
    }
    # when it is ingested, then sent again
    first = ingestion.sales_ingest(partner=world.hoshi, events=[event])
    again = ingestion.sales_ingest(partner=world.hoshi, events=[event])
    # then it is stored exactly as sent (the time to the microsecond), and the second is a
    # duplicate: the stored digest is the one computed from the values sent
    assert (first.accepted, again.duplicates) == (1, 1)
    stored = Sale.objects.get(partner=world.hoshi)
    assert (
        stored.external_id,
        stored.coupon_code,
        stored.customer_ref,
        stored.store_id,
        stored.amount,
        stored.occurred_at.isoformat(),
        stored.click_id,
    ) == (f"x-{odd}", f"c-{odd}", "\u2028", "0", ingestion.MAX_AMOUNT, "2026-10-03T03:00:00.123456+00:00", None)
