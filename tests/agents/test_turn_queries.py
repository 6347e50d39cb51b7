"""The round trips of a turn, pinned: a typical turn is a bounded number of queries, so a
change that adds a read per turn (or per tool call) shows up here, not in production."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import IssuedCoupon, Message
from tests.support.agents import rinna_at_hoshi

pytestmark = pytest.mark.django_db

# Counted inside the test's transaction, so the turn's own transaction shows as a savepoint
# and its release (2). Then: the lock with the reply check, the history and the placement's
# catalog and documents figures (1), the offers (1), the product search (1), and the runs, the
# inbound's status, the conversation and the reply in one statement (1). (Before these were
# pinned a product turn made 24 and a coupon turn 30; until issue 16's turn overhead 13 and
# 26: the history and the figures had a read each, the four writes a statement each, the
# coupon tool read the message again; until its second pass 8 and 20: the workflow's try had
# a savepoint of its own, now a failed try rolls the turn's transaction back.)
RECOMMEND_TURN_QUERIES = 6
# The same, less the product search, plus the coupon: the conversation's coupons (1), the
# touchpoint through revenue.services.ingestion (its savepoints, the placement, the insert,
# the late-sale reset, the row read back, the webhook endpoints) and the coupon row. The
# message comes from the turn's lock (selectors.turn_message).
COUPON_TURN_QUERIES = 18


def _posted(placement, text: str) -> int:
    return services.conversation_start(placement=placement, channel="widget", text=text).message.pk


def _turn(placement, text: str) -> tuple[Message, list[str]]:
    message_id = _posted(placement, text)
    with CaptureQueriesContext(connection) as queries:
        reply = services.message_answer(message_id=message_id)
    return reply, [q["sql"] for q in queries.captured_queries]


def test_a_product_turn_makes_a_bounded_number_of_queries(world, django_assert_num_queries):
    # given Rinna with her catalog and offer, warm (a first turn built the per-process caches)
    placement = rinna_at_hoshi(world)
    _turn(placement, "Something hot for lunch?")
    message_id = _posted(placement, "Something hot for lunch?")
    # when a shopper's request for products is answered
    with django_assert_num_queries(RECOMMEND_TURN_QUERIES):
        reply = services.message_answer(message_id=message_id)
    # then the turn is answered as before, within the budget
    assert (reply.intent, [p["sku"] for p in reply.products]) == ("recommend", ["BENTO-KARAAGE", "NIKUMAN"])


def test_a_coupon_turn_makes_a_bounded_number_of_queries(world, django_assert_num_queries):
    placement = rinna_at_hoshi(world)
    _turn(placement, "Something hot for lunch?")
    message_id = _posted(placement, "Do you have a coupon today?")
    with django_assert_num_queries(COUPON_TURN_QUERIES):
        reply = services.message_answer(message_id=message_id)
    assert reply.intent == "coupon"
    assert IssuedCoupon.objects.get().code in reply.content


def test_the_catalog_and_documents_are_read_once_a_turn(world):
    # given a warm placement
    placement = rinna_at_hoshi(world)
    _turn(placement, "Something hot for lunch?")
    # when a turn runs lookups that ask for the catalog's size and words several times
    _, queries = _turn(placement, "Anything sweet for dessert?")
    # then one query answers them all, and no aggregate over the catalog runs on its own
    assert sum("agents_knowledgedocument" in q for q in queries) == 1
    assert not [q for q in queries if 'COUNT(*) AS "__count" FROM "agents_catalogitem"' in q]


def test_a_new_catalog_is_read_by_the_next_turn(world):
    # given a warm placement whose catalog the process has cached (its rows and its words)
    placement = rinna_at_hoshi(world)
    _turn(placement, "Something hot for lunch?")
    # when the partner replaces the catalog with one that has no lunch but an oden set
    services.catalog_upload(
        actor=world.hoshi_owner,
        placement=placement,
        content=b"sku,name,description,price,tags\nODEN,Oden set,Hot simmered oden for lunch.,420,hot;lunch\n",
    )
    reply, _ = _turn(placement, "Something hot for lunch?")
    # then the next turn answers from the new catalog
    assert [p["sku"] for p in reply.products] == ["ODEN"]
