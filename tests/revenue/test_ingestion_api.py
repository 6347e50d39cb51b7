"""The partner integration API for reported data (DESIGN.md §5b): POST /api/v1/sales,
/touchpoints and /outcomes. A result per item; duplicates and conflicts by content;
envelope errors 400/401/403/413/429 that change nothing; one partner never reaches
another's sales or placements."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from contracts import services as contract_services
from contracts.models import Placement
from revenue.models import Outcome, Sale, Statement, Touchpoint
from revenue.services import ingestion
from tests.support.api import assert_error, bearer
from tests.support.revenue import ingestion_state
from tests.support.world import api_as, hire


def sale(
    external_id: str, amount: int = 1280, *, at: str = "2026-10-03T12:01:00+09:00", currency: str = "JPY", **extra: Any
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": at,
        "amount": amount,
        "currency": currency,
        **extra,
    }


def refund(
    external_id: str, of: str, amount: int, *, at: str = "2026-10-05T09:00:00+09:00", currency: str = "JPY"
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "refund",
        "refund_of": of,
        "occurred_at": at,
        "amount": amount,
        "currency": currency,
    }


def post(client: APIClient, path: str, body: Any):
    return client.post(path, body, format="json")


def rows(partner) -> list[tuple]:
    """The partner's stored sales and refunds, in a comparable form."""
    return sorted(
        (
            s.external_id,
            s.type,
            s.amount,
            s.currency,
            s.refund_of.external_id if s.refund_of else None,
            s.period,
            s.attribution,
        )
        for s in Sale.objects.filter(partner=partner).select_related("refund_of")
    )


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


# --- sales: per-event results ------------------------------------------------------------


def test_a_mixed_batch_is_answered_event_by_event_and_stores_only_the_valid_events(world):
    # given Hoshi Mart (JPY, Asia/Tokyo) already sent sale pos-1 (¥1,280) and old-2 (¥500)
    client = bearer(world)
    given = ingestion.sales_ingest(partner=world.hoshi, events=[sale("pos-1"), sale("old-2", 500)])
    assert (given.accepted, given.duplicates, given.rejected) == (2, 0, [])
    naive = sale("naive-10", at="2026-10-03T12:01:00")
    no_id = sale("x")
    del no_id["external_id"]
    events = [
        sale("new-0", coupon_code="RINNA-7F3K2", store_id="tokyo-221"),  # 0 accepted
        sale("pos-1"),  # 1 duplicate of the stored sale
        sale("old-2", 600),  # 2 conflict: same id, other amount
        sale("neg-3", -5),  # 3 negative amount
        sale("float-4", 1280.0),  # 4 a float, even a whole one
        sale("str-5", "1280"),  # 5 a string
        sale("zero-6", 0),  # 6 zero
        sale("xyz-7", currency="XYZ"),  # 7 not ISO 4217
        sale("usd-8", currency="USD"),  # 8 a real currency, not Hoshi's
        no_id,  # 9 no external_id
        naive,  # 10 no UTC offset
        refund("r-11", "nope", 100),  # 11 refund of an unknown sale
        refund("r-12", "pos-1", 1281),  # 12 more than the sale
        refund("r-13", "pos-1", 280),  # 13 partial refund
        refund("r-14", "pos-1", 1000),  # 14 the rest: 280 + 1000 = 1280 exactly
        sale("batch-15", 2000),  # 15 a sale ...
        refund("r-16", "batch-15", 2000),  # 16 ... refunded later in the same batch
        {**sale("extra-17"), "discount": 10},  # 17 an unknown field
        sale("bool-18", True),  # 18 a boolean
        sale("huge-19", 2**62 + 1),  # 19 over 2^62
        refund("r-20", "r-13", 1),  # 20 refunding a refund
        refund("r-21", "later-22", 10),  # 21 refund before its sale in the batch
        sale("later-22", 10),  # 22 the sale
        sale("new-0", coupon_code="RINNA-7F3K2", store_id="tokyo-221"),  # 23 repeat of 0
        sale("new-0", 999),  # 24 same id as 0, other content
        refund("r-25", "pos-1", 1),  # 25 nothing left to refund
    ]
    before_existing = rows(world.hoshi)
    # when its system posts the batch
    response = post(client, "/api/v1/sales", {"events": events})
    # then every event has its answer, in order
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"accepted", "duplicates", "rejected"}
    assert (body["accepted"], body["duplicates"]) == (6, 2)
    assert [(r["index"], r["external_id"], r["code"]) for r in body["rejected"]] == [
        (2, "old-2", "conflict"),
        (3, "neg-3", "invalid"),
        (4, "float-4", "invalid"),
        (5, "str-5", "invalid"),
        (6, "zero-6", "invalid"),
        (7, "xyz-7", "unknown_currency"),
        (8, "usd-8", "currency_mismatch"),
        (9, None, "invalid"),
        (10, "naive-10", "invalid"),
        (11, "r-11", "unknown_sale"),
        (12, "r-12", "refund_exceeds_sale"),
        (17, "extra-17", "unknown_field"),
        (18, "bool-18", "invalid"),
        (19, "huge-19", "invalid"),
        (20, "r-20", "invalid"),
        (21, "r-21", "unknown_sale"),
        (24, "new-0", "conflict"),
        (25, "r-25", "refund_exceeds_sale"),
    ]
    assert all(set(r) == {"index", "external_id", "code", "message"} for r in body["rejected"])
    messages = {r["index"]: r["message"] for r in body["rejected"]}
    assert messages[7] == "'XYZ' is not an ISO 4217 currency."
    assert messages[8] == "This partner reports sales in JPY, not USD."
    assert messages[9] == "external_id is required."
    assert messages[10] == (
        "occurred_at has no UTC offset; send an ISO 8601 date-time with a UTC offset, e.g. 2026-10-03T12:01:00+09:00."
    )
    assert messages[12] == "Refunding 1281 would exceed sale 'pos-1': 1280 of its 1280 is left to refund."
    assert messages[17] == "Unknown field(s): discount."
    assert messages[25] == "Refunding 1 would exceed sale 'pos-1': 0 of its 1280 is left to refund."
    # and exactly the valid new events were stored, with their values
    october = date(2026, 10, 1)
    assert rows(world.hoshi) == sorted(
        [
            *before_existing,
            ("new-0", "sale", 1280, "JPY", None, october, "pending"),
            ("r-13", "refund", 280, "JPY", "pos-1", october, "pending"),
            ("r-14", "refund", 1000, "JPY", "pos-1", october, "pending"),
            ("batch-15", "sale", 2000, "JPY", None, october, "pending"),
            ("r-16", "refund", 2000, "JPY", "batch-15", october, "pending"),
            ("later-22", "sale", 10, "JPY", None, october, "pending"),
        ]
    )
    # and the stored sale pos-1 and old-2 are unchanged
    assert Sale.objects.get(partner=world.hoshi, external_id="old-2").amount == 500


