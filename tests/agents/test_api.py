"""The widget API and the members' chat API: keys, origins, tokens, limits, scope; every
refusal has the one error shape and stores nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from agents import services
from agents.models import Conversation, Message
from tests.support.agents import db_state, kai_at_hoshi, rinna_at_hoshi
from tests.support.world import api_as

pytestmark = pytest.mark.django_db
SHOP = "https://shop.hoshi.example"
START = "/api/v1/widget/conversations"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def widget(world):
    placement = rinna_at_hoshi(world)
    return services.widget_configure(
        actor=world.hoshi_owner, placement=placement, allowed_origins=f"{SHOP}, http://localhost:8000/"
    )


def error(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return response.status_code, body["error"]["code"]


def test_a_visitor_starts_and_continues_a_conversation(widget):
    client = APIClient()
    started = client.post(
        START, {"key": widget.publishable_key, "message": "  Hello!  "}, format="json", HTTP_ORIGIN=SHOP
    )
    assert started.status_code == 201
    body = started.json()
    conversation = Conversation.objects.get()
    assert (body["conversation"], body["employee"]) == (
        conversation.public_id,
        {"name": "Rinna", "title": "Coupon promoter"},
    )
    assert (body["message"]["content"], body["message"]["status"]) == ("Hello!", "pending")
    assert (conversation.channel, conversation.started_by, conversation.skill) == ("widget", None, "coupon_promoter")
    assert started["Access-Control-Allow-Origin"] == SHOP
    # the reply (made here as the worker would) is read by polling after the message id
    services.message_answer(message_id=body["message"]["id"])
    read = client.get(
        f"{START}/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "after": body["message"]["id"]},
        HTTP_ORIGIN=SHOP,
    ).json()
    assert [m["role"] for m in read["messages"]] == ["assistant"] and read["pending"] is False
    more = client.post(
        f"{START}/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "message": "A coupon please"},
        format="json",
        HTTP_ORIGIN=SHOP,
    )
    assert more.status_code == 201 and Message.objects.filter(role="user").count() == 2


def test_the_allowed_origins_are_normalised(widget):
    assert widget.allowed_origins == ["http://localhost:8000", SHOP]


@pytest.mark.parametrize(
    ("body", "origin", "expected"),
    [
        ({"key": "pk_nope", "message": "hi"}, SHOP, (404, "not_found")),
        ({"message": "hi"}, SHOP, (404, "not_found")),
        ({"key": "KEY", "message": "hi"}, "https://evil.example", (403, "permission_denied")),
        ({"key": "KEY", "message": "hi"}, None, (403, "permission_denied")),
        ({"key": "KEY", "message": ""}, SHOP, (400, "invalid")),
        ({"key": "KEY", "message": "x" * 2001}, SHOP, (400, "invalid")),
        ({"key": "KEY", "message": 42}, SHOP, (400, "invalid")),
        ({"key": "KEY"}, SHOP, (400, "invalid")),
    ],
)
def test_bad_widget_calls_get_a_clear_error_and_store_nothing(widget, body, origin, expected):
    body = {k: (widget.publishable_key if v == "KEY" else v) for k, v in body.items()}
    before = db_state()
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    response = APIClient().post(START, body, format="json", **headers)
    assert error(response) == expected
    assert db_state() == before
    if expected[0] == 403:
        assert "Access-Control-Allow-Origin" not in response


def test_an_oversized_message_names_the_limit(widget):
    response = APIClient().post(
        START, {"key": widget.publishable_key, "message": "y" * 5000}, format="json", HTTP_ORIGIN=SHOP
    )
    assert response.json()["error"]["message"] == "The message is 5,000 characters; the limit is 2,000."
    assert response.json()["error"]["fields"] == {"message": ["At most 2,000 characters."]}


def test_a_wrong_token_or_another_widgets_conversation_is_not_found(world, widget):
    client = APIClient()
    body = client.post(START, {"key": widget.publishable_key, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP).json()
    kai = kai_at_hoshi(world)
    other = services.widget_configure(actor=world.hoshi_owner, placement=kai, allowed_origins=[SHOP])
    before = db_state()
    for key, token in (
        (widget.publishable_key, "wrong"),
        (other.publishable_key, body["token"]),
        (widget.publishable_key, None),
    ):
        payload = {"key": key, "message": "again", **({"token": token} if token else {})}
        response = client.post(f"{START}/{body['conversation']}/messages", payload, format="json", HTTP_ORIGIN=SHOP)
        assert error(response) == (404, "not_found")
    assert db_state() == before


def test_widget_calls_are_rate_limited_per_key_and_address(widget, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "widget": "2/min"},
    }
    client = APIClient()
    for _ in range(2):
        assert (
            client.post(
                START, {"key": widget.publishable_key, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP
            ).status_code
            == 201
        )
    before = db_state()
    limited = client.post(START, {"key": widget.publishable_key, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP)
    assert error(limited) == (429, "throttled")
    assert int(limited["Retry-After"]) > 0
    assert db_state() == before


def test_the_preflight_answers_only_allowed_origins(widget):
    client = APIClient()
    allowed = client.options(START, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert (allowed.status_code, allowed["Access-Control-Allow-Origin"]) == (204, SHOP)
    refused = client.options(START, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 204 and "Access-Control-Allow-Origin" not in refused


def test_a_widget_of_an_inactive_placement_does_not_talk(world, widget):
    from contracts import services as contract_services

    contract_services.placement_pause(actor=world.hoshi_manager, placement=widget.placement, reason="Refit")
    before = db_state()
    response = APIClient().post(
        START, {"key": widget.publishable_key, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP
    )
    assert error(response) == (409, "invalid_transition")
    assert db_state() == before


def test_only_an_owner_configures_the_widget_with_real_origins(world):
    placement = rinna_at_hoshi(world)
    from core.errors import PermissionDenied, ValidationFailed

    before = db_state()
    with pytest.raises(PermissionDenied):
        services.widget_configure(actor=world.hoshi_member, placement=placement, allowed_origins=[SHOP])
    with pytest.raises(ValidationFailed) as bad:
        services.widget_configure(actor=world.hoshi_owner, placement=placement, allowed_origins=["shop.example/x"])
    assert bad.value.fields == {"allowed_origins": ["Not an origin: shop.example/x"]}
    assert db_state() == before


def test_rotating_the_key_retires_the_old_one(world, widget):
    old = widget.publishable_key
    services.widget_key_rotate(actor=world.hoshi_owner, widget=widget)
    response = APIClient().post(START, {"key": old, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP)
    assert error(response) == (404, "not_found")


# --- the members' API -------------------------------------------------------------------------


def test_members_chat_and_read_transcripts_within_their_scope(world):
    placement = rinna_at_hoshi(world)
    owner = api_as(world.hoshi_owner)
    started = owner.post(f"/api/v1/placements/{placement.pk}/conversations", {"message": "Any bento?"}, format="json")
    assert started.status_code == 201
    services.message_answer(message_id=started.json()["message"]["id"])
    conversation_url = f"/api/v1/conversations/{started.json()['id']}"
    transcript = owner.get(conversation_url).json()
    assert [m["role"] for m in transcript["messages"]] == ["user", "assistant"]
    assert transcript["messages"][1]["products"][0]["sku"] == "BENTO-KARAAGE"
    # the account manager reads it; another partner and another manager get a 404
    assert api_as(world.hoshi_manager).get(conversation_url).status_code == 200
    assert error(api_as(world.wayfarer_owner).get(conversation_url)) == (404, "not_found")
    assert error(api_as(world.wayfarer_manager).get(conversation_url)) == (404, "not_found")
    before = db_state()
    response = api_as(world.wayfarer_owner).post(
        f"/api/v1/placements/{placement.pk}/conversations", {"message": "hi"}, format="json"
    )
    assert error(response) == (404, "not_found")
    # a manager can read but not chat as the partner
    response = api_as(world.hoshi_manager).post(
        f"/api/v1/placements/{placement.pk}/conversations", {"message": "hi"}, format="json"
    )
    assert error(response) == (403, "permission_denied")
    assert db_state() == before


def test_polling_for_a_reply_does_not_use_up_the_message_budget(widget, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "widget": "2/min",
            "widget_read": "5/min",
        },
    }
    client = APIClient()
    body = client.post(START, {"key": widget.publishable_key, "message": "hi"}, format="json", HTTP_ORIGIN=SHOP).json()
    params = {"key": widget.publishable_key, "token": body["token"]}
    statuses = [
        client.get(f"{START}/{body['conversation']}/messages", params, HTTP_ORIGIN=SHOP).status_code for _ in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 200, 429]
    more = client.post(
        f"{START}/{body['conversation']}/messages", {**params, "message": "again"}, format="json", HTTP_ORIGIN=SHOP
    )
    assert more.status_code == 201
