"""The dialogue-quality suite (agents.dialogue_suite) on a fixed subset of its scripted
conversations, through the widget and members' chat APIs with the offline engine: every
turn must pass every criterion that applies to it. The whole suite runs as
`python3 dev.py bench dialogues`."""

from __future__ import annotations

import pytest

from agents import dialogue_suite as suite
from agents.models import IssuedCoupon

pytestmark = pytest.mark.django_db

SUBSET = (
    # English bookshop: greeting, typo, references, cheaper, tagged coupon, thanks, a declined bargain
    "ink-rinna-fantasy",
    "ink-rinna-typo",
    "ink-rinna-tote",
    "ink-rinna-space",
    "ink-kai-returns",
    "ink-kai-unknown",
    "ink-mei-dinos",
    # Japanese drugstore: 頭が痛い, kana variants, colour follow-up, quantity, multi-intent, escalation
    "sak-rinna-headache",
    "sak-rinna-eyes",
    "sak-rinna-cold",
    "sak-rinna-mask",
    "sak-kai-human",
    "sak-mei-sun",
    "sak-kai-hours",
    # electronics: "in blue?", price bounds, "thanks — and do you ship to Osaka?", warranty, a person asked for
    "volt-rinna-headphones",
    "volt-rinna-budget",
    "volt-rinna-between",
    "volt-kai-warranty",
    "volt-kai-human",
    "volt-mei-watch",
    # cycle shop (written before tuning): "awesome thank you", "fine, bye", deliver → ship,
    # "the cheaper one", send back → return, fix → repair, answered again after a hand-over
    "spoke-rinna-commute",
    "spoke-rinna-lock",
    "spoke-kai-return",
    "spoke-kai-fix",
    "spoke-kai-handover",
    # stationery shop: ひとつめ, 高い方, 安い方, 何時から開いて, answered again after a hand-over
    "kom-rinna-pen",
    "kom-rinna-techo",
    "kom-kai-hours",
    "kom-kai-handover",
    # skincare and a sake shop (written for the held-out set's failure kinds): a kind named in
    # other words (sunscreen → SPF), price bounds, the general rule before the exception, the fee
    # asked, follow-ups on a policy in Rinna's chat, 1万円以内, 18歳, それはいくらですか, Mei's
    # mentions; a kids' bike for a 5-year-old without the adults' bikes
    "petal-rinna-sunscreen",
    "petal-rinna-prices",
    "petal-kai-returns",
    "petal-mei",
    "petal-rinna-followup",
    "sakaya-rinna-gift",
    "sakaya-kai-followup",
    "sakaya-mei",
    "spoke-rinna-kidsbike",
    # a home-fragrance shop and a rice shop (written from the shopper's side before the fixes):
    # a need in other words ("without lighting anything" → a reed diffuser) with its tagged
    # offer, bounds in paraphrase ("nothing over 45 bucks", "thirty dollars tops", "no more than
    # $15", 予算は2000円くらい), a person asked for as 担当の方, a case before the question
    # (味が好みじゃなかったら返品), a happening told (袋が破れていました), a new subject after a policy
    "ember-rinna-bathroom",
    "ember-rinna-present",
    "ember-rinna-bounds",
    "ember-kai-care",
    "komeya-rinna-budget",
    "komeya-rinna-person",
    "komeya-kai-returns",
    # a pet shop and a tea shop (round four, written from the shopper's side before the fixes):
    # "what do you have for walking a dog?" is a request, a coupon for the toys named, "how much
    # do you charge for delivery?", "by tomorrow" (next business day), damage told ("showed up
    # ripped open"), カフェインの入っていない (ノンカフェイン), 今日注文したら in Rinna's chat, a
    # broken teapot with what the shop then does, a problem told (cold water for tetras: the heater)
    "tails-rinna-walks",
    "tails-rinna-bored",
    "tails-kai-shipping",
    "tails-kai-damaged",
    "hazuki-rinna-summer",
    "hazuki-kai-broken",
    "hazuki-rinna-when",
    "tails-rinna-tank",
    # a luggage shop and a knife shop (issue 12, written before the fix): a question about the
    # item shown answered from its listing, the cheapest of those, a better one, 色違い,
    # 上位モデル, a women's version, a larger / smaller size of the same item, a question its
    # listing does not answer, "less pricey than" an item named
    "roam-fu-cabin",
    "roam-fu-unknown",
    "roam-fu-size",
    "roam-fu-wallet",
    "togiya-fu-santoku",
    "togiya-fu-gyuto",
    "togiya-fu-apron",
)