def test_a_sale_is_stored_with_its_exact_values_and_digest(world):
    # given Hoshi Mart's key
    client = bearer(world)
    event = {
        "external_id": "pos-8812-001",
        "type": "sale",
        "occurred_at": "2026-10-03T12:01:00+09:00",
        "amount": 1280,
        "currency": "JPY",
        "coupon_code": "RINNA-7F3K2",
        "store_id": "tokyo-221",
        "click_id": None,
        "conversation_id": "",
        "customer_ref": "c0ffee",
    }
    started = datetime.now(UTC)
    # when it posts the sale of DESIGN.md §5b
    response = post(client, "/api/v1/sales", {"events": [event]})
    # then it is accepted and stored exactly
    assert (response.status_code, response.json()) == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
    stored = Sale.objects.get()
    # (the canonical text: id, type, µs since 1970, amount, currency, the five keys, refund_of)
    canonical = "12:pos-8812-001|4:sale|1790996460000000|1280|3:JPY|11:RINNA-7F3K2|~|~|6:c0ffee|9:tokyo-221|~"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert {k: v for k, v in Sale.objects.values().get().items() if k not in ("id", "received_at")} == {
        "partner_id": world.hoshi.pk,
        "external_id": "pos-8812-001",
        "type": "sale",
        "occurred_at": datetime(2026, 10, 3, 3, 1, tzinfo=UTC),
        "amount": 1280,
        "currency": "JPY",
        "coupon_code": "RINNA-7F3K2",
        "click_id": None,
        "conversation_id": None,
        "customer_ref": "c0ffee",
        "store_id": "tokyo-221",
        "refund_of_id": None,
        "period": date(2026, 10, 1),
        "content_digest": digest,
        "upload_id": None,
        "attribution": "pending",
        "placement_id": None,
        "touchpoint_id": None,
        "attributed_key": "",
        "attribution_note": "",
        "statement_id": None,
    }
    assert started <= stored.received_at <= datetime.now(UTC)
    # when the same event comes again, its time written in UTC and the empty keys left out
    same = {
        "external_id": "pos-8812-001",
        "type": "sale",
        "occurred_at": "2026-10-03T03:01:00Z",
        "amount": 1280,
        "currency": "JPY",
        "store_id": "tokyo-221",
        "coupon_code": "RINNA-7F3K2",
        "customer_ref": "c0ffee",
    }
    before = ingestion_state()
    response = post(client, "/api/v1/sales", {"events": [same]})
    # then it is a duplicate and nothing changes
    assert (response.status_code, response.json()) == (200, {"accepted": 0, "duplicates": 1, "rejected": []})
    assert ingestion_state() == before


