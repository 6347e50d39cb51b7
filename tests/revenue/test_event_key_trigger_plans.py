"""The touchpoints' and outcomes' key triggers (migrations 0019, 0020, 0022) read one key
entry per row of a statement, whatever plan the session kept from an earlier firing — the
hazard migration 0018 closed for the sales' keys: PL/pgSQL keeps a trigger query's plan for
the session, and a plan made for one row and a nearly empty key table (a sequential scan of
it, or a hash join over one) is reused for every later statement of thousands of rows.

Each test drops the kept plans (DISCARD PLANS), fires the trigger for one row with the key
table in the hazardous state, then measures a statement of 3,000 rows by the key table's own
counters of this session."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.factories import OutcomeFactory, PlacementFactory, TouchpointFactory

ROWS = 3_000

KEY_TABLE_STATES = {
    "truncated": "TRUNCATE {events}, {keys} CASCADE",
    "analyzed-small": "ANALYZE {keys}",
}

_INSERT_TOUCHPOINTS = """
INSERT INTO revenue_touchpoint (partner_id, placement_id, kind, key, occurred_at, source, created_at)
SELECT %(partner)s, %(placement)s, 'coupon', 'bulk-' || g, timestamptz '2026-10-02 10:00+00', 'agent', now()
  FROM generate_series(1, %(count)s) g
"""

_INSERT_OUTCOMES = """
INSERT INTO revenue_outcome (partner_id, placement_id, kind, external_id, occurred_at, period, created_at)
SELECT %(partner)s, %(placement)s, 'resolution', 'bulk-' || g, timestamptz '2026-10-02 10:00+00',
       date '2026-10-01', now()
  FROM generate_series(1, %(count)s) g
"""

_DELETE_TOUCHPOINTS = "DELETE FROM revenue_touchpoint WHERE partner_id = %(partner)s AND key LIKE %(pattern)s"


def _key_table_reads(keys: str) -> tuple[int, int]:
    """(rows the key table's heap returned to sequential scans, entries its indexes returned)
    so far in this session, the current transaction included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_returned(%s::regclass), "
            "coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0) "
            "FROM pg_index WHERE indrelid = %s::regclass",
            [keys, keys],
        )
        heap, index = cursor.fetchone()
    return heap, int(index)


def _reads_of(keys: str, sql: str, params: dict[str, object]) -> tuple[int, int]:
    heap_before, index_before = _key_table_reads(keys)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    heap_after, index_after = _key_table_reads(keys)
    return heap_after - heap_before, index_after - index_before


def _plans_made_for_one_row(events: str, keys: str, state: str, make_one) -> None:
    with connection.cursor() as cursor:
        cursor.execute(KEY_TABLE_STATES[state].format(events=events, keys=keys))
        cursor.execute("DISCARD PLANS")
    make_one()


def _count(sql: str, params: list[object]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# (events table, key table, the statement of 3,000 rows, one row made through the ORM, how
# many of the statement's rows have their own key row)
EVENTS = {
    "touchpoints": (
        "revenue_touchpoint",
        "revenue_touchpointkey",
        _INSERT_TOUCHPOINTS,
        lambda placement: TouchpointFactory(placement=placement, key="first"),
        "SELECT count(*) FROM revenue_touchpoint t JOIN revenue_touchpointkey k ON k.partner_id = t.partner_id "
        "AND k.kind = t.kind AND k.key = t.key AND k.touchpoint_id = t.id WHERE t.key LIKE 'bulk-%%'",
    ),
    "outcomes": (
        "revenue_outcome",
        "revenue_outcomekey",
        _INSERT_OUTCOMES,
        lambda placement: OutcomeFactory(placement=placement, external_id="first"),
        "SELECT count(*) FROM revenue_outcome o JOIN revenue_outcomekey k ON k.partner_id = o.partner_id "
        "AND k.placement_id = o.placement_id AND k.kind = o.kind AND k.external_id = o.external_id "
        "AND k.outcome_id = o.id WHERE o.external_id LIKE 'bulk-%%'",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("events", EVENTS)
@pytest.mark.parametrize("state", KEY_TABLE_STATES)
def test_a_large_statement_of_events_reads_their_own_keys_only(events, state):
    # given the triggers' plans made for one row and a nearly empty key table
    table, keys, insert, make_one, matched = EVENTS[events]
    placement = PlacementFactory()
    _plans_made_for_one_row(table, keys, state, lambda: make_one(placement))
    # when 3,000 rows are inserted in one statement, their keys not claimed first
    params = {"partner": placement.partner_id, "placement": placement.pk, "count": ROWS}
    heap_rows, index_entries = _reads_of(keys, insert, params)
    # then each got its own key, and the key table was never scanned: at most one index
    # entry per row (its own key, found by the check), not the table per row
    assert _count(matched, []) == ROWS
    assert heap_rows == 0
    assert index_entries <= ROWS


@pytest.mark.django_db
def test_deleting_one_touchpoint_after_deleting_many_reads_only_its_key():
    # given 3,000 touchpoints, and the release trigger's plan made for a statement deleting 2,999
    placement = PlacementFactory()
    params = {"partner": placement.partner_id, "placement": placement.pk, "count": ROWS}
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_TOUCHPOINTS, params)
        cursor.execute("ANALYZE revenue_touchpointkey")
        cursor.execute("DISCARD PLANS")
        cursor.execute(_DELETE_TOUCHPOINTS, {"partner": placement.partner_id, "pattern": "bulk-1%"})
    left = _count("SELECT count(*) FROM revenue_touchpointkey WHERE key LIKE 'bulk-%%'", [])
    # when one more touchpoint is deleted
    heap_rows, index_entries = _reads_of(
        "revenue_touchpointkey", _DELETE_TOUCHPOINTS, {"partner": placement.partner_id, "pattern": "bulk-2"}
    )
    # then its key went, and the key table was not scanned for it
    assert _count("SELECT count(*) FROM revenue_touchpointkey WHERE key LIKE 'bulk-%%'", []) == left - 1
    assert heap_rows == 0
    assert index_entries <= 1
