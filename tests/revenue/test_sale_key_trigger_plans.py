"""The sales' key triggers (migrations 0017, 0018) cost one key-table index entry per sale of
the statement, whatever plan the session kept from an earlier firing (issue 16: a plan made
for one sale and an empty key table read, for each sale of a later statement of thousands,
every key of its partner).

PL/pgSQL keeps a trigger query's plan for the session, so each test first drops the kept
plans (DISCARD PLANS) and fires the trigger once for the small statement that makes the
hazardous plan, then measures the large statement by the key table's own counters of this
session: entries its indexes returned and rows its heap returned to a sequential scan. Under
migration 0017's functions these tests fail: the plan kept from one sale read each sale's
partner's keys (3,000 × 3,000 index entries) or the whole key table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contracts.models import Partner
from revenue.models import Sale, SaleKey
from revenue.services import ingestion
from tests.support.factories import SaleFactory
from tests.support.snapshot import db_snapshot

SALES = 3_000
PERIOD = "2026-10-01"

_SALE_COLUMNS = (
    "partner_id, external_id, type, occurred_at, amount, currency, period, content_digest, received_at, "
    "attribution, attributed_key, attribution_note"
)
_SALE_VALUES = "'sale', timestamptz '2026-10-02 10:00+00', 1000, 'JPY', date '{period}', 'x', now(), 'pending', '', ''"

# Sales without their keys claimed first (the ORM, COPY, a raw load): the trigger claims them.
_INSERT_UNCLAIMED = f"""
INSERT INTO revenue_sale ({_SALE_COLUMNS})
SELECT %(partner)s, %(prefix)s || g, {_SALE_VALUES.format(period=PERIOD)}
  FROM generate_series(1, %(count)s) g
"""

# Keys claimed first, in the same statement, as ingestion claims them: the trigger finds each
# claimed for its sale. `offset` claims every key for another sale's id (a wrong claim).
_INSERT_CLAIMED = f"""
WITH claimed AS (
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT %(partner)s, %(prefix)s || g, nextval('revenue_sale_id_seq'), date '{PERIOD}'
      FROM generate_series(1, %(count)s) g
    RETURNING external_id, sale_id
)
INSERT INTO revenue_sale (id, {_SALE_COLUMNS})
SELECT c.sale_id + %(offset)s, %(partner)s, c.external_id, {_SALE_VALUES.format(period=PERIOD)}
  FROM claimed c
"""


def _key_table_reads() -> tuple[int, int]:
    """(rows the key table's heap returned to sequential scans, entries its two indexes
    returned) so far in this session, the current transaction included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_returned('revenue_salekey'::regclass), "
            "pg_stat_get_xact_tuples_returned('revenue_salekey_pkey'::regclass) "
            "+ pg_stat_get_xact_tuples_returned('salekey_sale_unique'::regclass)"
        )
        heap, index = cursor.fetchone()
    return heap, index


def _reads_of(sql: str, params: dict[str, object]) -> tuple[int, int]:
    heap_before, index_before = _key_table_reads()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    heap_after, index_after = _key_table_reads()
    return heap_after - heap_before, index_after - index_before


# The key table as a session may find it when a trigger's plan is made: just truncated (the
# benchmarks' reset, a fresh deployment: no statistics, its size unknown to the planner), or
# analyzed while it held almost nothing.
KEY_TABLE_STATES = {
    "truncated": "TRUNCATE revenue_sale, revenue_salekey CASCADE",
    "analyzed-small": "ANALYZE revenue_salekey",
}


def _plans_made_for_one_sale(partner: Partner, key_table: str) -> None:
    """The triggers' plans dropped, then made again by a statement of one sale with the key
    table in the state `key_table`: the plans the session keeps for every later statement."""
    with connection.cursor() as cursor:
        cursor.execute(KEY_TABLE_STATES[key_table])
        cursor.execute("DISCARD PLANS")
    SaleFactory(partner=partner, external_id="first", period=PERIOD)