@pytest.mark.parametrize(
    ("occurred_at", "partner", "currency", "period"),
    [
        ("2026-10-31T23:30:00+09:00", "hoshi", "JPY", date(2026, 10, 1)),
        ("2026-10-31T15:30:00Z", "hoshi", "JPY", date(2026, 11, 1)),  # 00:30 on 1 Nov in Tokyo
        ("2026-10-31T14:59:59.999999+00:00", "hoshi", "JPY", date(2026, 10, 1)),
        ("2026-11-01T03:30:00Z", "wayfarer", "USD", date(2026, 10, 1)),  # 23:30 on 31 Oct in New York
        ("2026-11-01T04:00:00Z", "wayfarer", "USD", date(2026, 11, 1)),
    ],
    ids=[
        "tokyo-late-october",
        "utc-but-november-in-tokyo",
        "last-microsecond",
        "new-york-october",
        "new-york-november",
    ],
)
def test_the_period_is_the_month_in_the_partners_time_zone(world, occurred_at, partner, currency, period):
    # given a partner's key
    client = bearer(world, partner)
    # when it posts a sale at a month's edge
    response = post(client, "/api/v1/sales", {"events": [sale("edge", at=occurred_at, currency=currency)]})
    # then the sale counts in the month of its local time
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    stored = Sale.objects.get()
    assert (stored.period, stored.occurred_at) == (period, datetime.fromisoformat(occurred_at))


def test_a_changed_event_is_a_conflict_and_changes_nothing(world):
    # given a stored sale
    client = bearer(world)
    assert post(client, "/api/v1/sales", {"events": [sale("pos-1", coupon_code="A")]}).status_code == 200
    before = ingestion_state()
    # when the same external_id comes with another coupon, another time, or as a refund
    changed = [
        sale("pos-1", coupon_code="B"),
        sale("pos-1", coupon_code="A", at="2026-10-03T12:02:00+09:00"),
        refund("pos-1", "pos-1", 1),
    ]
    responses = [post(client, "/api/v1/sales", {"events": [event]}) for event in changed]
    # then each is rejected as a conflict, with the same advice
    message = (
        "external_id 'pos-1' was already received with different content; an event cannot be "
        "changed once sent (send a refund, and a new sale with a new external_id)."
    )
    for response in responses:
        assert response.json() == {
            "accepted": 0,
            "duplicates": 0,
            "rejected": [{"index": 0, "external_id": "pos-1", "code": "conflict", "message": message}],
        }
    assert ingestion_state() == before
    # when the three come in one batch
    response = post(client, "/api/v1/sales", {"events": changed})
    # then the first conflicts with the stored sale, the others with the first
    in_batch = "external_id 'pos-1' appears earlier in this batch (index 0) with different content."
    assert [(r["index"], r["code"], r["message"]) for r in response.json()["rejected"]] == [
        (0, "conflict", message),
        (1, "conflict", in_batch),
        (2, "conflict", in_batch),
    ]
    assert ingestion_state() == before


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an object", "Each event must be a JSON object."),
        ({"external_id": "a" * 129, "type": "sale"}, "external_id is longer than 128 characters."),
        ({**sale("t"), "type": "Sale"}, 'type must be "sale" or "refund".'),
        (
            {**sale("t"), "occurred_at": "next tuesday"},
            "occurred_at must be an ISO 8601 date-time with a UTC offset, e.g. 2026-10-03T12:01:00+09:00.",
        ),
        (
            {**sale("t"), "occurred_at": 1790000000},
            "occurred_at must be an ISO 8601 date-time with a UTC offset, e.g. 2026-10-03T12:01:00+09:00.",
        ),
        (
            {**sale("t"), "occurred_at": "2099-01-01T00:00:00Z"},
            "occurred_at must lie between 2000-01-01 and now; got 2099-01-01T00:00:00Z.",
        ),
        ({**sale("t"), "currency": None}, "currency is required (ISO 4217)."),
        ({**sale("t"), "currency": "jpy"}, "'jpy' is not an ISO 4217 currency."),
        ({**sale("t"), "coupon_code": 7}, "coupon_code must be a string."),
        ({**sale("t"), "store_id": "s" * 129}, "store_id is longer than 128 characters."),
        ({**sale("t"), "customer_ref": "a\x00b"}, "customer_ref contains characters that cannot be stored."),
        ({**sale("t"), "refund_of": "pos-1"}, "Only a refund names refund_of."),
        ({**refund("t", "x", 1), "refund_of": None}, "refund_of is required."),
    ],
    ids=[
        "not-object",
        "long-id",
        "type-case",
        "bad-time",
        "epoch-time",
        "future",
        "no-currency",
        "lowercase-currency",
        "int-coupon",
        "long-store",
        "nul-char",
        "sale-with-refund-of",
        "refund-without",
    ],
)
def test_invalid_events_are_rejected_with_a_reason(world, event, message):
    # given Hoshi Mart's key
    client = bearer(world)
    before = ingestion_state()
    # when it posts the invalid event beside nothing else
    response = post(client, "/api/v1/sales", {"events": [event]})
    # then it is rejected with the reason, and nothing is stored
    assert response.status_code == 200
    [rejection] = response.json()["rejected"]
    assert (rejection["index"], rejection["message"]) == (0, message)
    assert rejection["code"] in ("invalid", "unknown_currency")
    assert ingestion_state() == before


