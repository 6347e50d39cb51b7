"""Two partner systems (or one retrying) posting at the same moment: every event is stored
exactly once, and refunds never add up to more than their sale. Real transactions, one
database connection per thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from contracts import services as contract_services
from revenue import tasks
from revenue.models import Sale, Touchpoint
from revenue.services import ingestion
from tests.support.world import hire

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Attribution is another test's business: here the hook only records its calls."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.attribution_run_task, "delay", lambda partner_id, sale_ids: calls.append(partner_id))
    return calls


def bearer(world) -> str:
    issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="POS")
    return f"Bearer {issued.secret}"


def client_for(authorization: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def at_once(*bodies: dict[str, Any], authorization: str, path: str = "/api/v1/sales") -> list[Any]:
    """POST each body from its own thread (own client, own database connection), all
    released together; return [(status, json), ...]."""
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def run(index: int, body: dict[str, Any]) -> None:
        client = client_for(authorization)
        try:
            barrier.wait(timeout=10)
            response = client.post(path, body, format="json")
            results[index] = (response.status_code, response.json())
        except BaseException as exc:  # reported in the main thread
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def sale(external_id: str, amount: int) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": "2026-10-03T12:01:00+09:00",
        "amount": amount,
        "currency": "JPY",
    }


def refund(external_id: str, of: str, amount: int) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "refund",
        "refund_of": of,
        "amount": amount,
        "occurred_at": "2026-10-05T09:00:00+09:00",
        "currency": "JPY",
    }


def test_the_same_batch_posted_twice_at_once_is_stored_once(world, _no_broker):
    # given a batch of 300 sales and 100 refunds of them
    authorization = bearer(world)
    events = [sale(f"pos-{i:04d}", 1000 + i) for i in range(300)]
    events += [refund(f"ref-{i:04d}", f"pos-{i:04d}", 500) for i in range(100)]
    # when two requests post it at the same moment
    first, second = at_once({"events": events}, {"events": events}, authorization=authorization)
    # then between them every event is accepted once and a duplicate once
    assert (first[0], second[0]) == (200, 200)
    assert first[1]["rejected"] == second[1]["rejected"] == []
    assert first[1]["accepted"] + second[1]["accepted"] == 400
    assert first[1]["duplicates"] + second[1]["duplicates"] == 400
    # and each is stored exactly once
    stored = list(Sale.objects.values_list("external_id", "amount").order_by("external_id"))
    assert stored == sorted([(e["external_id"], e["amount"]) for e in events])
    # and attribution was asked for once per request that stored something
    assert _no_broker == [world.hoshi.pk] * sum(1 for r in (first, second) if r[1]["accepted"])


@pytest.mark.parametrize("round_", range(3))
def test_two_refunds_at_once_never_exceed_their_sale(world, round_):
    # given a stored sale of ¥1,000
    authorization = bearer(world)
    ingestion.sales_ingest(partner=world.hoshi, events=[sale("pos-1", 1000)])
    # when two systems refund ¥600 each at the same moment
    first, second = at_once(
        {"events": [refund("r-a", "pos-1", 600)]},
        {"events": [refund("r-b", "pos-1", 600)]},
        authorization=authorization,
    )
    # then exactly one is accepted and the other rejected as exceeding the sale
    answers = sorted([first[1], second[1]], key=lambda body: body["accepted"])
    assert answers[1] == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert answers[0]["accepted"] == 0
    [rejection] = answers[0]["rejected"]
    assert (rejection["code"], rejection["message"]) == (
        "refund_exceeds_sale",
        "Refunding 600 would exceed sale 'pos-1': 400 of its 1000 is left to refund.",
    )
    # and the stored refunds add up to no more than the sale
    refunds = list(Sale.objects.filter(type="refund").values_list("amount", "refund_of__external_id"))
    assert refunds == [(600, "pos-1")]


def test_concurrent_batches_that_share_touchpoint_keys_store_each_once(world):
    # given an active placement and two overlapping batches of touchpoints, in opposite orders
    placement = hire(world)
    keys = [f"click-{i:03d}" for i in range(200)]
    items = [
        {"placement": placement.pk, "kind": "click", "key": key, "occurred_at": "2026-10-01T00:00:00Z"} for key in keys
    ]
    first, second = at_once(
        {"touchpoints": items},
        {"touchpoints": list(reversed(items))},
        authorization=bearer(world),
        path="/api/v1/touchpoints",
    )
    # then neither deadlocked, and each touchpoint was accepted once and a duplicate once
    assert (first[0], second[0]) == (200, 200)
    assert first[1]["accepted"] + second[1]["accepted"] == 200
    assert first[1]["duplicates"] + second[1]["duplicates"] == 200
    assert sorted(Touchpoint.objects.values_list("key", flat=True)) == keys
