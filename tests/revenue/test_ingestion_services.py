"""The ingestion services the other apps call: one touchpoint or outcome at a time for the
agents (idempotent), and sales_ingest for file uploads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts import services as contract_services
from core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from revenue.models import Outcome, Sale, SaleUpload, Touchpoint
from revenue.services import ingestion
from tests.support.world import hire

TOKYO = ZoneInfo("Asia/Tokyo")


def test_touchpoint_record_is_idempotent_on_its_key(world):
    # given an active placement and an unattributed sale carrying coupon RINNA-1
    placement = hire(world)
    ingestion.sales_ingest(
        partner=world.hoshi,
        events=[
            {
                "external_id": "s-1",
                "type": "sale",
                "occurred_at": "2026-10-10T10:00:00+09:00",
                "amount": 100,
                "currency": "JPY",
                "coupon_code": "RINNA-1",
            }
        ],
    )
    Sale.objects.update(attribution="unattributed", attribution_note="No touchpoint.")
    at = datetime(2026, 10, 1, 9, 0, tzinfo=TOKYO)
    # when the agent records the coupon it issued
    touchpoint = ingestion.touchpoint_record(placement=placement, kind="coupon", key="RINNA-1", occurred_at=at)
    # then it is stored as the agent's, and the sale carrying it goes back to pending
    assert Touchpoint.objects.values_list(
        "partner_id", "placement_id", "kind", "key", "occurred_at", "source"
    ).get() == (world.hoshi.pk, placement.pk, "coupon", "RINNA-1", datetime(2026, 10, 1, 0, 0, tzinfo=UTC), "agent")
    assert touchpoint.pk == Touchpoint.objects.get().pk
    assert Sale.objects.values_list("attribution", "attribution_note").get() == ("pending", "")
    # when it records the same key again (a retried task), even with a later clock reading
    again = ingestion.touchpoint_record(
        placement=placement, kind="coupon", key="RINNA-1", occurred_at=datetime(2026, 10, 1, 9, 5, tzinfo=TOKYO)
    )
    # then the stored touchpoint is returned unchanged
    assert again.pk == touchpoint.pk
    assert Touchpoint.objects.get().occurred_at == datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


def test_touchpoint_record_refuses_a_key_of_another_placement_and_bad_input(world):
    # given two placements of Hoshi Mart; Rinna issued coupon K
    rinna = hire(world)
    kai = hire(world, employee="kai")
    at = datetime(2026, 10, 1, tzinfo=UTC)
    ingestion.touchpoint_record(placement=rinna, kind="coupon", key="K", occurred_at=at)
    before = list(Touchpoint.objects.values())
    # when Kai records the same coupon key, or input is wrong
    with pytest.raises(Conflict):
        ingestion.touchpoint_record(placement=kai, kind="coupon", key="K", occurred_at=at)
    with pytest.raises(ValidationFailed):
        ingestion.touchpoint_record(placement=kai, kind="email", key="K2", occurred_at=at)
    with pytest.raises(ValidationFailed):
        ingestion.touchpoint_record(placement=kai, kind="click", key="", occurred_at=at)
    with pytest.raises(ValidationFailed):
        ingestion.touchpoint_record(placement=kai, kind="click", key="K3", occurred_at=datetime(2026, 10, 1))
    contract_services.placement_end(actor=world.hoshi_manager, placement=kai, reason="Done")
    with pytest.raises(InvalidTransition):
        ingestion.touchpoint_record(placement=kai, kind="click", key="K4", occurred_at=at)
    # then nothing changed
    assert list(Touchpoint.objects.values()) == before


def test_outcome_record_and_withdraw(world):
    # given an active placement
    placement = hire(world)
    at = datetime(2026, 10, 31, 23, 30, tzinfo=TOKYO)
    # when the agent records a resolution late on 31 October, Tokyo time
    recorded = ingestion.outcome_record(placement=placement, kind="resolution", external_id="conv-1", occurred_at=at)
    # then it counts in October
    assert (recorded.period, recorded.occurred_at, recorded.withdrawn_at) == (date(2026, 10, 1), at, None)
    # and recording it again returns it; with another time is a conflict
    again = ingestion.outcome_record(placement=placement, kind="resolution", external_id="conv-1", occurred_at=at)
    assert again.pk == recorded.pk
    with pytest.raises(Conflict):
        ingestion.outcome_record(
            placement=placement,
            kind="resolution",
            external_id="conv-1",
            occurred_at=datetime(2026, 11, 1, tzinfo=TOKYO),
        )
    # when it is withdrawn, twice
    withdrawn = ingestion.outcome_withdraw(placement=placement, kind="resolution", external_id="conv-1")
    twice = ingestion.outcome_withdraw(placement=placement, kind="resolution", external_id="conv-1")
    # then it is withdrawn once, at the first time
    assert withdrawn.withdrawn_at is not None
    assert twice.withdrawn_at == withdrawn.withdrawn_at == Outcome.objects.get().withdrawn_at
    # and an unknown outcome cannot be withdrawn
    with pytest.raises(NotFound):
        ingestion.outcome_withdraw(placement=placement, kind="resolution", external_id="conv-2")
    assert Outcome.objects.count() == 1


def test_sales_from_an_upload_name_it(world):
    # given a CSV upload of Hoshi Mart
    upload = SaleUpload.objects.create(
        partner=world.hoshi, file="uploads/october.csv", original_name="october.csv", uploaded_by=world.hoshi_owner
    )
    # when its rows are ingested, one of them invalid
    result = ingestion.sales_ingest(
        partner=world.hoshi,
        upload=upload,
        events=[
            {
                "external_id": "u-1",
                "type": "sale",
                "occurred_at": "2026-10-10T10:00:00+09:00",
                "amount": 100,
                "currency": "JPY",
            },
            {
                "external_id": "u-2",
                "type": "sale",
                "occurred_at": "2026-10-10T10:00:00+09:00",
                "amount": "1,280",
                "currency": "JPY",
            },
        ],
    )
    # then the valid row is stored with the upload, and the rejection names the column at fault
    assert (result.accepted, result.duplicates) == (1, 0)
    assert result.inserted_ids == [Sale.objects.get().pk]
    assert [(r.index, r.external_id, r.code, r.field) for r in result.rejected] == [(1, "u-2", "invalid", "amount")]
    assert Sale.objects.values_list("external_id", "upload_id").get() == ("u-1", upload.pk)