def test_a_refund_cannot_precede_its_sale_nor_change_currency(world):
    # given a stored sale at 2026-10-03 12:01 Tokyo
    client = bearer(world)
    post(client, "/api/v1/sales", {"events": [sale("pos-1")]})
    before = ingestion_state()
    # when a refund of it is dated a minute earlier
    response = post(client, "/api/v1/sales", {"events": [refund("r-1", "pos-1", 100, at="2026-10-03T12:00:00+09:00")]})
    # then it is rejected, and nothing changes
    assert response.json()["rejected"] == [
        {"index": 0, "external_id": "r-1", "code": "invalid", "message": "The refund occurs before its sale 'pos-1'."}
    ]
    assert ingestion_state() == before


def test_a_session_member_can_post_sales_for_their_own_partner(world):
    # given Hoshi Mart's member, signed in (no API key)
    client = api_as(world.hoshi_member)
    # when they post a sale
    response = post(client, "/api/v1/sales", {"events": [sale("web-1")]})
    # then it is stored for Hoshi Mart
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert list(Sale.objects.values_list("partner_id", "external_id")) == [(world.hoshi.pk, "web-1")]


def test_stored_events_are_handed_to_attribution_after_commit(world, monkeypatch, django_capture_on_commit_callbacks):
    # given an attribution hook that records the partners it is called for
    from revenue import tasks

    calls: list[tuple[int, list[int]]] = []
    monkeypatch.setattr(
        tasks.attribution_run_task, "delay", lambda partner_id, sale_ids: calls.append((partner_id, sale_ids))
    )
    client = bearer(world)
    # when a batch stores a sale
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post(client, "/api/v1/sales", {"events": [sale("pos-1")]})
    # then attribution is queued once, after commit, for Hoshi Mart's new sale
    assert (len(callbacks), calls) == (1, [(world.hoshi.pk, [Sale.objects.get(external_id="pos-1").pk])])
    # when a batch stores nothing new
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post(client, "/api/v1/sales", {"events": [sale("pos-1"), sale("bad", 0)]})
    # then nothing is queued
    assert (len(callbacks), len(calls)) == (0, 1)


def test_a_full_batch_of_1000_events_is_written_in_a_few_queries(world, capsys):
    # given 1,000 distinct sales and 1,000 refunds of half of them
    client = bearer(world)
    client.get("/api/v1/me")  # the key's first use is recorded outside the measurement
    sales = [sale(f"pos-{i:05d}", 1000 + i, coupon_code=f"C-{i % 97}", store_id=f"store-{i % 13}") for i in range(1000)]
    refunds = [refund(f"ref-{i:05d}", f"pos-{i:05d}", 10 + i) for i in range(0, 1000, 2)] + [
        refund(f"ref-{i:05d}", f"pos-{i:05d}", 10 + i) for i in range(1, 1000, 2)
    ]
    # when each batch is posted
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = post(client, "/api/v1/sales", {"events": sales})
        elapsed_sales = time.perf_counter() - started
    sale_queries = len(queries)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        refunded = post(client, "/api/v1/sales", {"events": refunds})
        elapsed_refunds = time.perf_counter() - started
    # then all are stored, with a number of queries that does not grow with the batch
    assert response.json() == {"accepted": 1000, "duplicates": 0, "rejected": []}
    assert refunded.json() == {"accepted": 1000, "duplicates": 0, "rejected": []}
    assert Sale.objects.filter(type="sale").count() == 1000
    assert Sale.objects.filter(type="refund").count() == 1000
    assert sale_queries <= 8, [q["sql"][:80] for q in queries]
    assert len(queries) <= 10, [q["sql"][:80] for q in queries]
    # and posting the same batch again is 1,000 duplicates
    again = post(client, "/api/v1/sales", {"events": sales})
    assert again.json() == {"accepted": 0, "duplicates": 1000, "rejected": []}
    with capsys.disabled():
        print(
            f"\n[timing] 1,000 sales through the API client: {elapsed_sales * 1000:.0f} ms; "
            f"1,000 refunds: {elapsed_refunds * 1000:.0f} ms"
        )


# --- the envelope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ([], {"events": ["This field is required."]}),
        ({}, {"events": ["This field is required."]}),
        ({"events": None}, {"events": ["Expected a list of items."]}),
        ({"events": {"external_id": "x"}}, {"events": ["Expected a list of items."]}),
        ({"events": "pos-1"}, {"events": ["Expected a list of items."]}),
        ({"events": [], "batch": 1}, {"batch": ["Unknown field."]}),
    ],
    ids=["list-body", "empty-object", "null", "object", "string", "unknown-key"],
)
def test_a_malformed_envelope_is_400_and_changes_nothing(world, body, fields):
    # given Hoshi Mart's key
    client = bearer(world)
    before = ingestion_state()
    # when the envelope is wrong
    response = post(client, "/api/v1/sales", body)
    # then 400 invalid naming the field, and nothing changed
    assert_error(response, 400, "invalid", fields)
    assert ingestion_state() == before


