"""Kai's answers from a partner's documents, for the kinds the round-six probes found missed:
a question of several parts answered in every part, the kind of fact asked stated (not only
a neighbouring sentence that shares its words), a follow-up answered with the new fact,
where an order is sent, Japanese polite frames and requests. And Mei's offers as sentences,
not fragments."""

from __future__ import annotations

import pytest

from agents import copywriting, language, services
from agents.models import Conversation
from tests.support.agents import say
from tests.support.world import hire

SHIPPING_MD = b"""# Shipping & delivery

## Where we ship
We ship to all 50 US states. We do not currently ship to Canada, Mexico or other international addresses.

## Shipping costs
Standard shipping is $7.99 on orders under $75, and orders of $75 or more ship free within the contiguous US. \
Guitars, basses and keyboards ship for a flat $29 because of their size.

## Delivery times
In-stock orders leave our warehouse within 1 business day. Standard delivery takes 3 to 6 business days after \
dispatch. Express delivery (2 business days) is available at checkout for $24.
"""

STORE_MD = b"""# Visiting the store

## Opening hours
The store is open Tuesday to Saturday from 10 am to 7 pm and Sunday from noon to 5 pm. We are closed on Mondays.

## Lessons
We teach guitar, piano and ukulele in our teaching rooms. Lessons last 30 minutes and cost $35 each.

## Repairs
Our luthier repairs acoustic and electric guitars, basses and ukuleles. Most repairs take 5 to 10 working days, \
depending on parts.

## Trade-ins
We accept used guitars and amplifiers as trade-ins for store credit; bring them in for a valuation.
"""

HAISO_MD = """# 配送について

## 配送料
配送料は全国一律3,300円です。北海道・沖縄・離島へのお届けは、別途2,200円を頂戴しております。

## お届け日数
在庫のある商品は、ご注文確定から5〜7営業日でお届けいたします。受注生産の商品は、お届けまで約6週間いただいております。

## のし
ギフト包装とのしは無料で承ります。
""".encode()

TENPO_MD = """# ショールームのご案内

## 営業時間
ショールームは11時から19時まで営業しています。毎週水曜日は定休日です。

## 保証
すべての家具に1年間の保証が付いています。保証期間中の構造上の不具合は無料で修理いたします。

## 返品
初期不良の場合は当店が負担いたします。
""".encode()


@pytest.fixture
def kai_en(world):
    placement = hire(world, employee="kai")
    for name, title, body in (
        ("shipping.md", "Shipping & delivery", SHIPPING_MD),
        ("store.md", "Visiting the store", STORE_MD),
    ):
        services.document_upload(actor=world.hoshi_owner, placement=placement, content=body, filename=name, title=title)
    return placement


@pytest.fixture
def kai_ja(world):
    placement = hire(world, employee="kai")
    for name, title, body in (("haiso.md", "配送について", HAISO_MD), ("tenpo.md", "ショールームのご案内", TENPO_MD)):
        services.document_upload(actor=world.hoshi_owner, placement=placement, content=body, filename=name, title=title)
    return placement


# --- the kinds of fact asked, without a database ---------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("How much is shipping to Texas and how long does it take?", {"amount", "duration", "place"}),
        ("送料はいくらで、何日くらいで届きますか", {"amount", "duration"}),
        ("いくらかかりますか", {"amount"}),  # かかる alone is the cost
        ("Can you send an order to Hawaii?", {"place"}),
        ("is there a faster option?", {"duration"}),
    ],
)
def test_a_question_of_several_parts_asks_each_kind(question, kinds):
    assert language.answer_kinds(question) == kinds


def test_working_days_in_japanese_are_a_duration():
    assert language.kinds_in("ご注文確定から5〜7営業日でお届けいたします。") == {"duration"}


@pytest.mark.parametrize(
    ("request_", "action"),
    [
        ("引き出しが壊れたら直してもらえますか", "直す"),
        ("古いタンスを処分してもらうことは可能でしょうか", "処分"),
        ("取り置きしていただけますか", "取り置く"),
        ("玄米を少しだけ白くしてもらうことはできますか", ""),  # an adjective: no action named
        ("サイズを指定して作ってもらったテーブルは返品できますか", ""),  # a favour told, not asked
        ("can you fix it?", ""),
    ],
)
def test_a_japanese_request_names_the_action_asked(request_, action):
    assert language.requested_action(request_) == action


# --- Kai's answers ------------------------------------------------------------------------------


def test_both_parts_are_answered_in_english(world, kai_en):
    # given the shipping policy states the cost and the delivery time in sentences of their own
    # when a shopper asks both in one question
    reply = say(world, kai_en, "How much is shipping to Texas and how long does it take?")
    assert reply.intent == "answer"
    assert "Standard shipping is $7.99 on orders under $75" in reply.content
    assert "Standard delivery takes 3 to 6 business days after dispatch." in reply.content
    assert "Express delivery" not in reply.content  # an option beside the rule is not the rule
    # then both are said, from the one document
    assert [c["title"] for c in reply.citations] == ["Shipping & delivery"]


def test_both_parts_are_answered_in_japanese(world, kai_ja):
    reply = say(world, kai_ja, "送料はいくらで、何日くらいで届きますか")
    assert reply.intent == "answer"
    assert "配送料は全国一律3,300円です。" in reply.content
    assert "ご注文確定から5〜7営業日でお届けいたします。" in reply.content
    assert "約6週間" not in reply.content


def test_a_time_asked_is_answered_with_the_sentence_that_states_a_time(world, kai_en):
    reply = say(world, kai_en, "what time do you close on Sundays?")
    assert reply.intent == "answer"
    assert "Sunday from noon to 5 pm" in reply.content