@pytest.fixture
def testserver(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def test_every_turn_of_the_subset_passes_every_criterion(testserver):
    # given the subset of the scripted dialogues
    dialogues = [d for d in suite.load_dialogues() if d["id"] in SUBSET]
    assert sorted(d["id"] for d in dialogues) == sorted(SUBSET)
    # when each turn is posted through the public chat APIs and answered
    results = suite.run_suite(dialogues)
    # then every applicable check of every turn passes
    failures = [(r.dialogue, r.turn, r.say, r.reply, r.failures) for r in results if r.failures]
    assert failures == []
    assert len(results) == sum(len(d["turns"]) for d in dialogues) == 169
    table = suite.summary(results)
    assert all(passed == total for passed, total in table.values())
    assert table["invented"][1] == len(results) and table["coupon"][1] >= 8
    # and the offline engine's own time stays under 50 ms a turn (p95: the machine's two cores
    # are shared, so one turn can be descheduled)
    assert suite.percentile([r.engine_ms for r in results], 95) < 50


def test_a_shopper_asking_again_for_the_deal_gets_the_same_code(testserver):
    dialogues = [d for d in suite.load_dialogues() if d["id"] == "volt-rinna-charger"]
    results = suite.run_suite(dialogues)
    codes = list(IssuedCoupon.objects.values_list("code", flat=True))
    assert len(codes) == 1 and codes[0].startswith("ACC-")
    assert codes[0] in results[2].reply and codes[0] in results[3].reply
    assert [r.failures for r in results] == [[], [], [], []]


def test_the_checker_catches_an_invented_discount_and_a_foreign_code(testserver):
    # given a real turn, and the same reply with a made-up percentage and coupon code
    dialogues = [d for d in suite.load_dialogues() if d["id"] == "volt-rinna-charger"][:1]
    suite.run_suite(dialogues)
    from agents.models import Message

    shop_reply = Message.objects.filter(role="assistant").order_by("id").first()
    shop = suite.Shop(
        key="voltmart",
        partner=shop_reply.conversation.placement.partner,
        owner=None,
        placements={"rinna": shop_reply.conversation.placement},
        widgets={},
        catalog=list(
            shop_reply.conversation.placement.catalog_items.values("sku", "name", "price", "tags", "description")
        ),
    )
    spec = {**dialogues[0], "turns": dialogues[0]["turns"][:1]}
    forged = {
        "content": shop_reply.content + " Today only 37% off with code ACC-ZZZZZZ!",
        "products": [],
        "citations": [],
    }
    verdicts, failures = suite.check_turn(shop, spec, 0, spec["turns"][0], forged, shop_reply.reply_to, [])
    # then "nothing invented" and "coupon only for a configured offer" both fail
    assert (verdicts["invented"], verdicts["coupon"]) == (False, False)
    assert any(f.startswith("invented") for f in failures) and any(f.startswith("coupon") for f in failures)


# --- the draft check's own parts (no database) ---------------------------------------------------

DESCRIPTIONS = ["Teaser wand with feathers and a bell for active play with indoor cats."]


@pytest.mark.parametrize(
    ("body", "pasted"),
    [
        # the catalog line pasted behind the name is caught
        ("Feather wand toy: teaser wand with feathers and a bell for active play with indoor cats.", True),
        # the same facts framed for the brief are not
        (
            "Calling all indoor cat owners! For active play, the Feather wand toy is a teaser wand with "
            "feathers and a bell. Your new favourite is here.",
            False,
        ),
    ],
)
def test_the_draft_check_tells_a_pasted_description_from_copy(body, pasted):
    share = suite._pasted_share(body, DESCRIPTIONS, ["Feather wand toy"])
    assert (share >= 0.75) is pasted


@pytest.mark.parametrize(
    ("sentence", "ja", "cut"),
    [
        ("Lovely in a diffuser when your nose is.", False, True),
        ("Now 20% off for a limited time", False, True),
        ("It lasts about three months.", False, False),
        ("「無洗米」は、忙しい朝や一人暮らしに。", True, True),
        ("「無洗米」は、忙しい朝や一人暮らしにぴったりです。", True, False),
    ],
)
def test_the_draft_check_finds_a_sentence_cut_off(sentence, ja, cut):
    assert suite._cut_off(sentence, ja) is cut


def test_the_echo_check_leaves_out_product_names_and_the_offer_the_brief_gives():
    brief = (
        "Write an email about the Sleep blend essential oil for parents. Mention free shipping over $50 on all orders"
    )
    names = ["Sleep blend essential oil"]
    # the product's name and the offer's clause are for the copy to carry
    assert not suite._echoes(
        brief, "The Sleep blend essential oil helps. Free shipping over $50 on all orders.", names=names
    )
    # the brief's own words are still an echo
    assert suite._echoes(brief, "Write an email about the product for parents.", names=names)