def test_malformed_json_is_400(world):
    # given Hoshi Mart's key
    client = bearer(world)
    before = ingestion_state()
    # when the body is not JSON
    response = client.post("/api/v1/sales", data='{"events": [', content_type="application/json")
    # then 400 malformed_request, and nothing changed
    assert_error(response, 400, "malformed_request")
    assert ingestion_state() == before


@pytest.mark.parametrize(
    "path,name", [("/api/v1/sales", "events"), ("/api/v1/touchpoints", "touchpoints"), ("/api/v1/outcomes", "outcomes")]
)
def test_over_1000_items_is_413_and_changes_nothing(world, path, name):
    # given Hoshi Mart's key and 1,001 otherwise valid sales
    client = bearer(world)
    before = ingestion_state()
    # when they are posted in one request
    response = post(client, path, {name: [sale(f"pos-{i}") for i in range(1001)]})
    # then 413 too_many_events, and not one is stored
    error = assert_error(response, 413, "too_many_events")
    assert error["message"] == f"1001 {name} in one request; send at most 1000 per request."
    assert ingestion_state() == before


def test_a_body_over_10_mb_is_413_unread(world):
    # given Hoshi Mart's key
    client = bearer(world)
    before = ingestion_state()
    # when the body is over 10 MB
    body = '{"events": [], "pad": "' + "p" * (10 * 1024 * 1024) + '"}'
    response = client.post("/api/v1/sales", data=body, content_type="application/json")
    # then 413 request_too_large
    assert_error(response, 413, "request_too_large")
    assert ingestion_state() == before


@pytest.mark.parametrize("how", ["wrong-secret", "revoked", "no-credentials"])
def test_a_bad_key_is_401_and_changes_nothing(world, how):
    # given Hoshi Mart's key, forged, revoked or missing
    client = bearer(world)
    issued = client.issued
    if how == "wrong-secret":
        forged = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    elif how == "revoked":
        contract_services.api_key_revoke(actor=world.hoshi_owner, key=issued.key)
    else:
        client = APIClient()
    before = ingestion_state()
    # when it posts a sale, a touchpoint and an outcome
    responses = [
        post(client, "/api/v1/sales", {"events": [sale("pos-1")]}),
        post(client, "/api/v1/touchpoints", {"touchpoints": []}),
        post(client, "/api/v1/outcomes", {"outcomes": []}),
    ]
    # then each is 401 not_authenticated with the Bearer challenge, and nothing changed
    for response in responses:
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Bearer"
    assert ingestion_state() == before


@pytest.mark.parametrize("who", ["staff", "finance", "hoshi_manager"])
def test_platform_people_cannot_post_sales(world, who):
    # given a signed-in platform person (not a partner member)
    client = api_as(getattr(world, who))
    before = ingestion_state()
    # when they post a sale
    response = post(client, "/api/v1/sales", {"events": [sale("pos-1")]})
    # then 403, and nothing changed
    assert_error(response, 403, "permission_denied")
    assert ingestion_state() == before


def test_too_many_requests_is_429_with_retry_after(world, settings):
    # given an ingestion rate of 2 requests a minute per key
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"ingest": "2/min"}}
    client = bearer(world)
    other_key = bearer(world)
    assert post(client, "/api/v1/sales", {"events": [sale("pos-1")]}).status_code == 200
    assert post(client, "/api/v1/touchpoints", {"touchpoints": []}).status_code == 200
    before = ingestion_state()
    # when the key sends a third request within the minute
    response = post(client, "/api/v1/sales", {"events": [sale("pos-2")]})
    # then 429 throttled with Retry-After in whole seconds — up to a window and a half: the
    # sliding window lets this minute's two requests fade out over the next (core.throttling)
    # — and nothing is stored
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 90
    assert ingestion_state() == before
    # and another key of the same partner has its own budget
    assert post(other_key, "/api/v1/sales", {"events": [sale("pos-2")]}).json()["accepted"] == 1


# --- isolation ---------------------------------------------------------------------------