def _keys_match_their_sales(partner_id: int, prefix: str) -> int:
    """How many of the partner's sales named `prefix…` have their own key row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM revenue_sale s JOIN revenue_salekey k ON k.partner_id = s.partner_id "
            "AND k.external_id = s.external_id AND k.sale_id = s.id AND k.period = s.period "
            "WHERE s.partner_id = %s AND s.external_id LIKE %s",
            [partner_id, f"{prefix}%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("key_table", KEY_TABLE_STATES)
def test_a_large_statement_of_sales_without_keys_reads_one_key_entry_per_sale(world, key_table):
    # given the triggers' plans made for one sale and a nearly empty key table
    partner = world.hoshi.pk
    _plans_made_for_one_sale(world.hoshi, key_table)
    # when 3,000 sales of that partner are inserted in one statement, their keys not claimed
    heap_rows, index_entries = _reads_of(_INSERT_UNCLAIMED, {"partner": partner, "prefix": "bulk-", "count": SALES})
    # then each sale's key was claimed for it, and the check read one index entry per sale
    # (its own key, found), not its partner's keys, and no sequential scan of the key table
    assert _keys_match_their_sales(partner, "bulk-") == SALES
    assert (heap_rows, index_entries) == (0, SALES)


@pytest.mark.parametrize("key_table", KEY_TABLE_STATES)
def test_a_large_statement_of_sales_with_keys_claimed_first_reads_two_key_entries_per_sale(world, key_table):
    # given the triggers' plans made for one sale and a nearly empty key table
    partner = world.hoshi.pk
    _plans_made_for_one_sale(world.hoshi, key_table)
    # when 3,000 sales are inserted in one statement that claims their keys first (ingestion's way)
    params = {"partner": partner, "prefix": "claimed-", "count": SALES, "offset": 0}
    heap_rows, index_entries = _reads_of(_INSERT_CLAIMED, params)
    # then the claim found each key taken (one entry) and the check found it its sale's (one
    # more), with no sequential scan of the key table
    assert _keys_match_their_sales(partner, "claimed-") == SALES
    assert (heap_rows, index_entries) == (0, 2 * SALES)


def test_deleting_one_sale_after_deleting_many_reads_only_its_key(world):
    # given 3,000 sales of each partner, and the release trigger's plan made for a statement
    # deleting 2,999 of one partner's
    partner = world.hoshi.pk
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_UNCLAIMED, {"partner": partner, "prefix": "gone-", "count": SALES})
        cursor.execute(_INSERT_UNCLAIMED, {"partner": world.wayfarer.pk, "prefix": "stay-", "count": SALES})
        cursor.execute("ANALYZE revenue_salekey")
        cursor.execute("DISCARD PLANS")
        cursor.execute("DELETE FROM revenue_sale WHERE partner_id = %s AND external_id <> 'gone-1'", [partner])
    # when the last of them is deleted
    heap_rows, index_entries = _reads_of(
        "DELETE FROM revenue_sale WHERE partner_id = %(partner)s AND external_id = 'gone-1'", {"partner": partner}
    )
    # then its key went, found by one index entry, the key table not scanned; the other
    # partner's keys stay
    assert not SaleKey.objects.filter(partner_id=partner).exists()
    assert SaleKey.objects.filter(partner_id=world.wayfarer.pk).count() == SALES
    assert (heap_rows, index_entries) == (0, 1)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        # a key claimed first, but for another sale's id
        (_INSERT_CLAIMED, {"prefix": "claimed-", "count": SALES, "offset": 1}),
        # a key already held by a stored sale
        (_INSERT_UNCLAIMED, {"prefix": "held-", "count": SALES}),
    ],
    ids=["claimed-for-another-sale", "held-by-a-stored-sale"],
)
def test_a_large_statement_with_one_taken_key_is_refused_whole(world, sql, params):
    # given the triggers' plans made for one sale, and a stored sale holding the key "held-7"
    partner = world.hoshi.pk
    _plans_made_for_one_sale(world.hoshi, "truncated")
    SaleFactory(partner=world.hoshi, external_id="held-7", period=PERIOD)
    before = db_snapshot(Sale, SaleKey)
    # when a statement of 3,000 sales takes a key that is not its own
    with (
        pytest.raises(IntegrityError, match="sale_external_id_unique"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, {"partner": partner, **params})
    # then nothing of it was stored
    assert db_snapshot(Sale, SaleKey) == before


def test_an_ingested_batch_claims_its_keys_once_and_the_trigger_checks_the_next_insert(world):
    # given a batch of 1,000 new sales as the API receives it
    occurred_at = (timezone.now() - timedelta(days=1)).isoformat()
    events = [
        {"external_id": f"api-{i}", "type": "sale", "occurred_at": occurred_at, "amount": 1000, "currency": "JPY"}
        for i in range(1_000)
    ]
    # when ingestion stores it
    heap_before, index_before = _key_table_reads()
    result = ingestion.sales_ingest(partner=world.hoshi, events=events)
    heap_after, index_after = _key_table_reads()
    # then every sale is stored with its key, claimed by ingestion's own statement: the key
    # table gave no entry to a second claim or a check (migration 0021), and was not scanned
    assert (result.accepted, result.duplicates, result.rejected) == (1_000, 0, [])
    assert _keys_match_their_sales(world.hoshi.pk, "api-") == 1_000
    assert (heap_after - heap_before, index_after - index_before) == (0, 0)
    # and the next insert of the transaction is checked again: a taken key is refused
    before = db_snapshot(Sale, SaleKey)
    with pytest.raises(IntegrityError, match="sale_external_id_unique"), transaction.atomic():
        SaleFactory(partner=world.hoshi, external_id="api-7", period=PERIOD)
    assert db_snapshot(Sale, SaleKey) == before
