"""What tests/security/test_api_fuzz.py found, one focused test each: every answer is a 4xx in the one
error shape, never a 500 or an HTML page, and nothing stored changes."""

from __future__ import annotations

import warnings

import pytest
from django.core.cache.backends.base import CacheKeyWarning
from rest_framework.test import APIClient

from tests.support.api import assert_error, bearer, db_state
from tests.support.revenue import ingestion_state
from tests.support.world import api_as, hire


@pytest.mark.parametrize(
    "path",
    ["/api/v1/placements/abc", "/api/v1/placements/-1", "/api/v1/api-keys/null/revoke", "/api/v1/no-such-endpoint"],
)
def test_an_api_url_no_route_matches_is_a_json_not_found(world, path):
    # given a signed-in partner owner
    before = db_state()
    # when they call a URL under /api/v1/ that no route matches (an id that is not a number)
    response = api_as(world.hoshi_owner).post(path, {}, format="json")
    # then 404 not_found in the error shape (not Django's HTML page), and nothing changed
    assert response["Content-Type"] == "application/json"
    error = assert_error(response, 404, "not_found")
    assert error["message"] == f"No API endpoint at {path}."
    assert db_state() == before


def test_a_site_url_no_route_matches_is_still_the_html_page(world):
    # given a signed-in partner owner
    # when they open a page of the site that does not exist
    response = api_as(world.hoshi_owner).get("/no-such-page/")
    # then the site's own HTML 404 page, as before
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("endpoint", ["touchpoints", "outcomes"])
@pytest.mark.parametrize("kind", [{"a": 1}, ["click"]], ids=["object", "list"])
def test_a_kind_that_is_not_a_string_is_rejected_not_a_crash(world, endpoint, kind):
    # given a partner system with an API key and an active placement
    placement = hire(world)
    client = bearer(world)
    before = ingestion_state()
    # when it reports an item whose kind is a JSON object or list
    item = {"placement": placement.pk, "kind": kind, "occurred_at": "2026-10-03T12:01:00+09:00"}
    item.update({"key": "clk-1"} if endpoint == "touchpoints" else {"external_id": "res-1"})
    response = client.post(f"/api/v1/{endpoint}", {endpoint: [item]}, format="json")
    # then 200 with the item rejected as invalid on kind, and nothing stored
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (0, 0)
    external_id = "clk-1" if endpoint == "touchpoints" else "res-1"
    kinds = "click, conversation, coupon" if endpoint == "touchpoints" else "delivered_work, resolution"
    assert body["rejected"] == [
        {"index": 0, "external_id": external_id, "code": "invalid", "message": f"kind must be one of {kinds}."}
    ]
    assert ingestion_state() == before


@pytest.mark.parametrize("key", ["pk_\x00", "\x00"])
def test_a_widget_key_with_a_nul_is_an_unknown_key(db, key):
    # given no widget at all
    # when a visitor's page starts a conversation with a key containing a NUL character
    response = APIClient().post(
        "/api/v1/widget/conversations",
        {"key": key, "message": "hi"},
        format="json",
        HTTP_ORIGIN="https://hoshi.example",
    )
    # then 404 not_found on the key, as for any unknown key (not a database error)
    assert_error(response, 404, "not_found", {"key": ["No widget has this publishable key."]})


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/statements?status=%00", "status"),
        ("/api/v1/invoices?status=paid%00", "status"),
        ("/api/v1/employees?skill=%00", "skill"),
        ("/api/v1/employees?industry=a%00b", "industry"),
        ("/api/v1/placements?status=%00", "status"),
    ],
)
def test_a_query_parameter_with_a_nul_is_a_malformed_request(world, path, name):
    # given a signed-in finance user
    before = db_state()
    # when they filter by a value containing a NUL character
    response = api_as(world.finance).get(path)
    # then 400 malformed_request naming the parameter, and nothing changed
    error = assert_error(
        response, 400, "malformed_request", {name: ["Remove the NUL or unpaired surrogate character."]}
    )
    assert error["message"] == (
        f"The query parameter {name!r} contains a character that cannot be stored (NUL or a lone surrogate)."
    )
    assert db_state() == before


def test_a_path_with_a_nul_is_a_malformed_request(world):
    # given a partner system with an API key
    client = bearer(world)
    before = ingestion_state()
    # when it asks for the attribution of a sale whose id contains a NUL character
    response = client.get("/api/v1/sales/pos%00-1/attribution")
    # then 400 malformed_request on the path, and nothing changed
    assert_error(response, 400, "malformed_request", {"path": ["Remove the NUL or unpaired surrogate character."]})
    assert ingestion_state() == before


@pytest.mark.parametrize(
    "path",
    [f"/api/v1/{name}/99999999999999999999" for name in ("placements", "statements", "invoices", "conversations")],
)
def test_an_id_beyond_any_database_integer_is_not_found(world, path):
    # given a signed-in finance user
    before = db_state()
    # when they ask for an object by an id larger than a bigint can hold
    response = api_as(world.finance).get(path)
    # then 404 not_found, as for any id that names nothing, and nothing changed
    assert_error(response, 404, "not_found")
    assert db_state() == before


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/statements", "draft, in_review, approved, invoiced, paid, closed"),
        ("/api/v1/invoices", "draft, open, payment_failed, paid, void"),
    ],
)
def test_an_unknown_status_filter_is_invalid_not_an_empty_list(world, path, allowed):
    # given a signed-in finance user
    before = db_state()
    # when they filter by a status that does not exist
    response = api_as(world.finance).get(path, {"status": "approvd"})
    # then 400 invalid naming the statuses there are (a typo must not look like "there are none")
    error = assert_error(response, 400, "invalid", {"status": [f"must be one of {allowed}; got 'approvd'."]})
    assert error["message"] == "Unknown status 'approvd'."
    assert db_state() == before


def test_the_widget_rate_limit_names_a_key_by_its_digest(db, settings):
    # given a widget rate of one message a minute
    from django.core.cache import cache

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "widget": "1/min"},
    }
    cache.clear()
    client = APIClient()
    key = "pk \x1f odd key with spaces"
    # when a page sends two messages with a key full of spaces and control characters
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)  # a raw key in the cache key would warn
        first = client.post("/api/v1/widget/conversations", {"key": key, "message": "hi"}, format="json")
        second = client.post("/api/v1/widget/conversations", {"key": key, "message": "hi"}, format="json")
    cache.clear()
    # then the first is an unknown key and the second is throttled, both in the error shape
    assert_error(first, 404, "not_found", {"key": ["No widget has this publishable key."]})
    assert_error(second, 429, "throttled")