def test_one_partner_cannot_refund_or_touch_anothers_data(world):
    # given Hoshi Mart's sale pos-1 and its active placement; and Wayfarer's key
    hoshi_placement = hire(world)
    ingestion.sales_ingest(partner=world.hoshi, events=[sale("pos-1")])
    wayfarer = bearer(world, "wayfarer")
    before = ingestion_state()
    # when Wayfarer refunds pos-1, posts a touchpoint and an outcome for Hoshi's placement
    refunded = post(wayfarer, "/api/v1/sales", {"events": [refund("r-1", "pos-1", 1, currency="USD")]})
    touched = post(
        wayfarer, "/api/v1/touchpoints", {"touchpoints": [touch(hoshi_placement, "k-1"), touch(987654321, "k-2")]}
    )
    outcome = post(
        wayfarer,
        "/api/v1/outcomes",
        {
            "outcomes": [
                {
                    "placement": hoshi_placement.pk,
                    "kind": "resolution",
                    "external_id": "o-1",
                    "occurred_at": "2026-10-01T00:00:00Z",
                }
            ]
        },
    )
    # then the sale is unknown to Wayfarer, and Hoshi's placement looks like no placement at all
    assert refunded.json()["rejected"] == [
        {
            "index": 0,
            "external_id": "r-1",
            "code": "unknown_sale",
            "message": "refund_of names no sale of yours: 'pos-1'.",
        }
    ]
    assert touched.json()["rejected"] == [
        {
            "index": 0,
            "external_id": "k-1",
            "code": "unknown_placement",
            "message": f"You have no placement {hoshi_placement.pk}.",
        },
        {"index": 1, "external_id": "k-2", "code": "unknown_placement", "message": "You have no placement 987654321."},
    ]
    assert outcome.json()["rejected"] == [
        {
            "index": 0,
            "external_id": "o-1",
            "code": "unknown_placement",
            "message": f"You have no placement {hoshi_placement.pk}.",
        }
    ]
    assert ingestion_state() == before
    # and Wayfarer may use the same external_id for its own sale: ids are per partner
    response = post(wayfarer, "/api/v1/sales", {"events": [sale("pos-1", 500, currency="USD")]})
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert sorted(Sale.objects.values_list("partner_id", "external_id", "currency")) == sorted(
        [(world.hoshi.pk, "pos-1", "JPY"), (world.wayfarer.pk, "pos-1", "USD")]
    )


# --- touchpoints -------------------------------------------------------------------------


def touch(
    placement: Placement | int, key: str, kind: str = "click", at: str = "2026-10-01T10:00:00+09:00"
) -> dict[str, Any]:
    pk = placement if isinstance(placement, int) else placement.pk  # bool is an int: sent as is
    return {"placement": pk, "kind": kind, "key": key, "occurred_at": at}


def test_touchpoints_are_stored_with_duplicate_and_conflict_rules(world):
    # given Hoshi Mart's active placement (Rinna), a requested one (Kai), and a stored click
    rinna = hire(world)
    kai = hire(world, employee="kai", until="requested")
    client = bearer(world)
    first = post(client, "/api/v1/touchpoints", {"touchpoints": [touch(rinna, "click-1")]})
    assert first.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    # when a batch mixes new, repeated, changed and invalid touchpoints
    batch = [
        touch(rinna, "conv-0", "conversation"),  # 0 accepted
        touch(rinna, "click-1"),  # 1 duplicate of the stored one
        touch(rinna, "click-1", at="2026-10-01T10:00:01+09:00"),  # 2 conflict: other time
        touch(rinna, "click-1", kind="coupon"),  # 3 accepted: keys are per kind
        touch(kai, "click-4"),  # 4 placement only requested
        touch(rinna, "click-5", kind="email"),  # 5 unknown kind
        {**touch(rinna, "click-6"), "source": "agent"},  # 6 unknown field
        touch(rinna, "k" * 129),  # 7 key too long
        {**touch(rinna, "click-8"), "occurred_at": "2026-10-01T10:00:00"},  # 8 naive time
        {**touch(rinna, "click-9"), "placement": str(rinna.pk)},  # 9 placement not an integer
        touch(rinna, "conv-0", "conversation"),  # 10 repeat of 0
        touch(rinna, "conv-0", "conversation", at="2026-10-02T10:00:00+09:00"),  # 11 conflicts with 0
        touch(2**70, "click-12"),  # 12 no such placement (nor bigint)
        touch(True, "click-13"),  # 13 a boolean is not an id
    ]
    response = post(client, "/api/v1/touchpoints", {"touchpoints": batch})
    # then each has its answer
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert [(r["index"], r["external_id"], r["code"]) for r in body["rejected"]] == [
        (2, "click-1", "conflict"),
        (4, "click-4", "placement_inactive"),
        (5, "click-5", "invalid"),
        (6, "click-6", "unknown_field"),
        (7, "k" * 128, "invalid"),
        (8, "click-8", "invalid"),
        (9, "click-9", "invalid"),
        (11, "conv-0", "conflict"),
        (12, "click-12", "unknown_placement"),
        (13, "click-13", "invalid"),
    ]
    assert body["rejected"][1]["message"] == (
        f"Placement {kai.pk} is requested; it takes touchpoints and outcomes only while approved, active or paused."
    )
    # and exactly the new touchpoints are stored
    assert sorted(
        Touchpoint.objects.values_list("partner_id", "placement_id", "kind", "key", "occurred_at", "source")
    ) == sorted(
        [
            (world.hoshi.pk, rinna.pk, "click", "click-1", datetime(2026, 10, 1, 1, tzinfo=UTC), "partner_api"),
            (world.hoshi.pk, rinna.pk, "conversation", "conv-0", datetime(2026, 10, 1, 1, tzinfo=UTC), "partner_api"),
            (world.hoshi.pk, rinna.pk, "coupon", "click-1", datetime(2026, 10, 1, 1, tzinfo=UTC), "partner_api"),
        ]
    )


