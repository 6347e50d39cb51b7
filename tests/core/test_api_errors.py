"""Every API error leaves in one shape, {"error": {"code", "message", "fields"}}, with the
right status; the OpenAPI schema lists every /api/v1/ path and the docs page loads nothing
from a CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, serializers
from rest_framework.test import APIClient

from config.urls import api_v1
from core.api import exception_handler
from tests.support.api import assert_error, db_state
from tests.support.world import api_as, hire


@pytest.mark.parametrize(
    "body",
    ['{"employee": ', "{'employee': 'rinna'}", '{"employee": NaN}', "\x00"],
    ids=["truncated", "single-quotes", "nan", "nul"],
)
def test_malformed_json_is_a_malformed_request(world, body):
    # given a signed-in partner owner
    client = api_as(world.hoshi_owner)
    before = db_state()
    # when they send a body that is not valid JSON
    response = client.post("/api/v1/placements", body, content_type="application/json")
    # then 400 malformed_request, and nothing changed
    error = assert_error(response, 400, "malformed_request")
    assert error["message"].startswith("The request body is not valid JSON: JSON parse error - ")
    assert db_state() == before


def test_a_json_body_that_is_not_an_object_is_invalid(world):
    # given a signed-in partner owner
    before = db_state()
    # when the body is a JSON list
    response = api_as(world.hoshi_owner).post("/api/v1/placements", ["rinna"], format="json")
    # then 400 invalid, about the body as a whole
    assert_error(response, 400, "invalid", {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    assert db_state() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_is_unsupported(world, content_type):
    # given a requested placement and its account manager
    placement = hire(world, until="requested")
    before = db_state()
    # when the manager approves it with a non-JSON body
    response = api_as(world.hoshi_manager).post(
        f"/api/v1/placements/{placement.pk}/approve", "reason=ok", content_type=content_type
    )
    # then 415 unsupported_media_type, and nothing changed
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["message"] == f'Unsupported media type "{content_type}" in request.'
    assert db_state() == before


def test_an_unknown_placement_action_is_not_found(world):
    # given a requested placement
    placement = hire(world, until="requested")
    before = db_state()
    # when the manager posts an action that does not exist
    response = api_as(world.hoshi_manager).post(f"/api/v1/placements/{placement.pk}/hire", {}, format="json")
    # then 404 not_found lists the actions there are, and nothing changed
    error = assert_error(response, 404, "not_found")
    assert error["message"] == (
        "No placement action 'hire'; use one of approve, decline, withdraw, pause, resume, end."
    )
    assert db_state() == before


def test_an_unknown_version_action_is_not_found(world):
    # given a proposed version
    placement = hire(world, until="proposed")
    before = db_state()
    # when the owner posts an action that does not exist
    response = api_as(world.hoshi_owner).post(
        f"/api/v1/contracts/{placement.contract.pk}/versions/1/sign", {}, format="json"
    )
    # then 404 not_found, and nothing changed
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "No contract action 'sign'; use one of propose, withdraw, accept, reject."
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/placements/{p}"),
        ("put", "/api/v1/placements/{p}"),
        ("get", "/api/v1/placements/{p}/approve"),
        ("post", "/api/v1/contracts/{c}"),
        ("delete", "/api/v1/contracts/{c}/versions/1"),
        ("get", "/api/v1/contracts/{c}/versions"),
        ("post", "/api/v1/me"),
    ],
)
def test_a_method_the_endpoint_does_not_have_is_not_allowed(world, method, path):
    # given an active placement
    placement = hire(world)
    before = db_state()
    # when the manager uses a method the endpoint does not offer
    response = getattr(api_as(world.hoshi_manager), method)(
        path.format(p=placement.pk, c=placement.contract.pk), {}, format="json"
    )
    # then 405 method_not_allowed, and nothing changed
    error = assert_error(response, 405, "method_not_allowed")
    assert error["message"] == f'Method "{method.upper()}" not allowed.'
    assert db_state() == before


ENDPOINTS = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/employees"),
    ("get", "/api/v1/employees/rinna"),
    ("get", "/api/v1/placements"),
    ("post", "/api/v1/placements"),
    ("get", "/api/v1/placements/{p}"),
    ("post", "/api/v1/placements/{p}/pause"),
    ("get", "/api/v1/contracts"),
    ("get", "/api/v1/contracts/{c}"),
    ("post", "/api/v1/contracts/{c}/versions"),
    ("get", "/api/v1/contracts/{c}/versions/1"),
    ("put", "/api/v1/contracts/{c}/versions/1"),
    ("post", "/api/v1/contracts/{c}/versions/1/withdraw"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys/1/revoke"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m}-{p}" for m, p in ENDPOINTS])
def test_anonymous_requests_are_not_authenticated(world, method, path):
    # given an active placement and nobody signed in
    placement = hire(world)
    before = db_state()
    # when an anonymous client calls the endpoint
    response = getattr(APIClient(), method)(
        path.format(p=placement.pk, c=placement.contract.pk), {"reason": "x"}, format="json"
    )
    # then 401 not_authenticated with the Bearer challenge, and nothing changed
    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"] == "Bearer"
    assert db_state() == before


# The placements, contracts and API-key endpoints (this suite's part of DESIGN.md §5b's
# public contract) with their methods, exactly.
CONTRACT_API_PATHS = {
    "/api/v1/me": {"get"},
    "/api/v1/employees": {"get"},
    "/api/v1/employees/{slug}": {"get"},
    "/api/v1/placements": {"get", "post"},
    "/api/v1/placements/{placement_id}": {"get"},
    "/api/v1/placements/{placement_id}/{action}": {"post"},
    "/api/v1/contracts": {"get"},
    "/api/v1/contracts/{contract_id}": {"get"},
    "/api/v1/contracts/{contract_id}/versions": {"post"},
    "/api/v1/contracts/{contract_id}/versions/{number}": {"get", "put"},
    "/api/v1/contracts/{contract_id}/versions/{number}/{action}": {"post"},
    "/api/v1/api-keys": {"get", "post"},
    "/api/v1/api-keys/{key_id}/revoke": {"post"},
}


def routed_api_paths() -> dict[str, set[str]]:
    """Every endpoint routed under /api/v1/ (but the schema and docs themselves), as an
    OpenAPI path with the HTTP methods its view implements."""
    routed: dict[str, set[str]] = {}
    for pattern in api_v1:
        route = str(pattern.pattern)
        if route in ("schema/", "docs/"):
            continue
        view = pattern.callback.view_class
        path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        routed[path] = {method for method in ("get", "post", "put", "patch", "delete") if hasattr(view, method)}
    return routed


def test_the_schema_lists_every_api_path(db):
    # given anyone (the schema is public documentation)
    # when they fetch the OpenAPI document as JSON
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    # then it is an OpenAPI 3 document
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Haken partner API"
    documented = {path: set(operations) - {"parameters"} for path, operations in document["paths"].items()}
    # listing exactly the paths routed under /api/v1/, each with exactly its methods
    assert documented == routed_api_paths()
    # among them the placements, contracts and API-key endpoints
    assert {path: documented[path] for path in CONTRACT_API_PATHS if path in documented} == CONTRACT_API_PATHS
    # and partner systems are told how to authenticate
    assert document["components"]["securitySchemes"]["partnerApiKey"]["scheme"] == "bearer"
    # and the action parameters name exactly the actions the views accept
    action = next(
        p
        for p in document["paths"]["/api/v1/placements/{placement_id}/{action}"]["post"]["parameters"]
        if p["name"] == "action"
    )
    assert set(action["schema"]["enum"]) == {"approve", "decline", "withdraw", "pause", "resume", "end"}
    action = next(
        p
        for p in document["paths"]["/api/v1/contracts/{contract_id}/versions/{number}/{action}"]["post"]["parameters"]
        if p["name"] == "action"
    )
    assert set(action["schema"]["enum"]) == {"propose", "withdraw", "accept", "reject"}


def test_the_docs_page_loads_nothing_from_a_cdn(db, settings):
    # given anyone (and static files served unhashed: the test run does not collectstatic,
    # which the manifest storage used outside DEBUG needs)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # when they open the interactive docs
    response = APIClient().get("/api/v1/docs/")
    # then it is an HTML page pointing at the schema beside it
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="swagger-ui"' in page
    # (its start-up script comes from the docs URL itself, not inline: the CSP forbids
    # inline scripts; that script points at the schema beside it)
    assert '<script src="/api/v1/docs/?script="></script>' in page
    assert "/api/v1/schema/" in APIClient().get("/api/v1/docs/?script=").content.decode()
    # and every script and stylesheet is served by this site, none from a CDN
    for marker in ("cdn.", "unpkg", "jsdelivr", "cdnjs", "googleapis"):
        assert marker not in page, marker
    assert re.findall(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page) == []
    assets = [asset for asset in re.findall(r'(?:src|href)="([^"]+)"', page) if asset != "/api/v1/docs/?script="]
    assert assets, page
    # (the vendored Swagger UI, and our three rules that replace its inline <style>)
    assert all(
        asset.startswith("/static/drf_spectacular_sidecar/") or asset == "/static/css/api-docs.css" for asset in assets
    ), assets
    assert "/static/css/api-docs.css" in assets
    # and each of them exists among the site's static files
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")) is not None, asset


def test_an_unknown_status_filter_is_invalid_not_an_empty_list(world):
    # given a requested placement
    hire(world, until="requested")
    # when the owner filters placements by a status that does not exist
    response = api_as(world.hoshi_owner).get("/api/v1/placements", {"status": "hired"})
    # then 400 names the filter, instead of an empty list that looks like "no placements"
    assert_error(
        response,
        400,
        "invalid",
        {"status": ["must be one of requested, approved, active, paused, ended; got 'hired'."]},
    )


class _Line(serializers.Serializer):
    sku = serializers.CharField()


class _Batch(serializers.Serializer):
    amounts = serializers.ListField(child=serializers.IntegerField(min_value=0))
    lines = _Line(many=True)
    meta = serializers.DictField(child=serializers.IntegerField())


def test_nested_validation_errors_use_one_path_notation():
    # given input with errors inside a list field, a list of objects and a dict field
    batch = _Batch(data={"amounts": [1, -1, "x"], "lines": [{"sku": "a"}, {}], "meta": {"store": "x"}})
    assert not batch.is_valid()
    # when the one exception handler renders them
    response = exception_handler(exceptions.ValidationError(batch.errors), {})
    # then every path uses [index] for list items and .name for keys
    assert response.status_code == 400
    assert response.data["error"]["code"] == "invalid"
    assert response.data["error"]["fields"] == {
        "amounts[1]": ["Ensure this value is greater than or equal to 0."],
        "amounts[2]": ["A valid integer is required."],
        "lines[1].sku": ["This field is required."],
        "meta.store": ["A valid integer is required."],
    }
    assert response.data["error"]["message"] == "amounts[1]: Ensure this value is greater than or equal to 0."


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("terminating connection due to administrator command"),
        OperationalError("deadlock detected"),
        InterfaceError("connection already closed"),
    ],
    ids=["connection-dropped", "deadlock", "connection-closed"],
)
def test_the_database_failing_under_a_request_is_a_503_to_retry(error):
    # given the database failing under a request (tests/e2e/test_faults.py cuts a real connection)
    # when the one exception handler renders it
    response = exception_handler(error, {})
    # then 503 service_unavailable in the error shape, with when to send it again
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.data == {
        "error": {
            "code": "service_unavailable",
            "message": "The database is unavailable for a moment; nothing of this request was stored. Send it again.",
            "fields": {},
        }
    }