def test_a_follow_up_asking_another_kind_gets_the_new_fact_not_the_same_sentence(world, kai_en):
    # given Kai said what shipping a keyboard costs
    first = say(world, kai_en, "what does it cost to ship a keyboard?")
    assert "Guitars, basses and keyboards ship for a flat $29 because of their size." in first.content
    # when the shopper asks how long it takes
    reply = say(world, kai_en, "and how long will it take to get here?", conversation=first.conversation)
    # then the delivery time is the answer, and the cost is not said again
    assert reply.intent == "answer"
    assert "Standard delivery takes 3 to 6 business days after dispatch." in reply.content
    assert "$29" not in reply.content


def test_where_an_order_is_sent_is_answered_by_where_the_shop_ships(world, kai_en):
    reply = say(world, kai_en, "Can you send an order to Hawaii?")
    assert reply.intent == "answer"
    assert "We ship to all 50 US states." in reply.content


def test_a_word_near_the_action_asked_is_not_that_action(world, kai_en):
    # given documents that teach piano and speak of no tuning ("tune" is near "guitar", 0.56)
    # when a shopper asks for a piano to be tuned at home
    reply = say(world, kai_en, "Can someone come and tune my piano at home?")
    conversation = Conversation.objects.get(pk=reply.conversation_id)
    # then a colleague is asked; the lessons are not quoted
    assert (reply.intent, reply.citations) == ("escalate", [])
    assert "teach" not in reply.content
    assert (conversation.status, conversation.escalation_reason) == ("escalated", "no answer in the knowledge base")


def test_the_action_asked_is_met_by_a_word_for_the_same_action(world, kai_en):
    # "fix" → repair (0.63) is the same action
    reply = say(world, kai_en, "can you fix my bass?")
    assert reply.intent == "answer"
    assert "Our luthier repairs acoustic and electric guitars, basses and ukuleles." in reply.content


def test_a_thing_met_only_by_a_word_near_it_does_not_answer_a_fact_the_sentence_lacks(world, kai_en):
    # given repairs and how long they take, and no word on a warranty (warranty ~ repair 0.54)
    # when a shopper asks how long the warranty is
    reply = say(world, kai_en, "How long is the warranty on an electric guitar?")
    conversation = Conversation.objects.get(pk=reply.conversation_id)
    # then a colleague is asked; the repair times are not given as the warranty
    assert (reply.intent, reply.citations) == ("escalate", [])
    assert "working days" not in reply.content
    assert conversation.status == "escalated"


def test_the_thing_named_in_the_documents_is_answered_with_its_fact(world, kai_en):
    reply = say(world, kai_en, "how long do repairs take?")
    assert reply.intent == "answer"
    assert "Most repairs take 5 to 10 working days, depending on parts." in reply.content


def test_a_polite_japanese_frame_is_not_a_word_the_document_must_use(world, kai_ja):
    reply = say(world, kai_ja, "水曜日に伺っても大丈夫ですか")
    assert reply.intent == "answer"
    assert "毎週水曜日は定休日です。" in reply.content


def test_a_japanese_request_is_answered_by_the_sentence_that_does_what_is_asked(world, kai_ja):
    # given a sentence on damage on arrival and one on repairs under the guarantee
    # when a shopper asks for a repair
    reply = say(world, kai_ja, "引き出しが壊れたら直してもらえますか")
    # then the repair is the answer, not who pays for a defect on arrival
    assert reply.intent == "answer"
    assert "保証期間中の構造上の不具合は無料で修理いたします。" in reply.content
    assert "初期不良" not in reply.content


def test_a_japanese_request_is_answered_by_the_shop_taking_it_on(world, kai_ja):
    reply = say(world, kai_ja, "贈り物なので、のしをつけてもらえますか")
    assert reply.intent == "answer"
    assert "ギフト包装とのしは無料で承ります。" in reply.content


# --- Mei -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "sentence"),
    [
        ("15% off ukuleles", "Get 15% off ukuleles."),
        ("our 20% off sale", "Get 20% off sale."),
        ("free shipping over $35", "Free shipping over $35."),
        ("15% off ends Sunday", "15% off ends Sunday."),  # a sentence already
    ],
)
def test_an_offer_without_a_verb_is_made_a_sentence(offer, sentence):
    assert copywriting._offer_en(offer) == sentence


def test_a_brief_asking_to_mention_a_product_adds_no_fact_and_its_offer_follows_the_label():
    products = [copywriting.Product(name="Soprano ukulele (mahogany)", facts=["Mahogany soprano ukulele."])]
    brief = copywriting.read_brief(
        "Instagram post for our spring sale: 15% off ukuleles. Audience: beginners. Mention the soprano ukulele.",
        products,
    )
    assert brief.offers == ["15% off ukuleles"]


def test_a_fraction_in_a_name_stays_whole():
    assert copywriting._MEASURE.sub("", "Student violin outfit 4/4") == "Student violin outfit 4/4"
    assert copywriting._MEASURE.sub("", "Body lotion 250ml") == "Body lotion"


def test_a_gifts_closing_line_does_not_tell_the_giver_to_treat_themselves():
    products = [copywriting.Product(name="Clip-on tuner", facts=["Clips onto the headstock."])]
    gift = copywriting.read_brief("A playful post about the clip-on tuner as a gift for guitar players", products)
    own = copywriting.read_brief("A playful post about the clip-on tuner for guitar players", products)
    assert copywriting._closing_en(gift) == "Go on, make their day!"
    assert copywriting._closing_en(own) == "Go on, treat yourself!"
