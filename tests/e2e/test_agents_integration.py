"""The issue's "Done when", with a real Celery worker over the real broker: a shopper chats
with Rinna in the widget, gets a coupon; the partner posts a sale with that code;
settlement attributes it and the statement shows it."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents import services
from agents.models import AgentRun, IssuedCoupon, Message
from revenue.models import Sale
from tests.support.agents import rinna_at_hoshi
from tests.support.revenue_api import approve, partner_client, post, session, settle, statement
from tests.support.workers import wait_for
from tests.support.world import this_period

pytestmark = pytest.mark.integration
SHOP = "https://shop.hoshi.example"


def _reply_after(shopper: APIClient, key: str, conversation: dict, after: int) -> dict:
    def replied():
        body = shopper.get(
            f"/api/v1/widget/conversations/{conversation['conversation']}/messages",
            {"key": key, "token": conversation["token"], "after": after},
            HTTP_ORIGIN=SHOP,
        ).json()
        return next((m for m in body["messages"] if m["role"] == "assistant"), None)

    return wait_for(replied, timeout=60, what="Rinna's reply from the worker")


def test_a_widget_chat_coupon_becomes_an_attributed_sale_on_the_statement(world, celery_worker_process):
    # given Rinna at Hoshi Mart with its catalog, an offer and a widget on the shop's site
    placement = rinna_at_hoshi(world)
    widget = services.widget_configure(actor=world.hoshi_owner, placement=placement, allowed_origins=[SHOP])
    shopper = APIClient()

    # when a shopper asks the widget for lunch ideas, the worker answers from the catalog
    started = shopper.post(
        "/api/v1/widget/conversations",
        {"key": widget.publishable_key, "message": "Something hot for lunch?"},
        format="json",
        HTTP_ORIGIN=SHOP,
    )
    assert started.status_code == 201, started.content
    assert started["Access-Control-Allow-Origin"] == SHOP
    conversation = started.json()
    first = _reply_after(shopper, widget.publishable_key, conversation, conversation["message"]["id"])
    assert [p["sku"] for p in first["products"]] == ["BENTO-KARAAGE", "NIKUMAN"]
    assert first["coupon"] is None

    # when the shopper asks for a deal, the reply carries a unique coupon code
    asked = shopper.post(
        f"/api/v1/widget/conversations/{conversation['conversation']}/messages",
        {
            "key": widget.publishable_key,
            "token": conversation["token"],
            "message": "Do you have a coupon for the nikuman?",
        },
        format="json",
        HTTP_ORIGIN=SHOP,
    )
    assert asked.status_code == 201, asked.content
    reply = _reply_after(shopper, widget.publishable_key, conversation, asked.json()["message"]["id"])
    code = reply["coupon"]["code"]
    assert reply["coupon"] == {"code": code, "offer": "10% off hot snacks", "percent_off": 10}
    assert code in reply["content"]
    assert IssuedCoupon.objects.get().code == code
    # every model call of both turns is recorded, once
    assert AgentRun.objects.filter(status="ok").count() == 4
    assert Message.objects.filter(role="assistant").count() == 2

    # when the partner's POS posts the sale that redeemed it
    pos, finance, approver = partner_client(world), session(world.finance), session(world.finance2)
    sold = post(
        pos,
        "/api/v1/sales",
        {
            "events": [
                {
                    "external_id": "pos-widget-1",
                    "type": "sale",
                    "occurred_at": timezone.now().isoformat(),
                    "amount": 1280,
                    "currency": "JPY",
                    "coupon_code": code,
                    "store_id": "tokyo-221",
                }
            ]
        },
    )
    assert sold == {"accepted": 1, "duplicates": 0, "rejected": []}

    # then settlement attributes it to Rinna's coupon and the statement shows it
    period = f"{this_period(world.hoshi):%Y-%m}"
    settle(finance, period)
    sale = Sale.objects.get(external_id="pos-widget-1")
    assert (sale.attribution, sale.placement_id, sale.attributed_key) == ("attributed", placement.pk, "coupon_code")
    assert sale.touchpoint_id == IssuedCoupon.objects.get().touchpoint_id
    found = statement(finance, period)
    assert found["lines"][0]["kind"] == "attributed_sales"
    assert (found["lines"][0]["quantity"], found["lines"][0]["revenue"], found["net"]) == (1, 1280, 1280)
    approve(finance, found, approver)
    [seen] = pos.get(f"/api/v1/statements?period={period}").json()["results"]
    assert (seen["net"], seen["lines"][0]["quantity"], seen["lines"][0]["revenue"]) == (1280, 1, 1280)
