"""The three skills' workflows, each path, with the offline engine and with LangChain's fake
chat models; model failure, retry and fallback; duplicate task delivery."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents import services, tasks, tools, workflows
from agents.llm import router_override
from agents.models import AgentRun, CopyDraft, IssuedCoupon, Message
from core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from revenue.models import Outcome, Touchpoint
from revenue.services.ingestion import outcomes_ingest
from tests.support.agents import (
    RETURNS_MD,
    broken,
    db_state,
    fake,
    kai_at_hoshi,
    mei_at_hoshi,
    rinna_at_hoshi,
    router,
    say,
)
from tests.support.world import hire

pytestmark = pytest.mark.django_db


def runs(message: Message) -> list[tuple]:
    return list(
        AgentRun.objects.filter(message=message.reply_to or message)
        .order_by("id")
        .values_list("step", "tier", "model", "status", "attempt")
    )


# --- coupon_promoter, offline engine -------------------------------------------------------


def test_rinna_recommends_items_of_the_catalog_that_fit(world):
    # given Rinna at Hoshi Mart with its catalog
    placement = rinna_at_hoshi(world)
    # when a shopper asks for something hot for lunch
    reply = say(world, placement, "Something hot for lunch?")
    # then she recommends catalog items, lunch and hot ones first, and issues no coupon
    assert [p["sku"] for p in reply.products] == ["BENTO-KARAAGE", "NIKUMAN"]
    assert reply.intent == "recommend"
    assert "Karaage bento (JPY 598)" in reply.content
    assert IssuedCoupon.objects.count() == 0
    assert runs(reply) == [("route", "small", "haken-offline", "ok", 1), ("respond", "large", "haken-offline", "ok", 1)]
    run = AgentRun.objects.filter(step="respond").get()
    assert (run.tokens_in > 0, run.tokens_out > 0, run.cost, run.cost_currency) == (True, True, 0, "USD")


def test_rinna_issues_a_unique_tracked_coupon_when_asked_for_a_deal(world):
    placement = rinna_at_hoshi(world)
    first = say(world, placement, "Something hot for lunch?")
    # when the shopper asks for a deal
    reply = say(world, placement, "Do you have a coupon for that?", conversation=first.conversation)
    # then one code of the configured offer is issued, recorded as the placement's touchpoint
    coupon = IssuedCoupon.objects.get()
    assert coupon.code.startswith("RINNA-") and len(coupon.code) == 12
    assert (coupon.offer.title, coupon.message_id, coupon.conversation_id) == (
        "10% off hot snacks",
        reply.reply_to_id,
        first.conversation_id,
    )
    assert coupon.code in reply.content and "10% off hot snacks" in reply.content
    touch = Touchpoint.objects.get(kind="coupon")
    assert (touch.key, touch.placement_id, touch.source, touch.pk) == (
        coupon.code,
        placement.pk,
        "agent",
        coupon.touchpoint_id,
    )
    # and the conversation itself is a touchpoint too
    assert Touchpoint.objects.get(kind="conversation").key == first.conversation.public_id


def test_two_requests_for_deals_get_two_different_codes(world):
    placement = rinna_at_hoshi(world)
    a = say(world, placement, "Any discount today?")
    b = say(world, placement, "Any discount today?")
    codes = sorted(IssuedCoupon.objects.values_list("code", flat=True))
    assert len(set(codes)) == 2 and a.conversation_id != b.conversation_id


def test_rinna_refuses_a_product_the_partner_does_not_carry(world):
    placement = rinna_at_hoshi(world)
    before = (IssuedCoupon.objects.count(), Touchpoint.objects.filter(kind="coupon").count())
    reply = say(world, placement, "Do you sell car tyres?")
    assert reply.intent == "no_match"
    assert reply.products == []
    assert reply.content.startswith("Sorry, Hoshi Mart doesn't carry anything like that")
    assert (IssuedCoupon.objects.count(), Touchpoint.objects.filter(kind="coupon").count()) == before


def test_without_a_configured_offer_rinna_invents_no_discount(world):
    placement = rinna_at_hoshi(world, offer=False)
    reply = say(world, placement, "Give me a coupon please")
    assert reply.intent == "no_offer"
    assert "no deals running right now" in reply.content
    assert IssuedCoupon.objects.count() == 0
    assert Touchpoint.objects.filter(kind="coupon").count() == 0


# --- coupon_promoter, fake chat models ------------------------------------------------------


def test_fake_models_drive_the_coupon_path_and_the_code_is_never_lost(world):
    placement = rinna_at_hoshi(world)
    # given models that classify "coupon" and then answer without quoting the code
    fakes = router(small=fake("coupon"), large=fake("Here is a little something for you!"))
    reply = say(world, placement, "hmm", router_=fakes)
    code = IssuedCoupon.objects.get().code
    assert reply.content == f"Here is a little something for you!\nYour code: {code} (10% off hot snacks)"
    assert runs(reply) == [("route", "small", "fake-small", "ok", 1), ("respond", "large", "fake-large", "ok", 1)]


def test_fake_models_recommend_path_keeps_the_products_from_the_catalog(world):
    placement = rinna_at_hoshi(world)
    fakes = router(small=fake("recommend"), large=fake("Try our pudding!"))
    reply = say(world, placement, "something sweet for dessert", router_=fakes)
    assert (reply.content, [p["sku"] for p in reply.products]) == ("Try our pudding!", ["PUDDING"])


def test_fake_models_unknown_product_is_refused_without_asking_the_large_model(world):
    placement = rinna_at_hoshi(world)
    fakes = router(small=fake("recommend"), large=broken())
    reply = say(world, placement, "a snowboard", router_=fakes)
    assert reply.intent == "no_match"
    assert runs(reply) == [("route", "small", "fake-small", "ok", 1)]


def test_an_unknown_label_from_the_model_falls_back_to_the_default_intent(world):
    placement = rinna_at_hoshi(world)
    fakes = router(small=fake("I think the shopper wants bento"), large=fake("Bento it is."))
    reply = say(world, placement, "karaage bento", router_=fakes)
    assert (reply.intent, [p["sku"] for p in reply.products]) == ("recommend", ["BENTO-KARAAGE"])


# --- customer_service ------------------------------------------------------------------------


def test_kai_answers_from_the_knowledge_base_and_cites_the_document(world):
    placement = kai_at_hoshi(world)
    reply = say(world, placement, "How many days do I have to return an item?")
    returns = placement.documents.get(title="Returns policy")
    assert reply.intent == "answer"
    assert reply.citations == [{"document": returns.pk, "title": "Returns policy"}]
    assert "within 14 days" in reply.content and "(Source: “Returns policy”.)" in reply.content
    assert reply.conversation.status == "open"


def test_kai_escalates_what_the_knowledge_base_does_not_answer(world):
    placement = kai_at_hoshi(world)
    reply = say(world, placement, "Can you repair my motorbike engine?")
    conversation = reply.conversation
    conversation.refresh_from_db()
    assert (reply.intent, reply.citations) == ("escalate", [])
    assert (conversation.status, conversation.escalation_reason) == ("escalated", "no answer in the knowledge base")
    assert "passed your question to a colleague" in reply.content


def test_kai_escalates_when_the_customer_asks_for_a_person(world):
    placement = kai_at_hoshi(world)
    fakes = router(small=fake("human"), large=fake("A colleague will take over."))
    reply = say(world, placement, "I want to talk to a real person", router_=fakes)
    reply.conversation.refresh_from_db()
    assert (reply.conversation.status, reply.conversation.escalation_reason) == ("escalated", "asked for a person")


def test_a_confirmed_resolution_is_an_outcome_and_reopening_within_a_day_withdraws_it(world):
    placement = kai_at_hoshi(world)
    answer = say(world, placement, "How do I earn Hoshi points?")
    conversation = answer.conversation
    # when the customer confirms it solved the problem
    done = say(world, placement, "Yes, that solved it, thanks", conversation=conversation)
    conversation.refresh_from_db()
    outcome = Outcome.objects.get()
    assert done.intent == "resolved"
    assert (conversation.status, conversation.resolved_by) == ("resolved", "customer")
    assert (outcome.kind, outcome.external_id, outcome.placement_id, outcome.withdrawn_at) == (
        "resolution",
        conversation.public_id,
        placement.pk,
        None,
    )
    # when the customer writes again the same day, the conversation reopens and the outcome is withdrawn
    services.message_post(conversation=conversation, text="Actually, points did not arrive", actor=world.hoshi_owner)
    conversation.refresh_from_db()
    outcome.refresh_from_db()
    assert conversation.status == "open" and conversation.reopened_at is not None
    assert outcome.withdrawn_at is not None


def test_reopening_after_a_day_keeps_the_resolution(world):
    placement = kai_at_hoshi(world)
    answer = say(world, placement, "How do I earn Hoshi points?")
    say(world, placement, "Yes, that solved it, thanks", conversation=answer.conversation)
    Outcome.objects.update(occurred_at=timezone.now() - timedelta(hours=25))
    services.message_post(
        conversation=answer.conversation, text="A new question about returns", actor=world.hoshi_owner
    )
    assert Outcome.objects.get().withdrawn_at is None


def test_a_resolution_the_partner_confirmed_by_api_is_withdrawn_when_reopened(world):
    placement = kai_at_hoshi(world)
    answer = say(world, placement, "Can I return fresh food?")
    conversation = answer.conversation
    # the partner confirms the resolution through the outcomes API's service
    result = outcomes_ingest(
        partner=world.hoshi,
        outcomes=[
            {
                "placement": placement.pk,
                "kind": "resolution",
                "external_id": conversation.public_id,
                "occurred_at": timezone.now().isoformat(),
            }
        ],
    )
    assert result.accepted == 1
    services.message_post(conversation=conversation, text="It was spoiled though", actor=world.hoshi_owner)
    assert Outcome.objects.get().withdrawn_at is not None


def test_thanks_before_any_answer_is_not_a_resolution(world):
    placement = kai_at_hoshi(world)
    fakes = router(small=fake("resolved"), large=fake("Let me look that up."))
    say(world, placement, "problem solved? how do returns work", router_=fakes)
    assert Outcome.objects.count() == 0


# --- copywriter -----------------------------------------------------------------------------


def test_mei_drafts_copy_into_the_review_queue_and_approval_is_delivered_work(world):
    placement = mei_at_hoshi(world)
    reply = say(world, placement, "Write a campaign for our karaage bento for office workers at lunch")
    draft = CopyDraft.objects.get()
    assert (reply.intent, draft.status, draft.placement_id, draft.message_id) == (
        "draft",
        "pending",
        placement.pk,
        reply.reply_to_id,
    )
    assert draft.text.startswith("Headline: Karaage bento")
    assert Outcome.objects.count() == 0
    # when a member approves it after an edit
    services.copy_draft_review(
        actor=world.hoshi_member, draft=draft, decision="approve", text="Karaage bento: lunch that keeps up with you."
    )
    draft.refresh_from_db()
    outcome = Outcome.objects.get()
    assert (draft.status, draft.edited, draft.reviewed_by) == ("approved", True, world.hoshi_member)
    assert (outcome.kind, outcome.external_id) == ("delivered_work", f"copy-{draft.pk}")


def test_a_rejected_draft_is_not_an_outcome_and_cannot_be_reviewed_again(world):
    placement = mei_at_hoshi(world)
    fakes = router(small=fake("brief"), large=fake("Headline: Pudding o'clock."))
    say(world, placement, "A tagline for our custard pudding", router_=fakes)
    draft = CopyDraft.objects.get()
    assert draft.text == "Headline: Pudding o'clock."
    services.copy_draft_review(actor=world.hoshi_owner, draft=draft, decision="reject", note="Off brand")
    draft.refresh_from_db()
    assert (draft.status, draft.review_note, Outcome.objects.count()) == ("rejected", "Off brand", 0)
    before = db_state()
    with pytest.raises(InvalidTransition):
        services.copy_draft_review(actor=world.hoshi_owner, draft=draft, decision="approve")
    assert db_state() == before


def test_a_brief_that_opens_with_a_greeting_is_drafted_and_small_talk_is_not(world):
    placement = mei_at_hoshi(world)
    # given a brief that opens like small talk, and a classifier that calls it chat
    fakes = router(
        small=fake("chat", "chat"),
        large=fake("Headline: Lunch, sorted\nBody: Karaage bento.\nCall to action: Grab one.", "Hi!", "Hi!"),
    )
    reply = say(
        world, placement, "Hi Mei! Back-to-work SMS for office workers about our karaage bento, upbeat", router_=fakes
    )
    # then it is drafted all the same
    assert (reply.intent, CopyDraft.objects.count()) == ("draft", 1)
    # and a greeting with a question about the service is answered as such, no draft made
    drafts = list(CopyDraft.objects.values_list("pk", "text"))
    other = say(world, placement, "hello, how does this work?", router_=fakes)
    assert other.intent == "chat"
    assert list(CopyDraft.objects.values_list("pk", "text")) == drafts


def test_another_partner_cannot_review_a_draft(world):
    placement = mei_at_hoshi(world)
    say(world, placement, "Write a campaign for green tea")
    draft = CopyDraft.objects.get()
    before = db_state()
    with pytest.raises(PermissionDenied):
        services.copy_draft_review(actor=world.wayfarer_owner, draft=draft, decision="approve")
    with pytest.raises(ValidationFailed):
        services.copy_draft_review(actor=world.hoshi_owner, draft=draft, decision="approve", text="  ")
    assert db_state() == before


# --- failure, retry, fallback, duplicates ------------------------------------------------------


def test_a_failing_model_retries_then_falls_back_a_tier(world):
    placement = rinna_at_hoshi(world)
    started = services.conversation_start(
        placement=placement, channel="portal", text="Any discount today?", actor=world.hoshi_owner
    )
    fakes = router(small=fake("coupon", "coupon", "coupon", "Here you go"), large=broken())
    # when the large model times out on the first attempt, the turn asks to be retried
    before_coupons = IssuedCoupon.objects.count()
    with pytest.raises(services.TurnRetry):
        services.message_answer(message_id=started.message.pk, attempt=1, final=False, router=fakes)
    # and stores the failed call, but no reply and no coupon (the tool's writes rolled back)
    assert runs(started.message) == [
        ("route", "small", "fake-small", "ok", 1),
        ("respond", "large", "fake-large", "error", 1),
    ]
    assert AgentRun.objects.filter(status="error").get().error == "TimeoutError: model endpoint timed out"
    assert (Message.objects.filter(reply_to=started.message).count(), IssuedCoupon.objects.count()) == (
        0,
        before_coupons,
    )
    # when the final attempt fails at the large tier too, it falls back to the small one
    reply = services.message_answer(message_id=started.message.pk, attempt=3, final=True, router=fakes)
    assert reply.content.startswith("Here you go")
    assert runs(started.message)[2:] == [
        ("route", "small", "fake-small", "ok", 3),
        ("respond", "large", "fake-large", "error", 3),
        ("route", "small", "fake-small", "ok", 3),
        ("respond", "small", "fake-small", "ok", 3),
    ]
    assert IssuedCoupon.objects.count() == 1
    started.message.refresh_from_db()
    assert started.message.status == "answered"


def test_when_every_tier_fails_the_employee_apologises_and_records_the_failure(world):
    placement = rinna_at_hoshi(world)
    started = services.conversation_start(
        placement=placement, channel="portal", text="Any discount today?", actor=world.hoshi_owner
    )
    reply = services.message_answer(message_id=started.message.pk, router=router(small=broken(), large=broken()))
    started.message.refresh_from_db()
    assert reply.content == (
        "Sorry, I can't answer right now. Your message is saved, and a colleague at Hoshi Mart will follow up here."
    )
    assert (started.message.status, reply.intent) == ("failed", "failed")
    assert runs(started.message) == [
        ("route", "small", "fake-small", "error", 1),
        ("route", "small", "fake-small", "error", 1),
    ]
    assert IssuedCoupon.objects.count() == 0


def test_the_task_retries_and_falls_back_on_its_last_attempt(world):
    placement = rinna_at_hoshi(world)
    started = services.conversation_start(
        placement=placement, channel="portal", text="Any discount today?", actor=world.hoshi_owner
    )
    router_override(router(small=fake(*["coupon"] * 4, "Deal!"), large=broken()))
    try:
        tasks.message_reply.apply(args=[started.message.pk])
    finally:
        router_override(None)
    reply = Message.objects.get(reply_to=started.message)
    assert reply.content.startswith("Deal!")
    attempts = list(AgentRun.objects.filter(step="respond").values_list("attempt", "tier", "status"))
    assert attempts == [(1, "large", "error"), (2, "large", "error"), (3, "large", "error"), (3, "small", "ok")]


def test_running_the_reply_task_twice_gives_one_reply(world):
    placement = rinna_at_hoshi(world)
    started = services.conversation_start(
        placement=placement, channel="portal", text="Do you have a coupon?", actor=world.hoshi_owner
    )
    first = tasks.message_reply.apply(args=[started.message.pk]).get()
    state = db_state()
    second = tasks.message_reply.apply(args=[started.message.pk]).get()
    assert first == second == Message.objects.get(reply_to=started.message).pk
    assert db_state() == state
    assert IssuedCoupon.objects.count() == 1


def test_a_reply_task_for_a_message_that_is_gone_does_nothing(world):
    assert services.message_answer(message_id=987654) is None


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * 2001, "limit is 2,000"),
        ("bad\x00byte", "cannot be stored"),
        (None, "must be text"),
    ],
)
def test_empty_oversized_or_unstorable_messages_are_refused(world, text, fragment):
    placement = rinna_at_hoshi(world)
    before = db_state()
    with pytest.raises(ValidationFailed) as refused:
        services.conversation_start(placement=placement, channel="portal", text=text, actor=world.hoshi_owner)
    assert fragment in refused.value.message and list(refused.value.fields) == ["message"]
    assert db_state() == before


def test_only_an_active_placement_talks_and_only_its_partner_in_the_portal(world):
    placement = rinna_at_hoshi(world)
    before = db_state()
    with pytest.raises(PermissionDenied):
        services.conversation_start(placement=placement, channel="portal", text="hi", actor=world.wayfarer_owner)
    paused = kai_at_hoshi(world)
    from contracts import services as contract_services

    contract_services.placement_pause(actor=world.hoshi_manager, placement=paused, reason="Refit")
    before = db_state()
    with pytest.raises(InvalidTransition):
        services.conversation_start(placement=paused, channel="portal", text="hi", actor=world.hoshi_owner)
    assert db_state() == before


# --- more paths with fake models; the OpenAI-compatible route -----------------------------------


def test_fake_models_answer_path_cites_the_documents_the_tool_found(world):
    placement = kai_at_hoshi(world)
    fakes = router(small=fake("question"), large=fake("Within two weeks, with the receipt."))
    reply = say(world, placement, "How long do I have to return unopened items?", router_=fakes)
    returns = placement.documents.get(title="Returns policy")
    assert (reply.intent, reply.content) == ("answer", "Within two weeks, with the receipt.")
    assert reply.citations == [{"document": returns.pk, "title": "Returns policy"}]


def test_fake_models_resolution_path_records_the_outcome(world):
    placement = kai_at_hoshi(world)
    answer = say(world, placement, "How do I earn Hoshi points?")
    fakes = router(small=fake("resolved"), large=fake("Happy to help!"))
    done = say(world, placement, "perfect", conversation=answer.conversation, router_=fakes)
    assert (done.intent, done.content) == ("resolved", "Happy to help!")
    assert list(Outcome.objects.values_list("kind", "external_id", "withdrawn_at")) == [
        ("resolution", answer.conversation.public_id, None)
    ]


def test_thanks_after_an_answer_neither_escalates_nor_resolves(world):
    placement = kai_at_hoshi(world)
    answer = say(world, placement, "How do I earn Hoshi points?")
    thanks = say(world, placement, "Thanks!", conversation=answer.conversation)
    answer.conversation.refresh_from_db()
    assert (thanks.intent, answer.conversation.status, Outcome.objects.count()) == ("chat", "open", 0)


def test_configured_tiers_route_to_an_openai_compatible_endpoint(settings):
    from langchain_openai import ChatOpenAI

    from agents.engine import OfflineChatModel
    from agents.llm import router_from_settings

    settings.AGENT_MODELS = {
        "large": {"base_url": "http://127.0.0.1:9/v1", "model": "qwen2.5:7b", "api_key_env": "NO_SUCH_KEY_VAR"}
    }
    settings.AGENT_MODEL_PRICES = {"qwen2.5:7b": {"input_per_1k": "0.001", "output_per_1k": "0.002", "currency": "USD"}}
    configured = router_from_settings()
    large, small = configured.tiers["large"], configured.tiers["small"]
    assert isinstance(large.model, ChatOpenAI) and isinstance(small.model, OfflineChatModel)
    assert (large.name, large.model.model_name, str(large.model.openai_api_base)) == (
        "qwen2.5:7b",
        "qwen2.5:7b",
        "http://127.0.0.1:9/v1",
    )
    assert (large.model.max_retries, large.price.input_per_1k, small.name) == (0, Decimal("0.001"), "haken-offline")
    assert configured.choice("large", degraded=True) is small


def test_an_unreachable_endpoint_falls_back_to_the_next_tier(world, settings):
    settings.AGENT_MODELS = {"large": {"base_url": "http://127.0.0.1:9/v1", "model": "down-model", "api_key": "x"}}
    settings.AGENT_MODEL_TIMEOUT = 2.0
    placement = rinna_at_hoshi(world)
    reply = say(world, placement, "Something hot for lunch?")
    assert reply.intent == "recommend" and "Karaage bento" in reply.content
    failed = AgentRun.objects.get(status="error")
    assert (failed.model, failed.tier, failed.error) == (
        "down-model",
        "large",
        "OpenAIConnectionError: Connection error.",
    )
    assert AgentRun.objects.filter(status="ok", step="respond").get().model == "haken-offline"


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_still_give_one_reply(world):
    import threading

    from django.db import connection

    placement = rinna_at_hoshi(world)
    started = services.conversation_start(
        placement=placement, channel="portal", text="Do you have a coupon?", actor=world.hoshi_owner
    )
    barrier, results = threading.Barrier(2), []

    def deliver():
        try:
            barrier.wait()
            results.append(services.message_answer(message_id=started.message.pk).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert (
        Message.objects.filter(reply_to=started.message).count(),
        IssuedCoupon.objects.count(),
        AgentRun.objects.count(),
    ) == (1, 1, 2)


def test_an_answer_can_come_from_any_line_of_a_passage(world):
    placement = kai_at_hoshi(world)
    reply = say(world, placement, "Where do refunds go, to the original payment method?")
    assert "Refunds go back to the original payment method." in reply.content


def test_an_empty_answer_counts_as_a_failure_and_falls_back(world):
    placement = rinna_at_hoshi(world)
    fakes = router(small=fake("**Recommend**", "recommend", "Try the bento."), large=fake("   "))
    reply = say(world, placement, "karaage bento", router_=fakes)
    assert reply.content == "Try the bento."
    assert list(AgentRun.objects.order_by("id").values_list("step", "tier", "status", "error")) == [
        ("route", "small", "ok", ""),
        ("respond", "large", "error", "empty answer"),
        ("route", "small", "ok", ""),
        ("respond", "small", "ok", ""),
    ]


def test_a_model_that_invents_a_discount_or_a_price_is_overruled_by_the_catalog(world):
    placement = rinna_at_hoshi(world)
    fakes = router(small=fake("recommend"), large=fake("Our karaage bento is 50% off today, only ¥299!"))
    reply = say(world, placement, "karaage bento", router_=fakes)
    assert "50%" not in reply.content and "299" not in reply.content
    assert "Karaage bento (JPY 598)" in reply.content
    # figures the tools found may be quoted
    fakes = router(small=fake("recommend"), large=fake("The karaage bento is ¥598, and hot snacks are 10% off."))
    reply = say(world, placement, "karaage bento", router_=fakes)
    assert reply.content == "The karaage bento is ¥598, and hot snacks are 10% off."


# --- Japanese ---------------------------------------------------------------------------------

JA_CATALOG = (
    "sku,name,description,price,tags\nONI-SAKE,鮭おにぎり,焼き鮭のおにぎり。,180,lunch;rice\n"
    "NIKUMAN,肉まん,レジ横のせいろで温めた豚まん。,160,hot;snack\nPUDDING,カスタードプリン,なめらかなプリン。,210,sweet\n"
)


def test_rinna_answers_a_japanese_shopper_in_japanese(world):
    placement = rinna_at_hoshi(world)
    services.catalog_upload(actor=world.hoshi_owner, placement=placement, content=JA_CATALOG.encode())
    reply = say(world, placement, "鮭おにぎりはありますか")
    assert ([p["sku"] for p in reply.products], reply.intent) == (["ONI-SAKE"], "recommend")
    assert reply.content == "おすすめはこちらです。鮭おにぎり（¥180）：焼き鮭のおにぎり。クーポンもお出ししましょうか？"
    coupon = say(world, placement, "クーポンはありますか", conversation=reply.conversation)
    code = IssuedCoupon.objects.get().code
    assert coupon.content == (
        f"クーポンをどうぞ：{code}（10% off hot snacks）。レジでお見せいただくか、オンラインで入力してください。"
    )
    refused = say(world, placement, "自転車はありますか", conversation=reply.conversation)
    assert (refused.intent, refused.content.startswith("申し訳ありません、Hoshi Mart")) == ("no_match", True)


def test_kai_answers_a_japanese_question_from_a_japanese_document_with_its_source(world):
    placement = hire(world, employee="kai")
    body = (
        "# 返品\n\n未開封の商品はレシートがあれば14日以内に返品できます。\n\n"
        "# ポイント\n\n100円ごとに1ポイントたまります。\n"
    )
    services.document_upload(
        actor=world.hoshi_owner, placement=placement, filename="henpin.md", title="返品ポリシー", content=body.encode()
    )
    reply = say(world, placement, "未開封の商品は返品できますか")
    assert reply.content == (
        "未開封の商品はレシートがあれば14日以内に返品できます。（出典：「返品ポリシー」）これで解決しましたか？"
    )
    assert [c["title"] for c in reply.citations] == ["返品ポリシー"]


def test_a_bound_alone_after_a_need_in_the_shoppers_words_keeps_the_kind_shown(world):
    # given Rinna showed a dessert for a need the catalog words otherwise
    placement = rinna_at_hoshi(world)
    first = say(world, placement, "I'm craving something sugary after dinner")
    assert [p["sku"] for p in first.products][:1] == ["PUDDING"]
    # when the shopper asks for one under a price no dessert meets
    reply = say(world, placement, "anything cheaper than 200?", conversation=first.conversation)
    # then nothing of that kind is within it, and that is said; no other kind is offered instead
    assert reply.products == []
    assert reply.intent == "no_match"


@pytest.mark.parametrize(
    ("a", "b", "siblings"),
    [
        ("Trailhead daypack 20L (black)", "Trailhead daypack 20L (navy)", True),
        ("Voyager suitcase (cabin)", "Voyager suitcase (large)", True),
        ("三徳包丁 標準 165mm（黒）", "三徳包丁 標準 165mm（白）", True),
        ("牛刀 研 180mm", "牛刀 研 240mm", True),
        ("ひのきまな板 M", "ひのきまな板 L", True),
        ("三徳包丁 標準 165mm（黒）", "三徳包丁 ダマスカス 165mm", False),
        ("Voyager suitcase (cabin)", "Aluminium cabin suitcase", False),
    ],
)
def test_a_product_family_is_the_name_without_its_attribute_words(a, b, siblings):
    assert (workflows._family(a) == workflows._family(b)) is siblings


def test_siblings_are_ordered_by_sizes_on_one_scale():
    def item(name: str, description: str = "") -> dict:
        return {"name": name, "description": description}

    # the measures in the names, else the size words in them, else the measures in the descriptions
    assert workflows._sizes([item("牛刀 研 180mm"), item("牛刀 研 240mm")]) == [18.0, 24.0]
    assert workflows._sizes([item("ひのきまな板 M", "幅45cm"), item("ひのきまな板 L", "幅36cm")]) == [2.0, 3.0]
    # a size word in one name and none in the other: the descriptions' measures, not 55 cm against "large"
    assert workflows._sizes(
        [item("Voyager suitcase (cabin)", "Hard-shell 55 cm case"), item("Voyager suitcase (large)", "A 78 cm case")]
    ) == [55.0, 78.0]
    assert workflows._sizes([item("Leather luggage tag", "A tag."), item("Luggage strap", "A strap.")]) is None


def test_a_question_the_listing_does_not_answer_is_said_so_and_a_yes_hands_it_over(world):
    # given Rinna showing the salmon onigiri
    placement = rinna_at_hoshi(world, offer=False)
    shown = say(world, placement, "do you have salmon onigiri?")
    conversation = shown.conversation
    assert [p["sku"] for p in shown.products] == ["ONI-SALMON"]
    # when the shopper asks what its listing says
    fact = say(world, placement, "is it a classic lunch?", conversation=conversation)
    # then the sentence of the listing is the answer, with the item still the one talked about
    assert "A classic lunch" in fact.content and [p["sku"] for p in fact.products] == ["ONI-SALMON"]
    # when the shopper asks what its listing does not say
    unknown = say(world, placement, "does it contain sesame?", conversation=conversation)
    conversation.refresh_from_db()
    # then the reply says the catalog does not say, guesses nothing, and hands nothing over yet
    assert unknown.content == "Our catalog doesn't say that about the Salmon onigiri. Shall I ask a colleague to check?"
    assert conversation.status != "escalated"
    # when the shopper accepts
    yes = say(world, placement, "yes please", conversation=conversation)
    conversation.refresh_from_db()
    # then the conversation is handed over
    assert (yes.intent, conversation.status) == ("escalate", "escalated")


def _catalog_item(sku: str, name: str, description: str, tags: list[str]) -> dict:
    return {"sku": sku, "name": name, "description": description, "tags": tags}


def test_it_after_a_list_of_several_is_the_item_whose_listing_speaks_to_the_question():
    # given a watch and a kids' shoe just listed
    watch = _catalog_item("W", "Pacer running watch", "GPS watch with heart rate and a 14-day battery.", ["watch"])
    shoe = _catalog_item("S", "Sprout kids' shoe", "Light running shoe for children with a Velcro strap.", ["shoes"])
    # when the shopper asks about "it", the question is about the item whose listing answers it
    assert workflows._answering([watch, shoe], "does it do up with velcro?") is shoe
    assert workflows._answering([watch, shoe], "how long does the battery last?") is watch
    # and none when no listing, or more than one, speaks to it
    assert workflows._answering([watch, shoe], "is it waterproof?") is None
    assert workflows._answering([watch, shoe], "is it for running?") is None  # both are


def test_a_question_naming_the_item_is_about_it_only_where_its_listing_answers_other_words():
    # given a duvet listed
    duvet = _catalog_item("D", "羽毛掛け布団 ダブル", "ダウン90%の羽毛掛け布団。自宅で洗えます。", ["布団"])
    # when a question names the duvet's kind but asks about a service, its listing answers nothing
    assert workflows._fact(duvet, "古い綿の布団の打ち直しもやってますか", named_only=True) == ""
    # and a question its listing does answer finds the sentence
    assert workflows._fact(duvet, "この布団は洗えますか", named_only=True) == "自宅で洗えます。"


# --- round six: a pointer with a question, a budget for anything ------------------------------------


def test_an_ordinal_with_a_question_is_answered_from_that_items_listing(world):
    # given two items shown for a request
    placement = rinna_at_hoshi(world)
    first = say(world, placement, "Something hot for lunch?")
    assert [p["sku"] for p in first.products] == ["BENTO-KARAAGE", "NIKUMAN"]
    # when the shopper asks something of the second one
    reply = say(world, placement, "does the second one come from the steamer?", conversation=first.conversation)
    # then the answer is that item's own sentence, and no new search runs
    assert [p["sku"] for p in reply.products] == ["NIKUMAN"]
    assert "Hot pork bun from the steamer at the register." in reply.content
    assert reply.intent == "recommend"


def test_a_budget_for_anything_shows_the_items_within_it(world):
    # given a catalog with no word for a present
    placement = rinna_at_hoshi(world)
    # when a shopper asks for anything within a budget, for a purpose the shop has no word for
    reply = say(world, placement, "anything nice for a present under 200 yen?")
    # then the items within the budget are shown, cheapest first
    assert [p["sku"] for p in reply.products] == ["GREEN-TEA", "NIKUMAN", "ONI-SALMON"]
    assert reply.intent == "recommend"


def test_a_budget_for_a_thing_the_shop_does_not_sell_shows_nothing(world):
    # given the same catalog; when the thing asked for is named and the shop has none
    placement = rinna_at_hoshi(world)
    reply = say(world, placement, "any blenders under 200 yen?")
    # then nothing within the budget is passed off as one
    assert reply.products == []
    assert reply.intent == "no_match"


def test_a_pointer_with_a_policy_question_its_listing_is_silent_on_gets_the_policy(world):
    # given Rinna with the catalog and the returns policy, two items shown
    placement = rinna_at_hoshi(world)
    services.document_upload(
        actor=world.hoshi_owner, placement=placement, content=RETURNS_MD, filename="returns.md", title="Returns policy"
    )
    first = say(world, placement, "Something hot for lunch?")
    # when the shopper asks whether the first one can be returned, and then whether "it" can
    pointed = say(world, placement, "can I return the first one if it's unopened?", conversation=first.conversation)
    pronoun = say(world, placement, "can I return it?", conversation=first.conversation)
    # then the returns policy answers both (no "our catalog doesn't say"), no item is shown
    for reply in (pointed, pronoun):
        assert (reply.intent, reply.products) == ("answer", [])
        assert "You can return unopened items within 14 days of purchase with the receipt." in reply.content
        assert "catalog doesn't say" not in reply.content


def test_a_weak_word_match_and_the_nearest_meaning_that_agree_are_shown(world):
    # given the catalog, and a need no item stands out for in meaning alone (green tea 0.31,
    # the steamed bun 0.27)
    placement = rinna_at_hoshi(world)
    assert tools.product_by_meaning(placement.pk, "I'm thirsty") == []
    # when the words rank the nearest item first too, it is shown; when they rank another, nothing
    agreed = tools.product_by_meaning(placement.pk, "I'm thirsty", words_first="GREEN-TEA")
    assert [p["sku"] for p in agreed] == ["GREEN-TEA"]
    assert tools.product_by_meaning(placement.pk, "I'm thirsty", words_first="NIKUMAN") == []
