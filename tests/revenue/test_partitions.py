"""revenue_sale partitioned by month (migration 0017), revenue_outcome (0019) and
revenue_touchpoint (0020) the same way: the key table that keeps (partner, external_id) — an
outcome's (partner, placement, kind, external_id), a touchpoint's (partner, kind, key) —
unique across partitions, the DEFAULT partition that takes a row of a month
without a partition, and the beat's pass that creates partitions ahead and drains DEFAULT."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from revenue.models import Outcome, OutcomeKey, Sale, SaleKey, Touchpoint, TouchpointKey
from revenue.services import ingestion
from revenue.services.partitions import (
    DEFAULT_PARTITION,
    OUTCOMES,
    TOUCHPOINTS,
    sale_partition_name,
    sale_partitions,
    sale_partitions_ensure,
    table_partitions,
    table_partitions_ensure,
)
from revenue.tasks import sale_partitions_ensure_task
from tests.support.factories import OutcomeFactory, SaleFactory, TouchpointFactory
from tests.support.snapshot import db_snapshot
from tests.support.world import hire


def _event(external_id: str, occurred_at: datetime, amount: int = 1000, **extra: object) -> dict[str, object]:
    return {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": occurred_at.isoformat(),
        "amount": amount,
        "currency": "JPY",
        **extra,
    }


def _partition_of(sale_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM revenue_sale WHERE id = %s", [sale_id])
        return cursor.fetchone()[0]


def test_a_sale_of_a_month_without_partition_is_stored_in_default_then_moved_by_the_beat(world):
    # given a sale dated five years ago (no partition covers that month)
    old = datetime(2021, 11, 15, 3, 0, tzinfo=UTC)
    result = ingestion.sales_ingest(partner=world.hoshi, events=[_event("old-1", old)])
    sale = Sale.objects.get(external_id="old-1")
    # then ingestion accepted it, into the DEFAULT partition, with its key
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    assert _partition_of(sale.pk) == DEFAULT_PARTITION
    assert list(SaleKey.objects.values_list("partner_id", "external_id", "sale_id", "period")) == [
        (world.hoshi.pk, "old-1", sale.pk, date(2021, 11, 1))
    ]
    stored = Sale.objects.values().get(pk=sale.pk)
    # when the beat's pass runs
    ensured = sale_partitions_ensure(months_ahead=0)
    # then November 2021 has a partition of its own, holding the sale, unchanged, key and all
    assert sale_partition_name(date(2021, 11, 1)) in ensured.created
    assert ensured.moved == 1
    assert _partition_of(sale.pk) == "revenue_sale_y2021m11"
    assert sale_partitions()["revenue_sale_y2021m11"] == (date(2021, 11, 1), date(2021, 12, 1))
    assert Sale.objects.values().get(pk=sale.pk) == stored
    assert SaleKey.objects.get(external_id="old-1").sale_id == sale.pk
    # and ingestion keeps its exact behaviour on it: the same event again is a duplicate,
    # another with its id a conflict, a refund of it is accepted, one of an unknown sale refused
    before = db_snapshot(Sale, SaleKey)
    again = ingestion.sales_ingest(partner=world.hoshi, events=[_event("old-1", old), _event("old-1", old, amount=5)])
    assert (again.accepted, again.duplicates, [r.code for r in again.rejected]) == (0, 1, ["conflict"])
    assert db_snapshot(Sale, SaleKey) == before
    refund = {**_event("old-1-r", old + timedelta(days=1), amount=400), "type": "refund", "refund_of": "old-1"}
    unknown = {**_event("x-r", old + timedelta(days=1), amount=400), "type": "refund", "refund_of": "nope"}
    refunds = ingestion.sales_ingest(partner=world.hoshi, events=[refund, unknown])
    assert (refunds.accepted, [r.code for r in refunds.rejected]) == (1, ["unknown_sale"])
    assert Sale.objects.get(external_id="old-1-r").refund_of_id == sale.pk


def test_the_beat_creates_the_months_ahead_once(world):
    # given the partitions the migration made (up to three months ahead of its day)
    now = timezone.now() + timedelta(days=400)
    # when the pass runs a year and more later, asked for two months ahead, twice
    first = sale_partitions_ensure(months_ahead=2, now=now)
    second = sale_partitions_ensure(months_ahead=2, now=now)
    # then that month and the two after it exist, made by the first pass only, empty
    month = now.date().replace(day=1)
    expected = []
    for _ in range(3):
        expected.append(sale_partition_name(month))
        month = (month + timedelta(days=32)).replace(day=1)
    assert first.created == expected
    assert (first.moved, second.created, second.moved) == (0, [], 0)
    # and a sale dated in them (stored by hand: ingestion refuses the future) lands there
    sale = SaleFactory(partner=world.hoshi, occurred_at=now)
    assert _partition_of(sale.pk) == expected[0]


def test_the_key_table_keeps_a_partner_s_external_ids_unique_across_months(world):
    # given a sale of October stored by the ORM (its key written by the trigger)
    october = SaleFactory(partner=world.hoshi, external_id="k-1", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    assert SaleKey.objects.get(partner_id=world.hoshi.pk, external_id="k-1").sale_id == october.pk
    before = db_snapshot(Sale, SaleKey)
    # when another sale with the same key is stored, in another month's partition
    with pytest.raises(IntegrityError, match="sale_external_id_unique"), transaction.atomic():
        SaleFactory(partner=world.hoshi, external_id="k-1", occurred_at=datetime(2026, 11, 5, tzinfo=UTC))
    # or the stored sale's key or month is changed
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Sale.objects.filter(pk=october.pk).update(period=date(2026, 11, 1))
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Sale.objects.filter(pk=october.pk).update(external_id="k-2")
    # then nothing changed
    assert db_snapshot(Sale, SaleKey) == before
    # and another partner may use the same external_id
    SaleFactory(external_id="k-1", occurred_at=datetime(2026, 11, 5, tzinfo=UTC))
    assert SaleKey.objects.filter(external_id="k-1").count() == 2


def test_a_deleted_sale_gives_its_key_back_and_a_refunded_one_cannot_go(world):
    # given a sale with a refund, and another sale
    sale = SaleFactory(partner=world.hoshi, external_id="s-1", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    SaleFactory(
        partner=world.hoshi,
        external_id="s-1-r",
        type="refund",
        refund_of=sale,
        occurred_at=datetime(2026, 11, 5, tzinfo=UTC),
    )
    lone = SaleFactory(partner=world.hoshi, external_id="s-2", occurred_at=datetime(2026, 10, 6, tzinfo=UTC))
    before = db_snapshot(Sale, SaleKey)
    # when the refunded sale is deleted below the ORM (which would refuse it: PROTECT)
    with (
        pytest.raises(IntegrityError, match="sale_refund_of_fk_salekey"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM revenue_sale WHERE id = %s", [sale.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # then nothing changed
    assert db_snapshot(Sale, SaleKey) == before
    # when the lone sale is deleted, its key goes with it and can be used again
    lone.delete()
    assert not SaleKey.objects.filter(external_id="s-2").exists()
    result = ingestion.sales_ingest(partner=world.hoshi, events=[_event("s-2", datetime(2026, 10, 7, tzinfo=UTC))])
    assert result.accepted == 1


def test_beat_runs_the_partition_pass_daily_on_the_ingest_lane(world, settings):
    # given the beat schedule
    entry = settings.CELERY_BEAT_SCHEDULE["sale-partitions-ensure"]
    # then it names the task, once a day
    assert (entry["task"], str(entry["schedule"]._orig_minute), str(entry["schedule"]._orig_hour)) == (
        "revenue.tasks.sale_partitions_ensure_task",
        "10",
        "3",
    )
    # when the task runs (twice: the second finds everything made)
    first = sale_partitions_ensure_task()
    second = sale_partitions_ensure_task()
    # then it made nothing the migration had not (this month and three ahead exist already)
    assert (first, second) == ([], [])


# --- outcomes (migration 0019): the same method ------------------------------------------


def _outcome_partition_of(outcome_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM revenue_outcome WHERE id = %s", [outcome_id])
        return cursor.fetchone()[0]


def _resolution(placement_id: int, external_id: str, occurred_at: datetime, **extra: object) -> dict[str, object]:
    return {
        "placement": placement_id,
        "kind": "resolution",
        "external_id": external_id,
        "occurred_at": occurred_at.isoformat(),
        **extra,
    }


def test_an_outcome_of_a_month_without_partition_is_stored_in_default_then_moved_by_the_beat(world):
    # given a resolution dated five years ago (no partition covers that month)
    placement = hire(world)
    old = datetime(2021, 11, 15, 3, 0, tzinfo=UTC)
    result = ingestion.outcomes_ingest(partner=world.hoshi, outcomes=[_resolution(placement.pk, "old-1", old)])
    outcome = Outcome.objects.get(external_id="old-1")
    # then ingestion accepted it, into the DEFAULT partition, with its partner and key
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    assert _outcome_partition_of(outcome.pk) == OUTCOMES.default_partition
    assert outcome.partner_id == world.hoshi.pk
    assert list(
        OutcomeKey.objects.values_list("partner_id", "placement_id", "kind", "external_id", "outcome_id", "period")
    ) == [(world.hoshi.pk, placement.pk, "resolution", "old-1", outcome.pk, date(2021, 11, 1))]
    stored = Outcome.objects.values().get(pk=outcome.pk)
    # when the beat's pass runs
    ensured = table_partitions_ensure(table=OUTCOMES, months_ahead=0)
    # then November 2021 has a partition of its own, holding the outcome, unchanged, key and all
    assert ensured.created == ["revenue_outcome_y2021m11"]
    assert ensured.moved == 1
    assert _outcome_partition_of(outcome.pk) == "revenue_outcome_y2021m11"
    assert table_partitions(OUTCOMES)["revenue_outcome_y2021m11"] == (date(2021, 11, 1), date(2021, 12, 1))
    assert Outcome.objects.values().get(pk=outcome.pk) == stored
    assert OutcomeKey.objects.get(external_id="old-1").outcome_id == outcome.pk
    # and ingestion keeps its exact behaviour on it: the same outcome again is a duplicate, the
    # same key with a time in another month a conflict (found across months by the key table)
    before = db_snapshot(Outcome, OutcomeKey)
    again = ingestion.outcomes_ingest(
        partner=world.hoshi,
        outcomes=[_resolution(placement.pk, "old-1", old), _resolution(placement.pk, "old-1", timezone.now())],
    )
    assert (again.accepted, again.duplicates, [r.code for r in again.rejected]) == (0, 1, ["conflict"])
    assert db_snapshot(Outcome, OutcomeKey) == before
    # and it can be withdrawn, once
    withdrawn = ingestion.outcomes_ingest(
        partner=world.hoshi, outcomes=[_resolution(placement.pk, "old-1", old, withdrawn=True)]
    )
    twice = ingestion.outcome_withdraw(placement=placement, kind="resolution", external_id="old-1")
    assert (withdrawn.accepted, withdrawn.rejected) == (1, [])
    assert twice.withdrawn_at == Outcome.objects.get(pk=outcome.pk).withdrawn_at is not None


def test_the_outcome_key_table_keeps_a_placement_s_keys_unique_across_months(world):
    # given a resolution of October stored by the ORM (its key written by the trigger)
    placement = hire(world)
    october = OutcomeFactory(placement=placement, external_id="o-1", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    assert OutcomeKey.objects.get(placement_id=placement.pk, external_id="o-1").outcome_id == october.pk
    before = db_snapshot(Outcome, OutcomeKey)
    # when another outcome with the same key is stored, in another month's partition
    with pytest.raises(IntegrityError, match="outcome_unique"), transaction.atomic():
        OutcomeFactory(placement=placement, external_id="o-1", occurred_at=datetime(2026, 11, 5, tzinfo=UTC))
    # or the stored outcome's key or month is changed
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Outcome.objects.filter(pk=october.pk).update(period=date(2026, 11, 1))
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Outcome.objects.filter(pk=october.pk).update(external_id="o-2")
    # then nothing changed
    assert db_snapshot(Outcome, OutcomeKey) == before
    # and another kind, or another placement, may use the same external_id
    OutcomeFactory(placement=placement, kind="delivered_work", external_id="o-1")
    OutcomeFactory(external_id="o-1")
    assert OutcomeKey.objects.filter(external_id="o-1").count() == 3
    # and a deleted outcome gives its key back
    october.delete()
    assert not OutcomeKey.objects.filter(placement_id=placement.pk, kind="resolution", external_id="o-1").exists()


# --- touchpoints (migration 0020): partitioned by occurred_at's month (UTC) ------------------


def _touchpoint_partition_of(touchpoint_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM revenue_touchpoint WHERE id = %s", [touchpoint_id])
        return cursor.fetchone()[0]


def _coupon(placement_id: int, key: str, occurred_at: datetime) -> dict[str, object]:
    return {"placement": placement_id, "kind": "coupon", "key": key, "occurred_at": occurred_at.isoformat()}


def test_a_touchpoint_of_a_month_without_partition_is_stored_in_default_then_moved_by_the_beat(world):
    # given a coupon issued five years ago (no partition covers that month)
    placement = hire(world)
    old = datetime(2021, 11, 15, 3, 0, tzinfo=UTC)
    result = ingestion.touchpoints_ingest(partner=world.hoshi, touchpoints=[_coupon(placement.pk, "OLD-1", old)])
    touchpoint = Touchpoint.objects.get(key="OLD-1")
    # then ingestion accepted it, into the DEFAULT partition, with its key
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    assert _touchpoint_partition_of(touchpoint.pk) == TOUCHPOINTS.default_partition
    assert list(TouchpointKey.objects.values_list("partner_id", "kind", "key", "touchpoint_id", "occurred_at")) == [
        (world.hoshi.pk, "coupon", "OLD-1", touchpoint.pk, old)
    ]
    stored = Touchpoint.objects.values().get(pk=touchpoint.pk)
    # when the beat's pass runs
    ensured = table_partitions_ensure(table=TOUCHPOINTS, months_ahead=0)
    # then November 2021 (UTC) has a partition of its own, holding it, unchanged, key and all
    assert ensured.created == ["revenue_touchpoint_y2021m11"]
    assert ensured.moved == 1
    assert _touchpoint_partition_of(touchpoint.pk) == "revenue_touchpoint_y2021m11"
    assert table_partitions(TOUCHPOINTS)["revenue_touchpoint_y2021m11"] == (date(2021, 11, 1), date(2021, 12, 1))
    assert Touchpoint.objects.values().get(pk=touchpoint.pk) == stored
    assert TouchpointKey.objects.get(key="OLD-1").touchpoint_id == touchpoint.pk
    # and ingestion keeps its exact behaviour on it: the same coupon again is a duplicate, the
    # same key with another time (another month) a conflict, found across months by the key table
    before = db_snapshot(Touchpoint, TouchpointKey)
    again = ingestion.touchpoints_ingest(
        partner=world.hoshi,
        touchpoints=[_coupon(placement.pk, "OLD-1", old), _coupon(placement.pk, "OLD-1", timezone.now())],
    )
    assert (again.accepted, again.duplicates, [r.code for r in again.rejected]) == (0, 1, ["conflict"])
    assert db_snapshot(Touchpoint, TouchpointKey) == before
    # and the agents' one-at-a-time service returns the stored one
    assert ingestion.touchpoint_record(placement=placement, kind="coupon", key="OLD-1", occurred_at=old).pk == (
        touchpoint.pk
    )


def test_the_touchpoint_key_table_keeps_a_partner_s_keys_unique_across_months(world):
    # given a coupon of October stored by the ORM (its key written by the trigger)
    placement = hire(world)
    october = TouchpointFactory(placement=placement, key="K-1", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    assert TouchpointKey.objects.get(partner_id=world.hoshi.pk, key="K-1").touchpoint_id == october.pk
    before = db_snapshot(Touchpoint, TouchpointKey)
    # when another touchpoint with the same key is stored, in another month's partition
    with pytest.raises(IntegrityError, match="touchpoint_key_unique"), transaction.atomic():
        TouchpointFactory(placement=placement, key="K-1", occurred_at=datetime(2026, 11, 5, tzinfo=UTC))
    # or the stored one's key or time is changed
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Touchpoint.objects.filter(pk=october.pk).update(occurred_at=datetime(2026, 11, 5, tzinfo=UTC))
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Touchpoint.objects.filter(pk=october.pk).update(key="K-2")
    # then nothing changed
    assert db_snapshot(Touchpoint, TouchpointKey) == before
    # and another kind, or another partner, may use the same key
    TouchpointFactory(placement=placement, kind="click", key="K-1")
    TouchpointFactory(key="K-1")
    assert TouchpointKey.objects.filter(key="K-1").count() == 3


def test_a_touchpoint_a_sale_names_cannot_go_and_a_lone_one_gives_its_key_back(world):
    # given a coupon a sale was attributed to (the foreign key through the key table), and another
    placement = hire(world)
    named = TouchpointFactory(placement=placement, key="N-1", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    SaleFactory(partner=world.hoshi, occurred_at=datetime(2026, 10, 6, tzinfo=UTC), touchpoint=named)
    lone = TouchpointFactory(placement=placement, key="N-2", occurred_at=datetime(2026, 10, 5, tzinfo=UTC))
    other = TouchpointFactory(key="N-3")  # another partner's
    before = db_snapshot(Touchpoint, TouchpointKey, Sale)
    # when the named one is deleted below the ORM (which would refuse it: PROTECT)
    with (
        pytest.raises(IntegrityError, match="sale_touchpoint_fk_touchpointkey"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM revenue_touchpoint WHERE id = %s", [named.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # or a sale names a touchpoint of another partner
    with pytest.raises(IntegrityError, match="sale_touchpoint_fk_touchpointkey"), transaction.atomic():
        SaleFactory(partner=world.hoshi, touchpoint_id=other.pk)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # then nothing changed
    assert db_snapshot(Touchpoint, TouchpointKey, Sale) == before
    # when the lone one is deleted, its key goes with it and can be used again
    lone.delete()
    assert not TouchpointKey.objects.filter(key="N-2").exists()
    again = ingestion.touchpoints_ingest(
        partner=world.hoshi, touchpoints=[_coupon(placement.pk, "N-2", datetime(2026, 10, 7, tzinfo=UTC))]
    )
    assert again.accepted == 1
