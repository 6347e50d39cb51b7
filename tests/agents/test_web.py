"""The agents' pages: the htmx chat, transcripts for the partner and its account manager,
knowledge uploads, the widget's settings, the review queue and the economics page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents import selectors, services
from agents.models import CatalogItem, Conversation, CopyDraft, KnowledgeDocument, Message, Widget
from revenue.models import Outcome
from tests.support.agents import CATALOG_CSV, db_state, kai_at_hoshi, mei_at_hoshi, rinna_at_hoshi, say

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- chat -------------------------------------------------------------------------------------


def test_a_member_chats_and_the_reply_arrives_without_reloading(world):
    placement = rinna_at_hoshi(world)
    owner = client_for(world.hoshi_owner)
    assert owner.get(reverse("portal-chat", args=[placement.pk])).status_code == 200
    # when the owner starts a conversation
    response = owner.post(reverse("portal-chat", args=[placement.pk]), {"message": "Something sweet?"})
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "portal-conversation", args=[conversation.pk]
    )
    inbound = Message.objects.get()
    page = owner.get(response["Location"]).content.decode()
    # then the page polls for the reply with htmx
    assert "Something sweet?" in page and reverse("message-reply", args=[inbound.pk]) in page
    pending = owner.get(reverse("message-reply", args=[inbound.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "Rinna is typing" in pending
    # when the worker has answered, the poll returns the reply in place of the placeholder
    services.message_answer(message_id=inbound.pk)
    reply = owner.get(reverse("message-reply", args=[inbound.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "Custard pudding" in reply and "typing" not in reply
    # and a further message through htmx comes back as the message with its placeholder
    more = owner.post(
        reverse("portal-conversation-post", args=[conversation.pk]), {"message": "A coupon?"}, HTTP_HX_REQUEST="true"
    )
    assert more.status_code == 201
    assert "A coupon?" in more.content.decode() and "is typing" in more.content.decode()


def test_a_coupon_shows_in_the_transcript(world):
    placement = rinna_at_hoshi(world)
    reply = say(world, placement, "Do you have a coupon?")
    code = reply.reply_to.coupon.code
    page = client_for(world.hoshi_owner).get(reverse("portal-conversation", args=[reply.conversation_id]))
    assert f'<span class="coupon-code">{code}</span> 10% off hot snacks' in page.content.decode()


def test_an_empty_message_through_htmx_is_refused_with_its_reason(world):
    placement = rinna_at_hoshi(world)
    reply = say(world, placement, "hello")
    before = db_state()
    response = client_for(world.hoshi_owner).post(
        reverse("portal-conversation-post", args=[reply.conversation_id]), {"message": "   "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "The message is empty." in response.content.decode()
    assert db_state() == before


def test_transcripts_are_visible_to_the_partner_and_its_account_manager_only(world):
    placement = kai_at_hoshi(world)
    reply = say(world, placement, "Can I return fresh food?")
    conversation_id = reply.conversation_id
    assert client_for(world.hoshi_member).get(reverse("portal-conversation", args=[conversation_id])).status_code == 200
    manager = client_for(world.hoshi_manager)
    page = manager.get(reverse("console-conversation", args=[conversation_id]))
    assert page.status_code == 200 and "Sources: “Returns policy”" in page.content.decode()
    assert reply.conversation.public_id in manager.get(reverse("console-conversations")).content.decode()
    # outside the scope: 404; a partner in the console: 403
    assert (
        client_for(world.wayfarer_owner).get(reverse("portal-conversation", args=[conversation_id])).status_code == 404
    )
    assert (
        client_for(world.wayfarer_manager).get(reverse("console-conversation", args=[conversation_id])).status_code
        == 404
    )
    assert client_for(world.wayfarer_manager).get(reverse("message-reply", args=[reply.reply_to_id])).status_code == 404
    assert client_for(world.hoshi_owner).get(reverse("console-conversations")).status_code == 403
    before = db_state()
    response = client_for(world.wayfarer_owner).post(
        reverse("portal-conversation-post", args=[conversation_id]), {"message": "hi"}
    )
    assert response.status_code == 404 and db_state() == before


# --- knowledge ----------------------------------------------------------------------------------


def test_a_catalog_with_broken_rows_is_refused_whole_and_names_each_row(world):
    placement = rinna_at_hoshi(world)
    before = db_state()
    broken = (
        b"sku,name,description,price,tags\nOK-1,Fine item,,100,\n,No sku,,100,\nP-2,Bad price,,12.5,\n"
        b"OK-1,Again,,100,\nP-3,Negative,,-4,\n"
    )
    response = client_for(world.hoshi_owner).post(
        reverse("portal-knowledge-action", args=[placement.pk, "catalog"]),
        {"file": SimpleUploadedFile("catalog.csv", broken, content_type="text/csv")},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "4 row(s) of catalog.csv are broken (line(s) 3, 4, 5, 6); nothing was stored." in page
    assert "must be a non-negative amount in JPY with at most 0 decimals" in page and "repeats line 2" in page
    assert db_state() == before
    assert CatalogItem.objects.filter(placement=placement).count() == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"sku,title,price\nA,B,1\n", "The CSV header lacks: name"),
        (b"sku,name,price,colour\nA,B,1,red\n", "Unknown column(s): colour."),
        (b"sku,name,price\n", "The CSV has no products."),
        (b"\xff\xfe\x00bad", "The catalog is not UTF-8 text."),
    ],
)
def test_a_catalog_that_is_not_a_catalog_is_refused(world, content, message):
    placement = rinna_at_hoshi(world)
    before = db_state()
    with pytest.raises(services.ValidationFailed) as refused:
        services.catalog_upload(actor=world.hoshi_owner, placement=placement, content=content)
    assert refused.value.message.startswith(message)
    assert db_state() == before


def test_a_member_uploads_the_catalog_a_document_and_an_offer_on_the_page(world):
    placement = rinna_at_hoshi(world, offer=False)
    member = client_for(world.hoshi_member)
    url = lambda action: reverse("portal-knowledge-action", args=[placement.pk, action])  # noqa: E731
    csv_ = CATALOG_CSV + b"MATCHA,Matcha latte,Iced matcha latte.,260,drink;sweet\n"
    assert member.post(url("catalog"), {"file": SimpleUploadedFile("c.csv", csv_)}).status_code == 302
    assert CatalogItem.objects.filter(placement=placement).count() == 6
    matcha = CatalogItem.objects.get(sku="MATCHA")
    assert (matcha.price, matcha.tags, "matcha" in matcha.terms) == (260, ["drink", "sweet"], True)
    assert (
        member.post(
            url("documents"), {"file": SimpleUploadedFile("faq.md", b"# FAQ\n\nWe open at 7.\n"), "title": ""}
        ).status_code
        == 302
    )
    assert KnowledgeDocument.objects.get(placement=placement).title == "faq"
    assert (
        member.post(
            url("offers"), {"title": "5% off drinks", "percent_off": "5", "code_prefix": "drink", "tags": "drink"}
        ).status_code
        == 302
    )
    offer = placement.offers.get()
    assert (offer.code_prefix, offer.tags, offer.percent_off) == ("DRINK", ["drink"], 5)
    page = client_for(world.hoshi_owner).get(reverse("portal-knowledge", args=[placement.pk])).content.decode()
    assert "Matcha latte" in page and "5% off drinks" in page


def test_bad_documents_and_offers_are_refused(world):
    placement = rinna_at_hoshi(world)
    before = db_state()
    for name, content in (("faq.pdf", b"%PDF"), ("empty.md", b"  \n\n"), ("big.txt", b"x" * (513 * 1024))):
        with pytest.raises(services.ValidationFailed):
            services.document_upload(actor=world.hoshi_owner, placement=placement, content=content, filename=name)
    response = client_for(world.hoshi_owner).post(
        reverse("portal-knowledge-action", args=[placement.pk, "offers"]),
        {"title": "Huge", "percent_off": "95", "code_prefix": "!!"},
    )
    assert response.status_code == 400
    assert db_state() == before
    with pytest.raises(services.PermissionDenied):
        services.document_upload(actor=world.wayfarer_owner, placement=placement, content=b"hi", filename="a.md")
    assert db_state() == before


# --- widget settings -------------------------------------------------------------------------------


def test_the_owner_creates_the_widget_and_sees_its_snippet(world):
    placement = rinna_at_hoshi(world)
    owner = client_for(world.hoshi_owner)
    response = owner.post(
        reverse("portal-widget", args=[placement.pk]),
        {"allowed_origins": "https://shop.hoshi.example\nhttp://testserver"},
    )
    assert response.status_code == 302
    widget = Widget.objects.get()
    assert widget.allowed_origins == ["http://testserver", "https://shop.hoshi.example"]
    page = owner.get(reverse("portal-widget", args=[placement.pk])).content.decode()
    assert f'data-haken-key="{widget.publishable_key}"' in page and "the widget is live" in page
    # a member may not change it
    before = db_state()
    refused = client_for(world.hoshi_member).post(
        reverse("portal-widget", args=[placement.pk]), {"allowed_origins": "https://evil.example"}
    )
    assert refused.status_code == 403 and db_state() == before


# --- review queue ---------------------------------------------------------------------------------


def test_the_review_queue_approves_and_rejects(world):
    placement = mei_at_hoshi(world)
    say(world, placement, "Write a campaign for our pudding")
    say(world, placement, "Write a campaign for green tea")
    first, second = CopyDraft.objects.order_by("id")
    member = client_for(world.hoshi_member)
    assert "Write a campaign for our pudding" in member.get(reverse("portal-review")).content.decode()
    assert (
        member.post(
            reverse("portal-review-decide", args=[first.pk]), {"decision": "approve", "text": first.text}
        ).status_code
        == 302
    )
    assert member.post(reverse("portal-review-decide", args=[second.pk]), {"decision": "reject"}).status_code == 302
    assert list(CopyDraft.objects.order_by("id").values_list("status", flat=True)) == ["approved", "rejected"]
    assert list(Outcome.objects.values_list("kind", "external_id")) == [("delivered_work", f"copy-{first.pk}")]
    before = db_state()
    again = member.post(reverse("portal-review-decide", args=[second.pk]), {"decision": "approve"})
    assert again.status_code == 409 and db_state() == before
    assert (
        client_for(world.wayfarer_owner)
        .post(reverse("portal-review-decide", args=[first.pk]), {"decision": "reject"})
        .status_code
        == 404
    )


# --- economics ------------------------------------------------------------------------------------


def test_economics_puts_token_cost_next_to_per_call_pricing_and_the_wage(world, settings):
    settings.AGENT_PER_CALL_PRICES = {"JPY": "3"}
    placement = rinna_at_hoshi(world)
    say(world, placement, "Something hot for lunch?")
    say(world, placement, "A coupon please")
    _, figures = selectors.placement_economics(viewer=world.hoshi_owner, placement_id=placement.pk)
    assert (figures.turns, figures.calls, figures.failed_calls) == (2, 4, 0)
    assert figures.per_call == {"JPY": Decimal(12)}
    assert figures.token_cost == {"USD": Decimal(0)}
    assert figures.wage == {}  # no approved statement yet
    page = client_for(world.hoshi_owner).get(reverse("placement-economics", args=[placement.pk])).content.decode()
    assert "JPY 12" in page and "USD 0.000000" in page
    manager_page = client_for(world.hoshi_manager).get(reverse("employee-economics", args=["rinna"]))
    assert manager_page.status_code == 200 and "Rinna at Hoshi Mart" in manager_page.content.decode()
    assert client_for(world.wayfarer_owner).get(reverse("placement-economics", args=[placement.pk])).status_code == 404
    assert client_for(world.wayfarer_manager).get(reverse("employee-economics", args=["rinna"])).status_code == 404


def test_token_cost_follows_the_price_table(world, settings):
    from agents.llm import ModelChoice, ModelRouter, Price
    from tests.support.agents import fake

    placement = rinna_at_hoshi(world)
    price = Price(Decimal("0.15"), Decimal("0.60"), "USD")  # per 1,000 tokens
    priced = ModelRouter(
        tiers={
            "small": ModelChoice("mini", "small", fake("recommend"), price),
            "large": ModelChoice("big", "large", fake("Try the bento."), price),
        }
    )
    reply = say(world, placement, "bento", router_=priced)
    runs = list(reply.reply_to.runs.order_by("id"))
    for run in runs:
        expected = (Decimal(run.tokens_in) * Decimal("0.15") + Decimal(run.tokens_out) * Decimal("0.60")) / 10
        assert run.cost == expected.quantize(Decimal("0.00000001"))
    assert {run.model for run in runs} == {"mini", "big"}


def test_staff_read_the_agents_in_the_admin(world):
    placement = rinna_at_hoshi(world)
    reply = say(world, placement, "A coupon please")
    staff = client_for(world.staff)
    for name in ("conversation", "agentrun", "catalogitem", "knowledgedocument", "couponoffer", "widget", "copydraft"):
        assert staff.get(f"/admin/agents/{name}/").status_code == 200, name
    page = staff.get(f"/admin/agents/conversation/{reply.conversation_id}/change/").content.decode()
    assert "A coupon please" in page


def test_a_member_reads_but_does_not_write_in_a_visitors_widget_conversation(world):
    placement = rinna_at_hoshi(world)
    started = services.conversation_start(placement=placement, channel="widget", text="Any bento?")
    member = client_for(world.hoshi_member)
    page = member.get(reverse("portal-conversation", args=[started.conversation.pk])).content.decode()
    assert "Any bento?" in page and 'name="message"' not in page
    before = db_state()
    response = member.post(reverse("portal-conversation-post", args=[started.conversation.pk]), {"message": "hi"})
    assert response.status_code == 403 and db_state() == before


def test_escalated_conversations_are_listed_for_a_human_and_documents_can_be_removed(world):
    placement = kai_at_hoshi(world)
    escalated = say(world, placement, "Can you repair my motorbike engine?")
    owner = client_for(world.hoshi_owner)
    page = owner.get(reverse("portal-agents")).content.decode()
    assert "Needs a human" in page and escalated.conversation.public_id in page
    document = placement.documents.get(title="Hoshi Points FAQ")
    assert (
        client_for(world.wayfarer_owner)
        .post(reverse("portal-document-delete", args=[placement.pk, document.pk]))
        .status_code
        == 404
    )
    assert owner.post(reverse("portal-document-delete", args=[placement.pk, document.pk])).status_code == 302
    assert list(placement.documents.values_list("title", flat=True)) == ["Returns policy"]
    # the passages went with it: Kai no longer answers from it
    assert say(world, placement, "How do I earn Hoshi points?").intent == "escalate"


def test_japanese_text_is_matched_by_its_words_in_any_spelling(world):
    from agents import retrieval
    from agents.tools import product_lookup

    # Sudachi's normalized forms: the kana and the kanji spellings of a word are one term
    assert {"鮭", "御握り"} <= set(retrieval.terms("鮭おにぎり"))
    assert {"鮭", "御握り"} <= set(retrieval.terms("しゃけのお握り"))
    placement = rinna_at_hoshi(world)
    services.catalog_upload(
        actor=world.hoshi_owner,
        placement=placement,
        content=(
            "sku,name,description,price,tags\nONI-SAKE,鮭おにぎり,焼き鮭のおにぎり,180,lunch\n"
            "PUDDING,カスタードプリン,なめらかなプリン,210,sweet\n"
        ).encode(),
    )
    found = product_lookup.invoke({"placement_id": placement.pk, "query": "鮭のおにぎりありますか"})
    assert [p["sku"] for p in found] == ["ONI-SAKE"]


# --- a human takes over an escalated conversation ------------------------------------------------


def test_a_member_takes_over_an_escalated_widget_conversation_and_hands_it_back(world):
    from rest_framework.test import APIClient

    placement = kai_at_hoshi(world)
    widget = services.widget_configure(
        actor=world.hoshi_owner, placement=placement, allowed_origins=["https://shop.hoshi.example"]
    )
    shop = {"HTTP_ORIGIN": "https://shop.hoshi.example"}
    visitor = APIClient()
    body = visitor.post(
        "/api/v1/widget/conversations",
        {"key": widget.publishable_key, "message": "My motorbike engine is broken"},
        format="json",
        **shop,
    ).json()
    services.message_answer(message_id=body["message"]["id"])
    conversation = Conversation.objects.get()
    assert conversation.status == "escalated"
    # the visitor writes again before anyone has answered: the employee keeps the conversation
    # going (the question was passed on; the shopper is not left talking to no one)
    meanwhile = visitor.post(
        f"/api/v1/widget/conversations/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "message": "Hello?"},
        format="json",
        **shop,
    ).json()["message"]
    assert meanwhile["status"] == "pending"
    kept_going = services.message_answer(message_id=meanwhile["id"])
    assert kept_going.intent == "chat" and "colleague" in kept_going.content
    conversation.refresh_from_db()
    assert conversation.status == "escalated"
    # a member answers in person from the portal
    member = client_for(world.hoshi_member)
    page = member.get(reverse("portal-conversation", args=[conversation.pk])).content.decode()
    assert "You have this conversation" in page
    response = member.post(
        reverse("portal-conversation-takeover", args=[conversation.pk, "reply"]),
        {"message": "We don't repair engines, sorry! Try the garage next door."},
    )
    assert response.status_code == 302
    read = visitor.get(
        f"/api/v1/widget/conversations/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "after": kept_going.pk},
        **shop,
    ).json()
    assert [(m["role"], m["sender"]) for m in read["messages"]] == [("staff", "Hoshi Mart staff")]
    # now a person has it: the visitor's next message waits for them, no turn is queued
    later = visitor.post(
        f"/api/v1/widget/conversations/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "message": "Thanks, which garage?"},
        format="json",
        **shop,
    ).json()["message"]
    assert later["status"] == "waiting"
    assert services.message_answer(message_id=later["id"]) is None
    read = visitor.get(
        f"/api/v1/widget/conversations/{body['conversation']}/messages",
        {"key": widget.publishable_key, "token": body["token"], "after": later["id"]},
        **shop,
    ).json()
    assert (read["messages"], read["pending"], read["waiting_for_human"]) == ([], False, True)
    # and hands it back: the employee answers the next message again
    assert member.post(reverse("portal-conversation-takeover", args=[conversation.pk, "hand-back"])).status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == "open"
    next_message = services.message_post(conversation=conversation, text="How do I earn Hoshi points?")
    assert next_message.status == "pending"
    assert services.message_answer(message_id=next_message.pk).intent == "answer"


def test_only_an_escalated_conversation_is_taken_over_and_only_by_its_partner(world):
    placement = kai_at_hoshi(world)
    open_one = say(world, placement, "Can I return fresh food?").conversation
    escalated = say(world, placement, "Can you repair my motorbike engine?").conversation
    before = db_state()
    with pytest.raises(services.InvalidTransition):
        services.conversation_human_reply(actor=world.hoshi_owner, conversation=open_one, text="hi")
    with pytest.raises(services.PermissionDenied):
        services.conversation_human_reply(actor=world.wayfarer_owner, conversation=escalated, text="hi")
    with pytest.raises(services.ValidationFailed):
        services.conversation_human_reply(actor=world.hoshi_owner, conversation=escalated, text=" ")
    assert (
        client_for(world.wayfarer_owner)
        .post(reverse("portal-conversation-takeover", args=[escalated.pk, "reply"]), {"message": "hi"})
        .status_code
        == 404
    )
    assert db_state() == before


def test_economics_shows_the_wage_of_approved_statements_beside_the_token_cost(world, settings):
    from django.utils import timezone

    from revenue.models import SettlementRun, Statement
    from revenue.services.attribution import attribution_run
    from revenue.services.ingestion import sales_ingest
    from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
    from tests.support.world import this_period

    settings.AGENT_PER_CALL_PRICES = {"JPY": "3"}
    placement = rinna_at_hoshi(world)
    code = say(world, placement, "A coupon please").reply_to.coupon.code
    sales_ingest(
        partner=world.hoshi,
        events=[
            {
                "external_id": "pos-1",
                "type": "sale",
                "occurred_at": timezone.now().isoformat(),
                "amount": 5_000,
                "currency": "JPY",
                "coupon_code": code,
            }
        ],
    )
    attribution_run()
    run = SettlementRun.objects.create(period=this_period(world.hoshi), trigger="command")
    settlement_run_execute(run_id=run.pk)
    statement = Statement.objects.get()
    statement_approve(actor=world.finance2, statement=statement_submit(actor=world.finance, statement=statement))
    _, figures = selectors.placement_economics(viewer=world.hoshi_manager, placement_id=placement.pk)
    # value captured: the minimum wage of DESIGN terms (8% of 5,000 is below it); per-call: 2 calls at ¥3
    assert (figures.attributed_revenue, figures.wage, figures.per_call) == (
        {"JPY": 5_000},
        {"JPY": 300_000},
        {"JPY": Decimal(6)},
    )
    page = client_for(world.hoshi_owner).get(reverse("placement-economics", args=[placement.pk])).content.decode()
    assert "JPY 300,000" in page and "JPY 5,000" in page and "JPY 6" in page