def test_touchpoints_of_paused_placements_are_taken_and_of_ended_ones_refused(world):
    # given a paused placement and an ended one
    paused = hire(world, until="paused")
    ended = hire(world, employee="kai")
    contract_services.placement_end(actor=world.hoshi_manager, placement=ended, reason="Done")
    client = bearer(world)
    # when touchpoints are posted for both
    response = post(client, "/api/v1/touchpoints", {"touchpoints": [touch(paused, "p-1"), touch(ended, "e-1")]})
    # then the paused one is stored and the ended one refused
    assert response.json()["accepted"] == 1
    assert [(r["index"], r["code"]) for r in response.json()["rejected"]] == [(1, "placement_inactive")]
    assert list(Touchpoint.objects.values_list("key", flat=True)) == ["p-1"]


def test_a_late_touchpoint_sends_matching_unsettled_sales_back_to_pending(world):
    # given sales already through attribution: some carry coupon RINNA-1, one is settled,
    # one is a refund, one happened before the touch, one carries another key
    placement = hire(world)
    ingestion.sales_ingest(
        partner=world.hoshi,
        events=[
            sale("match-coupon", coupon_code="RINNA-1", at="2026-10-10T10:00:00+09:00"),
            sale("match-attributed", coupon_code="RINNA-1", at="2026-10-11T10:00:00+09:00"),
            sale("match-click", click_id="RINNA-1", at="2026-10-10T10:00:00+09:00"),
            sale("settled", coupon_code="RINNA-1", at="2026-10-10T10:00:00+09:00"),
            sale("before-touch", coupon_code="RINNA-1", at="2026-10-01T10:00:00+09:00"),
            sale("other-key", coupon_code="RINNA-2", at="2026-10-10T10:00:00+09:00"),
            refund("refund", "match-coupon", 10, at="2026-10-12T10:00:00+09:00") | {"coupon_code": "RINNA-1"},
        ],
    )
    statement = Statement.objects.create(
        contract=placement.contract, period=date(2026, 10, 1), status="approved", currency="JPY", version_number=1
    )
    other = Touchpoint.objects.create(
        partner=world.hoshi,
        placement=placement,
        kind="coupon",
        key="OLD",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
        source="agent",
    )
    Sale.objects.update(attribution="unattributed", attribution_note="No touchpoint in the window.")
    Sale.objects.filter(external_id="match-attributed").update(
        attribution="attributed",
        placement=placement,
        touchpoint=other,
        attributed_key="coupon_code",
        attribution_note="",
    )
    Sale.objects.filter(external_id="settled").update(statement=statement)
    before = {s["external_id"]: s for s in Sale.objects.values()}
    # when the partner posts the coupon touchpoint late (it happened on 5 October)
    response = post(
        bearer(world),
        "/api/v1/touchpoints",
        {"touchpoints": [touch(placement, "RINNA-1", "coupon", at="2026-10-05T09:00:00+09:00")]},
    )
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    # then exactly the unsettled sales carrying the coupon code after the touch are pending again
    after = {s["external_id"]: s for s in Sale.objects.values()}
    reset = {
        "attribution": "pending",
        "placement_id": None,
        "touchpoint_id": None,
        "attributed_key": "",
        "attribution_note": "",
    }
    assert after == {
        **before,
        "match-coupon": {**before["match-coupon"], **reset},
        "match-attributed": {**before["match-attributed"], **reset},
    }


def test_a_duplicate_touchpoint_resets_nothing(world):
    # given a stored touchpoint and a sale carrying its key, already attributed
    placement = hire(world)
    client = bearer(world)
    post(client, "/api/v1/touchpoints", {"touchpoints": [touch(placement, "C-1", "coupon")]})
    ingestion.sales_ingest(partner=world.hoshi, events=[sale("s-1", coupon_code="C-1")])
    Sale.objects.update(attribution="attributed", placement=placement, attributed_key="coupon_code")
    before = ingestion_state()
    # when the same touchpoint is posted again
    response = post(client, "/api/v1/touchpoints", {"touchpoints": [touch(placement, "C-1", "coupon")]})
    # then it is a duplicate and nothing changed
    assert response.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert ingestion_state() == before


# --- outcomes ----------------------------------------------------------------------------


def outcome(
    placement: Placement,
    external_id: str,
    kind: str = "resolution",
    at: str | None = "2026-10-31T23:30:00+09:00",
    **extra: Any,
) -> dict[str, Any]:
    item = {"placement": placement.pk, "kind": kind, "external_id": external_id, **extra}
    if at is not None:
        item["occurred_at"] = at
    return item


