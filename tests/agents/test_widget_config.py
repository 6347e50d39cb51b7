"""The widget's first question, GET /api/v1/widget/config: whether it may show its launcher
on this page at all. An origin the partner did not allow is refused without a CORS header
(the page cannot even read why), an ended or paused placement answers `enabled: false`, and
none of it stores anything."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from agents import services
from contracts import services as contract_services
from tests.support.agents import db_state, rinna_at_hoshi

pytestmark = pytest.mark.django_db
SHOP = "https://shop.hoshi.example"
CONFIG = "/api/v1/widget/config"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def widget(world):
    placement = rinna_at_hoshi(world)
    return services.widget_configure(actor=world.hoshi_owner, placement=placement, allowed_origins=SHOP)


def test_an_allowed_page_of_an_active_placement_gets_the_employee_to_greet_with(widget):
    response = APIClient().get(CONFIG, {"key": widget.publishable_key}, HTTP_ORIGIN=SHOP)
    assert response.status_code == 200
    assert response.json() == {
        "enabled": True,
        "reason": "",
        "employee": {"name": "Rinna", "title": "Coupon promoter"},
        "partner": "Hoshi Mart",
    }
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_a_page_whose_origin_is_not_allowed_is_refused_without_cors_and_nothing_changes(widget):
    before = db_state()
    response = APIClient().get(CONFIG, {"key": widget.publishable_key}, HTTP_ORIGIN="https://elsewhere.example")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "Access-Control-Allow-Origin" not in response
    assert db_state() == before


def test_a_page_without_an_origin_is_refused(widget):
    response = APIClient().get(CONFIG, {"key": widget.publishable_key})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


def test_a_same_origin_read_without_origin_is_judged_by_its_referer(widget):
    # Browsers send no Origin on a same-origin GET; the Referer names the page instead.
    allowed = APIClient().get(CONFIG, {"key": widget.publishable_key}, HTTP_REFERER=f"{SHOP}/basket?x=1")
    refused = APIClient().get(CONFIG, {"key": widget.publishable_key}, HTTP_REFERER="https://elsewhere.example/")
    assert (allowed.status_code, refused.status_code) == (200, 403)


def test_an_unknown_key_is_not_found(widget):
    response = APIClient().get(CONFIG, {"key": "pk_nope"}, HTTP_ORIGIN=SHOP)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("how", ["end", "pause"])
def test_an_ended_or_paused_placement_keeps_the_launcher_hidden(world, widget, how):
    placement = widget.placement
    if how == "end":
        contract_services.placement_end(actor=world.hoshi_owner, placement=placement, reason="Season over")
    else:
        contract_services.placement_pause(actor=world.hoshi_manager, placement=placement, reason="Store refit")
    before = db_state()
    response = APIClient().get(CONFIG, {"key": widget.publishable_key}, HTTP_ORIGIN=SHOP)
    assert response.status_code == 200
    # nothing about the employee or the partner goes to a page where it will not show
    assert response.json() == {"enabled": False, "reason": "placement_inactive", "employee": {}, "partner": ""}
    assert db_state() == before


def test_posting_to_the_config_is_not_allowed(widget):
    response = APIClient().post(CONFIG, {"key": widget.publishable_key}, format="json", HTTP_ORIGIN=SHOP)
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")