def test_outcomes_are_recorded_withdrawn_and_checked(world):
    # given an active placement with a stored resolution o-1
    placement = hire(world)
    requested = hire(world, employee="kai", until="requested")
    client = bearer(world)
    assert post(client, "/api/v1/outcomes", {"outcomes": [outcome(placement, "o-1")]}).json()["accepted"] == 1
    # when a batch records, repeats, changes and withdraws outcomes
    batch = [
        outcome(placement, "o-2", "delivered_work", at="2026-10-31T15:30:00Z"),  # 0 accepted (November)
        outcome(placement, "o-1"),  # 1 duplicate
        outcome(placement, "o-1", at="2026-10-30T10:00:00+09:00"),  # 2 conflict
        outcome(placement, "o-1", "delivered_work"),  # 3 accepted: other kind
        outcome(placement, "o-1", at=None, withdrawn=True),  # 4 withdraws o-1
        outcome(placement, "o-1", at=None, withdrawn=True),  # 5 repeat of 4
        outcome(placement, "nope", at=None, withdrawn=True),  # 6 unknown outcome
        outcome(placement, "o-7", at=None, withdrawn=True),  # 7 before its record
        outcome(placement, "o-7"),  # 8 accepted
        outcome(placement, "o-9"),  # 9 accepted ...
        outcome(placement, "o-9", at="2026-11-01T00:00:00Z", withdrawn=True),  # 10 ... and withdrawn
        outcome(placement, "o-11", kind="refund"),  # 11 invalid kind
        outcome(placement, "o-12", withdrawn="yes"),  # 12 invalid withdrawn
        outcome(placement, "o-13", at=None),  # 13 no time
        outcome(requested, "o-14"),  # 14 placement inactive
        {**outcome(placement, "o-15"), "amount": 90},  # 15 unknown field
    ]
    started = datetime.now(UTC)
    response = post(client, "/api/v1/outcomes", {"outcomes": batch})
    # then each has its answer
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (6, 2)
    assert [(r["index"], r["external_id"], r["code"]) for r in body["rejected"]] == [
        (2, "o-1", "conflict"),
        (6, "nope", "unknown_outcome"),
        (7, "o-7", "unknown_outcome"),
        (11, "o-11", "invalid"),
        (12, "o-12", "invalid"),
        (13, "o-13", "invalid"),
        (14, "o-14", "placement_inactive"),
        (15, "o-15", "unknown_field"),
    ]
    assert body["rejected"][1]["message"] == (f"There is no resolution 'nope' on placement {placement.pk} to withdraw.")
    # and the stored outcomes are exactly these, periods in Tokyo time
    stored = {(o.kind, o.external_id): o for o in Outcome.objects.all()}
    late_october = datetime(2026, 10, 31, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    early_november = datetime(2026, 10, 31, 15, 30, tzinfo=UTC)  # 00:30 on 1 November in Tokyo
    october, november = date(2026, 10, 1), date(2026, 11, 1)
    assert {
        key: (o.placement_id, o.occurred_at, o.period, o.withdrawn_at is not None) for key, o in stored.items()
    } == {
        ("resolution", "o-1"): (placement.pk, late_october, october, True),
        ("delivered_work", "o-2"): (placement.pk, early_november, november, False),
        ("delivered_work", "o-1"): (placement.pk, late_october, october, False),
        ("resolution", "o-7"): (placement.pk, late_october, october, False),
        ("resolution", "o-9"): (placement.pk, late_october, october, True),
    }
    assert started <= stored[("resolution", "o-1")].withdrawn_at <= datetime.now(UTC)
    # when o-1's withdrawal and its original record are posted again
    before = ingestion_state()
    again = post(
        client,
        "/api/v1/outcomes",
        {"outcomes": [outcome(placement, "o-1", at=None, withdrawn=True), outcome(placement, "o-1")]},
    )
    # then both are duplicates: a withdrawn outcome stays withdrawn
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert ingestion_state() == before


def test_outcomes_of_an_ended_placement_can_still_be_withdrawn(world):
    # given a resolution of a placement that has since ended
    placement = hire(world)
    client = bearer(world)
    post(client, "/api/v1/outcomes", {"outcomes": [outcome(placement, "o-1")]})
    contract_services.placement_end(actor=world.hoshi_manager, placement=placement, reason="Done")
    # when the partner records another and withdraws the first
    response = post(
        client,
        "/api/v1/outcomes",
        {"outcomes": [outcome(placement, "o-2"), outcome(placement, "o-1", at=None, withdrawn=True)]},
    )
    # then the record is refused and the withdrawal taken
    assert response.json()["accepted"] == 1
    assert [(r["index"], r["code"]) for r in response.json()["rejected"]] == [(0, "placement_inactive")]
    assert Outcome.objects.get(external_id="o-1").withdrawn_at is not None
    assert not Outcome.objects.filter(external_id="o-2").exists()
