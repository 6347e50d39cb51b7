"""Mei's drafts, composed by the offline engine from the brief and the catalog's facts: a
headline, a body and a call to action a reviewer can approve as they are.

The brief is read for what a copywriter needs from it — the occasion, the audience, the
tone, the channel and its length (or a sentence count), the products it names and any offer
or fact it asks the copy to carry. The products are the catalog items the workflow found for
the brief; what the copy says about them is their descriptions' facts put in sentences of its
own (the product as the subject, the benefit as what it does), never a fact neither the
catalog nor the brief gives. The brief is never copied into the copy; an offer it gives is
said once, whole; a price or a discount appears only when the brief itself states one.

Everything here is deterministic and offline: rules over the brief's words and the catalog's
sentences, with Sudachi (through agents.language) to conjugate a Japanese verb politely."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import simplemma

from agents import language

TONES = {
    "playful": re.compile(
        r"\b(playful|fun|cheeky|witty|light[- ]hearted|quirky|cheerful|upbeat|bubbly|pop)\b|"
        r"楽しい|ポップ|元気|明るい",
        re.I,
    ),
    "premium": re.compile(
        r"\b(premium|luxur\w*|elegant|sophisticated|refined|upscale|classy|polished)\b|上品|高級|洗練|上質", re.I
    ),
    "energetic": re.compile(
        r"\b(energetic|confident|bold|motivating|sporty|dynamic|lively)\b|力強|活発|エネルギッシュ", re.I
    ),
    "calm": re.compile(r"\b(calm|reassuring|soothing|relaxed|gentle|soft|quiet)\b|落ち着|穏やか|安心", re.I),
    "warm": re.compile(
        r"\b(warm|friendly|cosy|cozy|caring|heartfelt|family|encouraging|approachable|kind)\b|"
        r"やさし|優し|親しみ|温か|あたたか",
        re.I,
    ),
    "urgent": re.compile(
        r"\b(urgent|last chance|limited|hurry|ends soon|this weekend only|today only)\b|急いで|限定", re.I
    ),
    "formal": re.compile(r"\b(formal|professional|informative|clear|trustworthy|serious)\b|丁寧|誠実|きちんと", re.I),
}

# The channel decides the default length and the call to action.
_CHANNELS = (
    ("sms", re.compile(r"\b(sms|text message|text blast)\b|ショートメッセージ|SMS", re.I)),
    (
        "banner",
        re.compile(
            r"\b(banner|tagline|one[- ]liner|one line|headline only|poster|billboard)\b|バナー|キャッチコピー|一言",
            re.I,
        ),
    ),
    (
        "social",
        re.compile(
            r"\b(instagram|insta|tiktok|facebook|caption|tweet|x post|social|post|reel|story|stories)\b|"
            r"SNS|インスタ|投稿|ツイート",
            re.I,
        ),
    ),
    ("message", re.compile(r"\bLINE\b|LINE配信|メッセージ配信", re.I)),
    ("email", re.compile(r"\b(e-?mail|newsletter|mailer|mailing|blurb)\b|メール|メルマガ|ニュースレター", re.I)),
    (
        "print",
        re.compile(
            r"\b(flyer|leaflet|in[- ]store|shelf|sign|pop|point[- ]of[- ]sale)\b|POP|チラシ|店頭|ポスター", re.I
        ),
    ),
    (
        "web",
        re.compile(
            r"\b(website|web ?site|product page|product copy|product description|landing page|blog|article)\b|"
            r"紹介文|商品説明|サイト|ホームページ|告知文",
            re.I,
        ),
    ),
)
_DEFAULT_SENTENCES = {"sms": 1, "banner": 1, "social": 2, "message": 3, "email": 4, "print": 2, "web": 3, "": 3}
_SHORT = re.compile(
    r"\b(short|shorter|tagline|tweet|one[- ]liner|one line|brief|sms|banner|x post|caption|punchy|snappy|quick)\b|"
    r"短|一言",
    re.I,
)
_LONG = re.compile(r"\b(long|longer|detailed|in depth|in-depth|blog|article|landing page)\b|詳しく|長め", re.I)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "single": 1,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
}
# "a 2-sentence post", "in three sentences", "about 3 sentences", "2 sentences max",
# 「2文で」「3文くらい」「三文」: the body's length in sentences.
_SENTENCES = re.compile(
    r"\b(one|two|three|four|five|single|[1-5])[- ]sentences?\b|"
    r"\b(?:in|of|to|about|around|roughly|max(?:imum)?|at most|up to|no more than) "
    r"(one|two|three|four|five|[1-5]) sentences?\b|"
    r"([1-5１-５一二三四五])\s?文",
    re.I,
)
# What the brief asks the copy to say: "Mention free shipping over $35", "include that it is
# vegan", 「送料無料（10000円以上）にも触れてください」.
_MENTION = re.compile(
    r"\b(?:mention|include|add|note|highlight|say|state|remind (?:them|readers|people|customers) of)\s+"
    r"(?:that\s+|the fact that\s+)?(?P<what>[^.;!?\n]{3,120})",
    re.I,
)
_JA_MENTION = re.compile(
    r"(?P<what>[^。！？\n、]{2,60}?)(?:について|のこと)?(?:にも|も|を)"
    r"(?:触れて|言及して|入れて|伝えて|記載して|添えて|盛り込んで|アピールして)"
)
# An offer the brief states outright: "Offer: 10% off lights with code X until 31 October",
# "20% off both this week only with code WINTER20", 「今月末まで米びつは10%オフです」.
_OFFER_SENTENCE = re.compile(
    r"\d{1,3}\s?(?:%|percent)|\bcode\s+[A-Z0-9-]{3,}|\bfree (?:shipping|delivery)\b|\bships? free\b|\bBOGO\b|"
    r"(?<![-\w])free\s(?:gift|wrapping|engraving|returns?|samples?|personali[sz]ation)\b|"
    r"\d{1,3}\s?[%％](?:オフ|OFF|引き)|割引|送料無料|ポイント\d+倍|[^\s、。]{1,6}無料|特典|プレゼント中",
    re.I,
)
_CODE = re.compile(r"\b(?:code|coupon)\s+([A-Z0-9][A-Z0-9-]{2,})\b|クーポン(?:コード)?[「『]?([A-Z0-9-]{3,})")
_NO_OFFER = re.compile(
    r"\bno (?:discounts?|offers?|prices?|promotions?)\b|割引なし|値引きなし|価格は(?:書かない|不要)", re.I
)

# A brief, as opposed to "hello" or "how does this work?": it asks for a piece of copy, or is
# long enough to be one.
_COPY_WORDS = re.compile(
    r"\b(write|draft|copy|caption|post|email|e-mail|newsletter|tagline|banner|sms|blurb|campaign|ad|advert|"
    r"headline|promo|promote|promoting|announce|launch|feature|featuring|description|flyer)\b|"
    r"投稿|文面|メール|紹介文|告知|キャンペーン|POP|チラシ|コピー|見出し|宣伝|案内|書いて|作って|お願いします",
    re.I,
)

# Occasions a campaign is written for; the brief's own words are used, these only find them.
_OCCASION = re.compile(
    r"\b((?:Mother|Father|Valentine|Grandparent|Teacher|Boxing|Earth|Singles)[’']?s'? Day|Christmas|Easter|"
    r"Halloween|Thanksgiving|Black Friday|Cyber Monday|(?:Lunar )?New Year|Diwali|Hanukkah|Eid|Ramadan|"
    r"Bonfire Night|Fourth of July|July 4th|back[- ]to[- ](?:school|work|uni|college)|graduation|"
    r"wedding season|holiday season|the holidays|[a-z]+ season|summer|winter|spring|autumn|fall)\b",
    re.I,
)
_JA_OCCASION = re.compile(
    r"(母の日|父の日|敬老の日|こどもの日|バレンタイン(?:デー)?|ホワイトデー|クリスマス|お正月|年末年始|お歳暮|お中元|"
    r"新生活|新学期|入学|卒業|就職祝い|入学祝い|出産祝い|受験シーズン|受験|お花見|梅雨|"
    r"[\u3040-\u30ff\u3400-\u9fffー]{1,6}(?:の季節|シーズン)|夏|冬|春|秋)"
)
_PERSON_EN = (
    r"people|customers|clients|owners|parents|mums|moms|mothers|dads|fathers|grandparents|growers|gardeners|"
    r"readers|fans|kids|children|students|commuters|runners|cyclists|riders|beginners|lovers|families|teens|"
    r"teenagers|travell?ers|professionals|workers|shoppers|cooks|bakers|gamers|women|men|couples|newcomers|"
    r"buyers|drinkers|users|drivers|walkers|hikers|campers|athletes|players|makers|crafters|knitters|"
    r"collectors|foodies|hosts|guests|friends|babies|toddlers|seniors|retirees|graduates|newlyweds|"
    r"homeowners|renters|pet owners|dog owners|cat owners|everyone|anyone|those"
)
_AUDIENCE = re.compile(
    rf"\b(?:for|aimed at|targeting|targeted at|to|speaking to|written for|reaching)\s+"
    rf"(?P<who>(?:(?!(?:for|about|featuring|aimed|at|to|the|a|an|and|with)\b)[\w'’-]+\s+){{0,4}}?(?:{_PERSON_EN}))"
    rf"(?P<which>\s+(?:who|whose|with|that|in|of)\s+[^.,;:!?()]{{2,60}})?",
    re.I,
)
_JA_PERSON = (
    r"方|人|家庭|世代|層|者|生|さん|ママ|パパ|子|ファミリー|保護者|社会人|夫婦|カップル|女性|男性|"
    r"学生|シニア|世帯|お客様|お客さま|ユーザー|ファン|初心者|愛好家|員|家族"
)
_JA_AUDIENCE = re.compile(
    rf"(?P<who>[^、。！？「」\s]{{0,30}}?(?:{_JA_PERSON}))(?:向け|に向けて|へ向けて|に贈る|のための)"
)
# 「新社会人の就職祝いに」: the people an occasion is theirs.
_JA_AUDIENCE_OF = re.compile(
    rf"(?P<who>[\u3040-\u30ff\u3400-\u9fffー]{{1,8}}?(?:{_JA_PERSON}))の(?={_JA_OCCASION.pattern})"
)
_INTENSIFIERS = re.compile(r"\b(very|really|extremely|super|truly|quite|particularly|especially)\s+", re.I)


def tone_of(brief: str) -> str:
    for tone, pattern in TONES.items():
        if pattern.search(brief):
            return tone
    return "neutral"


def channel_of(brief: str) -> str:
    for channel, pattern in _CHANNELS:
        if pattern.search(brief):
            return channel
    return ""


def length_of(brief: str) -> str:
    return "short" if _SHORT.search(brief) else "long" if _LONG.search(brief) else "medium"


def is_brief(text: str) -> bool:
    """Whether a message asks for copy (so it is never answered as a greeting)."""
    ja = language.is_japanese(text)
    # "thanks for the draft!" names a draft but asks for none: a brief has some length too.
    if _COPY_WORDS.search(text) and (len(text) >= 12 if ja else len(text.split()) >= 6):
        return True
    return len(text) >= 40 if ja else len(text.split()) >= 12


def sentences_asked(brief: str) -> int | None:
    m = _SENTENCES.search(brief)
    if not m:
        return None
    raw = next(g for g in m.groups() if g).lower()
    raw = raw.translate(str.maketrans("１２３４５", "12345"))
    return _NUMBER_WORDS.get(raw) or int(raw)


def mentions(brief: str) -> list[str]:
    """What the brief explicitly asks the copy to carry, in its own words."""
    if language.is_japanese(brief):
        out = [m.group("what").strip("「」 ") for m in _JA_MENTION.finditer(brief)]
        # 「…こと」 is the brief's way of pointing at a fact, not part of the fact.
        return [re.sub(r"(?:という|である)?こと$", "", w) for w in out if w]
    out = []
    for m in _MENTION.finditer(brief):
        what = re.split(r"\s+(?:and (?:keep|make|use|write)|in a |, (?:keep|make|use|write))\b", m.group("what"))[0]
        out.append(what.strip(" ,"))
    return [w for w in out if w]


# --- reading the brief ---------------------------------------------------------------------------


@dataclass
class Product:
    name: str
    facts: list[str] = field(default_factory=list)


@dataclass
class Brief:
    text: str
    lang: str
    tone: str
    channel: str
    count: int
    occasion: str
    audience: str
    qualifier: str
    offers: list[str]
    gift: bool


def _offer_texts(brief: str, lang: str, names: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The facts the brief asks the copy to carry: what it says to mention, and a sentence of
    its own that states an offer (a percentage, a code, free shipping). "Mention the soprano
    ukulele" asks for a product, which the body presents: no fact to add."""
    asked = [a for a in mentions(brief) if _OFFER_SENTENCE.search(a) or not _names_product(a, names)]
    if _NO_OFFER.search(brief):
        asked = [a for a in asked if not _OFFER_SENTENCE.search(a)]
    seen = " ".join(asked)
    for sentence in language.sentences(brief):
        if _NO_OFFER.search(sentence) or not _OFFER_SENTENCE.search(sentence):
            continue
        # Already asked for by a "mention …" of the same sentence.
        if any(a and a in sentence for a in asked):
            continue
        if lang == "en":
            # "…, for commuters. Offer: 10% off lights …": the offer's own clause.
            # (And after any label: "Instagram post for our spring sale: 15% off ukuleles".)
            part = re.split(r"\b(?:offer|deal|promo(?:tion)?)\s*:\s*|:\s+", sentence, flags=re.I)[-1]
            clauses = [c for c in re.split(r"[.;]\s+|,\s+", part) if _OFFER_SENTENCE.search(c)]
            part = clauses[0] if clauses else part
        else:
            clauses = [c for c in re.split(r"[。、]", sentence) if _OFFER_SENTENCE.search(c)]
            part = clauses[0] if clauses else sentence
        part = part.strip(" .。")
        if part and part not in seen:
            asked.append(part)
    return asked


def _names_product(what: str, names: list[str] | tuple[str, ...]) -> bool:
    said = re.sub(r"(?i)^(?:the|our|an?)\s+", "", what).strip(" .").lower()
    return bool(said) and any(said in name.lower() or said == _core(name).lower() for name in names)


def _occasion(brief: str, lang: str, names: list[str]) -> str:
    text = brief
    for name in names:
        text = text.replace(name, " ")
    if lang == "ja":
        found = _JA_OCCASION.findall(text)
        if not found:
            return ""
        # The most specific occasion (母の日 over 夏).
        best = max(found, key=len)
        return best
    found = [m.group(1) for m in _OCCASION.finditer(text)]
    if not found:
        return ""
    best = max(found, key=len)
    if re.fullmatch(r"back[- ]to[- ]\w+", best, re.I):
        best = best.lower().replace(" ", "-") + " season"
    if best.lower() in ("summer", "winter", "spring", "autumn", "fall") or best.lower().endswith(" season"):
        best = best.lower()
    return best


# A brief written as fields: "Audience: owners of older dogs", 「対象：自宅でお点前を始めたい方」.
_AUDIENCE_FIELD = re.compile(
    r"(?im)(?:^|[.;。]\s*)\s*[-•*]?\s*(?:audience|target(?: audience)?|for|customers?|readers?|対象|ターゲット|読者)"
    r"\s*[:：]\s*(?P<who>[^\n.;。]+)"
)


def _audience(brief: str, lang: str, names: list[str]) -> tuple[str, str]:
    """Who the copy speaks to, as a short phrase (at most four words) and, in English, what
    the brief says about them ("who love their roses", "with very dry skin")."""
    field_ = _AUDIENCE_FIELD.search(brief)
    if field_:
        value = field_.group("who").rstrip("。.")
        # The field read as the sentence a brief would have: "for owners of older dogs".
        brief = f"{value}向けに" if lang == "ja" else f"for {value}."
        if lang == "en" and not _AUDIENCE.search(brief):
            words = value.split()
            return (value, "") if len(words) <= 4 else ("", "")
    text = brief
    for name in names:
        text = text.replace(name, " ")
        text = text.replace(re.sub(r"\s+", "", name), " ")
    if lang == "ja":
        m = _JA_AUDIENCE.search(text) or _JA_AUDIENCE_OF.search(text)
        if not m:
            return "", ""
        # The last phrases only, up to ten characters: 「自宅でお点前を始めたい方」 →
        # 「お点前を始めたい方」; else the last modifiers of a long one: 「お酒を飲み始めたばかりの
        # 若い方」 → 「若い方」, 「感謝を伝えたい30〜40代の方」 → 「30〜40代の方」.
        chunks = [c for c in re.split(r"(?<=[をにはがで])", m.group("who")) if c]
        who = chunks[-1]
        for chunk in reversed(chunks[:-1]):
            if len(who) + len(chunk) > 10:
                break
            who = chunk + who
        if len(who) <= 10:
            return (who, "") if len(who) >= 2 else ("", "")
        parts = who.split("の")
        short = parts[-1]
        for part in reversed(parts[:-1]):
            if len(short) < 3:
                part = re.split(r"[\u3041-\u3096]", part)[-1] or part
            elif len(short) + len(part) + 1 > 9:
                break
            short = f"{part}の{short}"
        if len(short) < 2:
            return "", ""
        return short, ""
    m = _AUDIENCE.search(text)
    if not m:
        return "", ""
    who = re.sub(r"^(?:our|the|all|those)\s+(?=\w)", "", m.group("who").strip(), flags=re.I).strip()
    if who.lower() in ("everyone", "anyone", "those", "people", "customers"):
        who = "" if not m.group("which") else who
    which = _INTENSIFIERS.sub("", (m.group("which") or "").strip())
    return who, which


def read_brief(brief: str, products: list[Product]) -> Brief:
    lang = "ja" if language.is_japanese(brief) else "en"
    names = [p.name for p in products]
    channel = channel_of(brief)
    count = sentences_asked(brief)
    if count is None:
        count = _DEFAULT_SENTENCES[channel]
        length = length_of(brief)
        if length == "short":
            count = min(count, 2)
        elif length == "long":
            count = max(count, 4)
        # Room for each product the brief names and its offer, unless it asked for a length.
        if length != "short" and channel not in ("sms", "banner"):
            count = max(count, len(products) + 1)
    audience, qualifier = _audience(brief, lang, names)
    return Brief(
        text=brief,
        lang=lang,
        tone=tone_of(brief),
        channel=channel,
        count=max(1, count),
        occasion=_occasion(brief, lang, names),
        audience=audience,
        qualifier=qualifier,
        offers=_offer_texts(brief, lang, names),
        gift=bool(re.search(r"\bgifts?\b|\bpresents?\b|ギフト|贈り物|プレゼント|贈る|お祝い|祝い", brief, re.I)),
    )


# --- English ---------------------------------------------------------------------------------------

# (A size written as a fraction, "outfit 4/4", is part of the name and stays whole.)
_MEASURE = re.compile(r"\s*(?:\([^)]*\)|(?<![/\d])\b\d[\d.,]*\s?(?:[a-zA-Z]{1,3}|%)?\b(?!/)|\bSPF\s?\d+)\s*$")


def _head_noun(phrase: str) -> str:
    core = phrase.strip()
    while True:
        stripped = _MEASURE.sub("", core).strip()
        if stripped == core:
            break
        core = stripped
    words = re.findall(r"[\w'’-]+", core)
    return words[-1].lower() if words else ""


def _title(name: str) -> bool:
    """A title ("Thirty-Minute Suppers", "T. rex and Friends") is one thing, whatever its last word."""
    words = [w for w in re.findall(r"[\w'-]+", name) if len(w) >= 3]
    return len(words) >= 2 and all(w[:1].isupper() for w in words)


def _plural(noun: str) -> bool:
    if simplemma.lemmatize(noun, lang="en") != noun:
        return True
    return noun.endswith("s") and not noun.endswith(("ss", "us", "is", "as", "ics"))


def _agree(verb: str, plural: bool) -> str:
    """A present-tense verb for the subject: "protects" for a helmet, "protect" for gloves."""
    low = verb.lower()
    third = low.endswith("s") and not low.endswith("ss")
    if plural and third:
        if re.search(r"(?:ss|x|z|ch|sh|o)es$", low):
            return verb[:-2]
        if low.endswith("ies"):
            return verb[:-3] + "y"
        return verb[:-1]
    if not plural and not third:
        if re.search(r"(?:s|x|z|ch|sh|o)$", low):
            return verb + "es"
        if re.search(r"[^aeiou]y$", low):
            return verb[:-1] + "ies"
        return verb + "s"
    return verb


# "Smooths …", "Tracks …", "Freshens …", "Melts …": a description that opens on its verb.
_VERB_START = re.compile(r"^[A-Z][a-z]+s\b(?<!ss)(?<!us)(?<!is)(?![,;])")
_CONNECT = re.compile(r"\s(that|which|who)\s")


def _the(name: str) -> str:
    return name if re.match(r"(?i)the\s", name) else f"the {name}"


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    if len(first) > 1 and (first.isupper() or any(c.isupper() for c in first[1:]) or first[:1].isdigit()):
        return text
    return text[:1].lower() + text[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fact_en(name: str, fact: str, front_use: bool = False, audience: str = "") -> str:
    """A catalog sentence said with the product as its subject: "Leather gloves that protect
    your hands …" → "The Thorn-proof gardening gloves protect your hands …"; "Smooths the look of
    fine lines" → "The Retinol night serum smooths …"; "Liquid fertiliser rich in potash" → "The
    Tomato feed 1 L is a liquid fertiliser rich in potash". No word is added that claims more."""
    fact = fact.strip().rstrip(".!")
    subject = _upper_first(_the(name))
    # One thing when it is a title or the catalog calls it "a …" ("T. rex and Friends": "A picture book").
    plural = _plural(_head_noun(name)) and not _title(name) and not re.match(r"(?i)an?\s", fact)
    first, _, rest = fact.partition(" ")
    if _VERB_START.match(fact) and rest:
        return _fronted(f"{subject} {_agree(first.lower(), plural)} {rest}", front_use)
    m = _CONNECT.search(fact)
    if m and m.start() < 60 and _plural(_head_noun(fact[: m.start()])) != plural:
        # "Quick weeknight recipes that take …" of a book: what it gives, not what it does.
        return _fronted(f"{subject} {'give' if plural else 'gives'} you {_lower_first(fact)}", front_use)
    if m and m.start() < 60:
        head, clause = fact[: m.start()], fact[m.end() :]
        verb, _, more = clause.partition(" ")
        adverb = ""
        if verb.endswith("ly") and more:
            adverb, (verb, _, more) = f"{verb} ", more.partition(" ")
        if more and re.fullmatch(r"[a-z]+", verb):
            # What it is, from the catalog, said beside the name: "The Hanging bird feeder, a
            # metal seed feeder, keeps squirrels out."
            what = _lower_first(head.strip())
            own = {w.lower() for w in re.findall(r"[\w'-]+", name)}
            if (
                not plural
                and 1 <= len(what.split()) <= 4
                and not _plural(_head_noun(what))
                and " and " not in what
                and len({w.lower() for w in what.split()} - own) >= 2
            ):
                subject = f"{subject}, {'an' if re.match(r'[aeio]', what) else 'a'} {what},"
            return _fronted(f"{subject} {adverb}{_agree(verb, plural)} {more}", front_use)
    # "Lavender, vetiver and sweet orange blended for a restful night": the participle kept.
    m = re.match(r"(.+?)\s([a-z]+ed)\s(for|to|with|in|from|by)\s(.+)", fact)
    if m and not re.search(r"\s(?:with|for|in|that)\s", m.group(1)):
        things = _lower_first(m.group(1))
        base = {"blended": "blend", "mixed": "mix", "combined": "combine"}.get(m.group(2))
        if base:
            return f"{subject} {_agree(base, plural)} {things} {m.group(3)} {m.group(4)}."
        return f"{subject} {'combine' if plural else 'combines'} {things}, {m.group(2)} {m.group(3)} {m.group(4)}."
    head = re.split(r"\s(?:with|for|in|of|that|to|about|from)\s|[,;:(]", fact, maxsplit=1)[0]
    # "Quiet clicks and a USB receiver", "Calming lavender and chamomile": two things, said
    # without "a" — unless "and" joins two adjectives ("Front and rear clip-on lights").
    two = bool(re.search(r"^\S+\s\S+.*?\sand\s", head))
    if two:
        head = head.split(" and ", 1)[0]
    fact_noun = _head_noun(head) if not two else _head_noun(head) + "s"
    same = fact_noun.rstrip("s") in name.lower() or _head_noun(name).rstrip("s") in fact_noun
    # What it is for comes first when it closes the description ("Teaser wand with feathers
    # and a bell for active play" → "For active play, the Feather wand toy is a teaser wand
    # with feathers and a bell"), less what the audience already says.
    use = re.search(r"\s(?:ideal |perfect |great |made )?for\s([^,;]+)$", fact)
    front = ""
    if front_use and use and use.start() > 8 and " with " not in _drop_said(use.group(1), audience):
        fact, front = fact[: use.start()].rstrip(" ,"), use.group(1)
    if _plural(fact_noun) and (not same or not plural):
        said = f"{subject} {'give' if plural else 'gives'} you {_lower_first(fact)}"
    else:
        bare = _plural(fact_noun) or re.match(r"(?i)(?:a|an|the)\s|(?:\S+\s){0,2}\S+['’]s\s", fact)
        article = "" if bare else ("an " if re.match(r"(?i)[aeio]|u(?!s|ni)", fact) else "a ")
        said = f"{subject} {'are' if plural else 'is'} {article}{_lower_first(fact)}"
    if front:
        return f"For {_drop_said(front, audience)}, {_lower_first(said)}."
    return f"{said}."


def _fronted(said: str, front: bool) -> str:
    """A sentence whose closing phrase of when or how comes first ("While you sleep, the
    Retinol night serum smooths …", "Without clogging pores, …"), so that it reads as the
    copy's sentence rather than the catalog's."""
    m = re.search(r"\s((?:while|without|during|after|before|when|even on|even in)\s[^,;]{3,40})$", said)
    if front and m:
        return f"{_upper_first(m.group(1))}, {_lower_first(said[: m.start()].rstrip(' ,'))}."
    return f"{said}."


def _drop_said(phrase: str, audience: str) -> str:
    """A use without its trailing "with indoor cats" when the audience already says so."""
    m = re.match(r"(.+?)\s(?:with|for)\s(.+)$", phrase)
    own = {_singular(a) for a in audience.lower().split()}
    if m and audience and all(_singular(w) in own for w in m.group(2).lower().split()):
        return m.group(1)
    return phrase


def _extra_en(name: str, fact: str) -> str:
    """A further catalog fact: with the product as subject when it opens on a verb ("works with
    our essential oils"), else as it stands ("Sow from February to April.")."""
    first = fact.split(" ", 1)[0]
    if re.fullmatch(r"[a-z]+s", first) and not first.endswith("ss"):
        return _fact_en(name, _upper_first(fact))
    return _upper_first(fact.rstrip(".")) + "."


def _en_facts(product: Product) -> list[str]:
    out = []
    for fact in product.facts:
        # "…, 800 lumens, runs up to 6 hours": a clause of its own, said as "It runs …".
        fact = re.sub(
            r",\s+([a-z]+s)(?<!ss)\s(?=(?:up|about|to|in|on|into|for|with|over|under|around|all|most)\b)",
            r"; \1 ",
            fact,
        )
        for part in re.split(r";\s*", fact):
            part = part.strip().rstrip(".")
            if len(part) >= 8:
                out.append(part)
    return out


def _you_clause(qualifier: str) -> str:
    """What the brief says about the audience, said to them: "whose pets get anxious" → "if
    your pets get anxious"; "who struggle to unwind at night" → "if, at night, you struggle to
    unwind" (a trailing phrase brought forward, so the brief's words are not repeated as they
    stand)."""
    m = re.match(r"(?i)(who|whose|with)\s+(.+)", qualifier.strip())
    if not m:
        return ""
    kind, rest = m.group(1).lower(), m.group(2)
    rest = re.sub(r"\btheir\b", "your", rest)
    rest = re.sub(r"\bthey\b", "you", rest)
    rest = re.sub(r"\bthemselves\b", "yourself", rest)
    if kind == "whose":
        clause = f"your {rest}"
    elif kind == "with":
        clause = f"you have {rest}"
    else:
        clause = f"you {rest}"
    trail = re.search(r"\s((?:at|in|on|during|after|before|every)\s+(?:the\s+)?\w+(?:\s\w+)?)$", clause)
    if trail and len([w for w in clause.split() if w not in ("you", "your")]) >= 5:
        return f"if, {trail.group(1)}, {clause[: trail.start()]}"
    return f"if {clause}"


_GENERIC_PEOPLE = {"people", "customers", "clients", "shoppers", "everyone", "anyone", "those", "users", "buyers"}


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if re.search(r"(?:ss|x|z|ch|sh)es$", noun):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def _audience_phrase(b: Brief) -> str:
    """The audience in at most four words: "first-time vegetable growers", "rose-loving mums",
    "people with dry skin", "dads who run" — or nothing when all the brief says is "customers"
    and what it says about them does not fit in four words."""
    who = b.audience
    if not who:
        return ""
    which = b.qualifier
    love = re.match(r"(?i)who\s+loves?\s+(?:their\s+|the\s+|a\s+)?([a-z]+)$", which)
    if love:
        return f"{_singular(love.group(1).lower())}-loving {who}"
    full = f"{who} {which}".strip()
    if len(full.split()) <= 4:
        return full
    return "" if who.lower() in _GENERIC_PEOPLE else who


def _offer_en(text: str) -> str:
    """An offer the brief gives, said once and whole in the copy's words: "seed orders over
    £20 ship free" → "Free shipping on seed orders over £20."; "10% off lights with code
    BRIGHT10 until 31 October" → "Use code BRIGHT10 for 10% off lights until 31 October."."""
    text = text.strip().rstrip(".")
    text = re.sub(r"(?i)^(?:that|the fact that)\s+", "", text)
    m = re.match(r"(?i)(.+?)\s+ships?\s+(?:for\s+)?free\b(.*)", text)
    if m:
        return f"Free shipping on {_lower_first(m.group(1))}{m.group(2)}."
    m = re.match(r"(?i)free\s+((?:[\w-]+\s+)?(?:shipping|delivery))\s+(on|for|over|with)\s+(.+)", text)
    if m and m.group(2).lower() in ("on", "for"):
        return f"{_upper_first(m.group(3))} get free {m.group(1)}."
    code = _CODE.search(text)
    pct = re.search(r"(\d{1,3})\s?(?:%|percent)\s?off\s*(.*)", text, re.I)
    if code and pct:
        rest = pct.group(2)
        rest = _CODE.sub("", rest)
        rest = re.sub(r"(?:^|\s+)(?:with|using|use)\s*$", "", rest.strip())
        rest = re.sub(r"\s+(?:with|using)\s+(?=(?:until|till|through|this|today|ends))", " ", rest)
        rest = re.sub(r"\s{2,}", " ", rest).strip(" ,")
        return f"Use code {code.group(1) or code.group(2)} for {pct.group(1)}% off {rest}".rstrip() + "."
    # A discount named without a verb ("15% off ukuleles", "our 20% off sale") is made a
    # sentence, not left a fragment ("Our 15% off ukuleles."); "Free shipping over $35." is
    # the usual way to say that one.
    bare = re.sub(r"(?i)^(?:our|the|an?)\s+", "", text)
    if re.match(r"(?i)\d{1,3}\s?(?:%|percent)\s?off\b", bare) and not _VERB_IN_OFFER.search(bare):
        return f"Get {bare}."
    return _upper_first(text) + "."


# A verb that makes an offer a sentence already ("15% off ends Sunday", "free shipping applies").
_VERB_IN_OFFER = re.compile(
    r"\b(?:is|are|ends?|runs?|lasts?|applies|apply|starts?|until|till|through|with code|when|if)\b", re.I
)


def _pick(brief: str, *options: str) -> str:
    """One of a few wordings, chosen by the brief (the same brief, the same words), so that
    drafts for different briefs do not all open alike."""
    return options[sum(map(ord, brief)) % len(options)]


def _words(text: str) -> int:
    return len(re.findall(r"[\w']+", text))


def _hook_en(b: Brief) -> str:
    aud = _audience_phrase(b)
    when = f"this {b.occasion}" if b.occasion else ""
    if _words(aud) >= 4:
        # "for people in small apartments" is the brief's own run of words.
        if when:
            return f"{_upper_first(when)}, {aud}: this one is for you."
        return f"{_upper_first(aud)}, this one is for you."
    tone = b.tone
    if when and aud:
        return {
            "playful": f"Calling all {aud}: {when} just got better!",
            "premium": f"For {aud}, {when} calls for something special.",
            "energetic": f"{_upper_first(when)}, it's time to gear up, {aud}.",
            "calm": f"For {aud}, here is a gentler {b.occasion}.",
            "urgent": f"{_upper_first(b.occasion)} is almost here, {aud}.",
            "warm": _pick(
                b.text,
                f"{_upper_first(when)}, we have something lovely for {aud}.",
                f"{_upper_first(when)}, here is a little something for {aud}.",
            ),
        }.get(
            tone,
            _pick(
                b.text,
                f"{_upper_first(when)}, we have picked something for {aud}.",
                f"Here is what we are sharing with {aud} {when}.",
            ),
        )
    if when:
        return {
            "playful": f"{_upper_first(when)} just got better!",
            "premium": f"{_upper_first(when)} calls for something special.",
            "energetic": f"Get set for {when}.",
            "calm": f"Make {when} a calmer one.",
            "urgent": f"{_upper_first(b.occasion)} is almost here.",
            "warm": _pick(
                b.text,
                f"{_upper_first(when)}, we have something lovely for you.",
                f"{_upper_first(when)}, here is a little something for you.",
            ),
        }.get(tone, _pick(b.text, f"Get ready for {when}.", f"{_upper_first(when)} is nearly here."))
    if aud:
        return {
            "playful": f"Calling all {aud}!",
            "premium": f"Something refined for {aud}.",
            "energetic": f"{_upper_first(aud)}, get ready.",
            "calm": f"{_upper_first(aud)}, take a breath.",
            "urgent": f"Don't miss this, {aud}.",
            "warm": f"This one is for {aud}.",
        }.get(tone, f"{_upper_first(aud)}, this one is for you.")
    return ""


def _headline_en(b: Brief, products: list[Product]) -> str:
    """The occasion, the audience or the benefit, and the products when they fit (a headline
    of at most about sixty characters)."""
    aud = _audience_phrase(b)
    occasion = b.occasion
    occ = _upper_first(occasion) if occasion else ""
    names = " and ".join(_short_name(p.name) for p in products[:2])
    if _words(aud) >= 4 and products:
        # "for people with dry skin" is the brief's own run of words: the audience is addressed.
        if not occ:
            return f"{_upper_first(aud)}, meet {_the(names)}"
        aud = ""
    if not products:
        return {"playful": "Something new is waiting for you", "premium": "Made to be noticed"}.get(
            b.tone, "Discover what's new"
        )
    options: list[str] = []
    if occ and aud:
        options = [
            {
                "playful": f"{occ} fun for {aud}",
                "premium": f"{occ}, beautifully done, for {aud}",
                "energetic": f"Gear up for {occasion}, {aud}",
                "calm": f"A calmer {occasion} for {aud}",
                "urgent": f"{occ} is close, {aud}",
                "warm": f"{occ} treats for {aud}",
            }.get(b.tone, f"{occ} picks for {aud}")
        ]
    elif occ:
        options = [
            {
                "playful": f"{occ} starts here: {names}",
                "premium": f"{occ}, beautifully done: {names}",
                "energetic": f"Gear up for {occasion}: {names}",
                "calm": f"A calmer {occasion} with {names}",
                "urgent": f"{occ} is close: {names}",
                "warm": f"Made for {occasion}: {names}",
            }.get(b.tone, f"{occ} picks: {names}"),
            f"Ready for {occasion}",
        ]
    elif aud:
        options = [
            {
                "playful": f"{names}: made for {aud}",
                "premium": f"{names}, for {aud} who expect more",
                "calm": f"{names}, for calmer days",
            }.get(b.tone, f"{names} for {aud}"),
            f"Made for {aud}",
        ]
    benefit = _benefit_phrase(products[0])
    if benefit and not options:
        # No occasion or audience: what the (first) product is for ("Fig reed diffuser for small
        # rooms and bathrooms", "While you sleep: the Retinol night serum").
        for who in (names, _short_name(products[0].name)):
            options.append(
                f"{who} {benefit}" if benefit.startswith("for ") else f"{_upper_first(benefit)}: {_the(who)}"
            )
    options.append(
        {
            "playful": f"Say hello to {_the(names)}!",
            "premium": f"{names}. Simply refined.",
            "warm": f"A little something for you: {names}",
            "urgent": f"Don't miss {_the(names)}",
            "formal": f"Introducing {_the(names)}",
        }.get(b.tone, _neutral_headline(b.text, _the(names)))
    )
    return next((o for o in options if len(o) <= 64), options[-1])


def _benefit_phrase(product: Product) -> str:
    """The catalog's own phrase of what a product is for or when it works, from its first
    fact: "for small rooms and bathrooms", "while you sleep"; empty when it has none."""
    facts = _en_facts(product)
    if not facts:
        return ""
    m = re.search(r"\s(for\s[^,;]{4,40}|while\s[^,;]{4,30})$", facts[0])
    return m.group(1) if m and " with " not in m.group(1) else ""


def _neutral_headline(brief: str, names: str) -> str:
    """A plain headline, worded by the brief (the same brief, the same words), so that two
    drafts of one conversation do not open alike."""
    options = (f"Meet {names}", f"Introducing {names}", f"{_upper_first(names)}, ready when you are")
    return _pick(brief, *options)


def _short_name(name: str) -> str:
    """A name as a headline says it: no parenthesis, no size ("Tomato feed 1 L" → "Tomato feed")."""
    core = _core(name)
    short = _MEASURE.sub("", core).strip()
    return short or core


def _core(name: str) -> str:
    """A name without its parenthesis ("Tinted lip balm (rose)" → "Tinted lip balm")."""
    return re.sub(r"\s*[(（][^)）]*[)）]", "", name).strip() or name


def _cta_en(b: Brief) -> str:
    """One next step that fits the channel, claiming nothing of the shop (no store, delivery
    date or stock the brief did not mention)."""
    occ = b.occasion
    day = bool(occ) and not re.search(r"(?i)summer|winter|spring|autumn|fall|season|holidays", occ)
    if b.channel == "sms":
        return "Grab yours today." if b.tone != "urgent" else "Grab yours while the offer lasts."
    if b.channel == "banner":
        return "Shop now."
    if b.channel == "social":
        return {
            "playful": "Come and grab yours!",
            "premium": "Discover it today.",
            "energetic": "Get yours today.",
        }.get(b.tone, "Take a look today.")
    if b.channel == "print":
        return "Ask our team about it today."
    if b.channel == "web":
        return "Add it to your basket today."
    if day:
        return f"Shop now for {occ}."
    return {
        "playful": "Grab yours today!",
        "premium": "Discover it today.",
        "warm": "Come and find yours today.",
        "urgent": "Get yours while the offer lasts." if b.offers else "Get yours today.",
        "formal": "Find out more today.",
        "energetic": "Get yours today.",
        "calm": "Take a look whenever you're ready.",
    }.get(b.tone, "Take a look today.")


def _closing_en(b: Brief) -> str:
    """A last sentence in the tone asked, when the length leaves room; it says nothing of the
    product the catalog does not, and a gift's copy does not tell the giver to treat
    themselves."""
    if b.gift:
        return {"playful": "Go on, make their day!", "warm": "We'd love to help you choose."}.get(b.tone, "")
    return {
        "playful": "Go on, treat yourself!",
        "premium": "Take your time and enjoy it.",
        "warm": "We'd love to help you choose.",
        "calm": "Take a moment for yourself.",
        "energetic": "Ready when you are.",
    }.get(b.tone, "")


def _lead_en(b: Brief) -> str:
    """The occasion or the audience as the opening words of a sentence, when the body has no
    room for a sentence of its own about them: "This Mother's Day, …", "For commuters, …"."""
    if b.occasion:
        return f"This {b.occasion}, "
    aud = _audience_phrase(b)
    return f"For {aud}, " if aud else ""


def _draft_en(b: Brief, products: list[Product]) -> str:
    headline, cta = _headline_en(b, products), _cta_en(b)
    offers = [_offer_en(o) for o in b.offers]
    if not products:
        body = ["Come and see what's new with us.", *offers]
        return _lines_en(headline, body[: max(1, b.count)], cta)
    facts = [_en_facts(p) for p in products]
    aud = _audience_phrase(b)
    # What the brief says of the audience, said to them — unless the hook says it already.
    you = _you_clause(b.qualifier) if b.qualifier and not b.gift and b.qualifier not in aud else ""
    statements = [
        _fact_en(p.name, f[0], front_use=not you, audience=aud) if f else f"Meet {_the(p.name)}."
        for p, f in zip(products, facts, strict=True)
    ]
    # A further fact: of the last product named it follows that product's sentence, as "It …".
    extras: list[str] = []
    for i, (p, f) in enumerate(zip(products, facts, strict=True)):
        for x in f[1:2]:
            extra = _extra_en(p.name, x)
            if i == len(products) - 1:
                extra = re.sub(rf"^{re.escape(_upper_first(_the(p.name)))}\b", "It", extra)
            extras.insert(0, extra) if i == len(products) - 1 else extras.append(extra)
    hook = _hook_en(b)
    n = b.count
    room = max(1, n - len(offers))
    # The products in one sentence when the length leaves no room for each, or for the
    # sentence that speaks to the brief's occasion and audience.
    if len(statements) > room or (hook and len(statements) == room >= 2):
        statements = [_join_statements(statements)]
    if you:
        # The audience's need opens the first product's sentence: "If your pets get anxious, …".
        statements[0] = f"{_upper_first(you)}, {_lower_first(statements[0])}"
    body = list(statements)
    if hook and len(body) < room:
        body.insert(0, hook)
    elif hook and not you and not offers and len(body) == 1 and len(body[0]) < 110:
        # One sentence: the hook opens it ("Calling all indoor cat owners: for active play, …").
        body[0] = f"{hook.rstrip('.!?')}{' —' if ':' in hook else ':'} {_lower_first(body[0])}"
    elif _lead_en(b) and not (you and not b.occasion) and not body[0].startswith("For "):
        body[0] = _lead_en(b) + _lower_first(body[0])
    for extra in extras:
        if len(body) < room:
            body.append(extra)
    closing = _closing_en(b)
    if closing and len(body) < room:
        body.append(closing)
    if len(offers) >= n:
        # One sentence for everything: the offer joined to the products' sentence.
        tail = "; ".join(_lower_first(o).rstrip(".") for o in offers)
        body = [f"{body[0].rstrip('.')} — {tail}."]
    else:
        body = body[:room] + offers
    return _lines_en(headline, body, cta)


def _join_statements(statements: list[str]) -> str:
    if len(statements) == 1:
        return statements[0]
    parts = [s.rstrip(".") for s in statements]
    parts = [parts[0], *(_lower_first(p) for p in parts[1:])]
    if len(parts) == 2:
        return f"{parts[0]}, and {parts[1]}."
    return f"{', '.join(parts[:-1])}, and {parts[-1]}."


def _lines_en(headline: str, body: list[str], cta: str) -> str:
    return "\n".join(
        [f"Headline: {headline.rstrip('.')}", f"Body: {language.join(body, 'en')}", f"Call to action: {cta}"]
    )


# --- Japanese -------------------------------------------------------------------------------------

_GODAN_I = str.maketrans("うくぐすつぬぶむる", "いきぎしちにびみり")


def _polite(sentence: str) -> str:
    """A catalog or brief sentence ended politely: a noun gets です (「…の花束」→「…の花束です」),
    a use gets a predicate (「…一人暮らしに」→「…一人暮らしにぴったりです」, 「…にも」→「…にもおすすめ
    です」), 対応 is said as a verb, a plain verb is conjugated (できる→できます, なる→なります)."""
    s = sentence.strip().rstrip("。.！!")
    if not s:
        return s
    if s.endswith(("です", "ます", "ません", "ください", "でした", "ました")):
        return s
    if s.endswith("対応"):
        return s[:-2].rstrip("・") + ("にも対応しています" if not s[:-2].endswith(("に", "が")) else "対応しています")
    if s.endswith("にも"):
        return s + "おすすめです"
    if s.endswith("でも"):
        return s + "お楽しみいただけます"
    if s.endswith(("に", "へ")):
        return s + "ぴったりです"
    morphemes = list(language._tokenizer().tokenize(s))
    if not morphemes:
        return s + "です"
    last = morphemes[-1]
    pos = last.part_of_speech()
    if pos[0] == "動詞" and pos[5].startswith("終止形"):
        stem = s[: len(s) - len(last.surface())]
        kind = pos[4]
        surface = last.surface()
        if kind.startswith("五段"):
            return stem + surface[:-1] + surface[-1].translate(_GODAN_I) + "ます"
        if kind.startswith(("上一段", "下一段")):
            return stem + surface[:-1] + "ます"
        if kind.startswith("サ行変格"):
            return stem + surface[:-2] + "します"
        if kind.startswith("カ行変格"):
            return stem + surface[:-2] + ("来ます" if surface.startswith("来") else "きます")
        return s + "です"
    if pos[0] == "助動詞" and last.surface() in ("た", "だ"):
        return s[:-1] + ("ました" if last.surface() == "た" else "です")
    if pos[0] == "助詞":
        return s + "おすすめです"
    return s + "です"


def _noun_final(sentence: str) -> bool:
    s = sentence.strip().rstrip("。")
    morphemes = list(language._tokenizer().tokenize(s)) if s else []
    return bool(morphemes) and morphemes[-1].part_of_speech()[0] in ("名詞", "接尾辞") and not s.endswith("対応")


def _facts_ja(product: Product) -> list[str]:
    out: list[str] = []
    for fact in product.facts:
        out.extend(x.strip().rstrip("。") for x in language.sentences(fact) if x.strip().rstrip("。"))
    return out


def _product_ja(product: Product, fit: str = "") -> str:
    """「{name}」は、{fact}で、{next fact or who it suits}: the catalog's facts joined under the
    product's name rather than pasted one after another."""
    facts = _facts_ja(product)
    name = f"「{product.name}」"
    if not facts:
        return f"{name}をご用意しています"
    first = facts[0]
    polite = _polite(first)
    if fit and (_noun_final(first) or (polite.endswith("です") and not polite.endswith("ぴったりです"))):
        return f"{name}は、{polite.removesuffix('です')}で、{fit}"
    if len(facts) > 1 and _noun_final(first):
        return f"{name}は、{first}で、{_polite(facts[1])}"
    return f"{name}は、{polite}"


def _offer_ja(text: str) -> str:
    what = text.strip().strip("「」").rstrip("。")
    # 「送料無料（10000円以上）」 → 「10000円以上で送料無料です」: said, not pasted.
    if m := re.fullmatch(r"(.+?)[（(](.+?)[）)]", what):
        return f"{m.group(2)}で{m.group(1)}です"
    return _polite(what)


def _hook_ja(b: Brief) -> str:
    occ, aud = b.occasion, b.audience
    if occ and aud:
        return {
            "playful": f"{occ}は、{aud}にうれしいアイテムで決まり！",
            "premium": f"{occ}に、{aud}へ上質な品をご紹介します",
            "warm": f"{occ}に向けて、{aud}にうれしい品をご紹介します",
        }.get(b.tone, f"{occ}に向けて、{aud}におすすめの品をご紹介します")
    if occ:
        return {
            "playful": f"{occ}を楽しむなら、これで決まり！",
            "premium": f"{occ}に、上質な品をご紹介します",
        }.get(b.tone, f"{occ}にぴったりの品をご紹介します")
    if aud:
        return {
            "playful": f"{aud}に、とっておきをご紹介！",
            "premium": f"{aud}に、上質な品をご紹介します",
        }.get(b.tone, f"{aud}におすすめの品をご紹介します")
    return ""


def _fits_ja(b: Brief, count: int) -> list[str]:
    """Who or what each product suits, when the body has no sentence of its own for the
    occasion and the audience: 「就職祝いの贈り物にぴったりです」, 「新社会人にもおすすめです」."""
    out = []
    if b.occasion:
        out.append(
            f"{b.occasion}の贈り物にぴったりです"
            if b.gift and not b.occasion.endswith("祝い")
            else f"{b.occasion}にぴったりです"
        )
    if b.audience:
        out.append(f"{b.audience}にもおすすめです" if out else f"{b.audience}にぴったりです")
    if b.tone == "playful":
        # 楽しい・ポップ: the light ending of a social post.
        out = [f.removesuffix("です") + "！" for f in out]
    return out[:count] if len(out) >= count else out + [""] * (count - len(out))


def _headline_ja(b: Brief, products: list[Product]) -> str:
    names = "と".join(_short_name(p.name) for p in products[:2])
    occ, aud = b.occasion, b.audience
    if not products:
        return "新しい出会いが待っています"
    options = []
    if occ and aud:
        options.append(f"{occ}に、{aud}へ。{names}")
    if occ:
        options.append(
            {"playful": f"{occ}は{names}で決まり！", "premium": f"{occ}を彩る、{names}"}.get(
                b.tone, f"{occ}に、{names}"
            )
        )
        options.append(f"{occ}に、{_short_name(products[0].name)}")
    if aud:
        options.append(
            {"playful": f"{aud}にイチオシ！{names}", "premium": f"{aud}に贈る上質、{names}"}.get(
                b.tone, f"{aud}に、{names}"
            )
        )
    options.append(
        {
            "playful": f"{names}、はじめよう！",
            "premium": f"上質なひとときを。{names}",
            "warm": f"毎日にやさしく寄り添う、{names}",
            "urgent": f"今だけ！{names}",
        }.get(b.tone, f"{names}をご紹介します")
    )
    return next((o for o in options if len(o) <= 28), options[-1])


def _cta_ja(b: Brief) -> str:
    occ = b.occasion
    if b.channel == "print":
        return "お気軽にスタッフへお声がけください。"
    if b.channel in ("social", "banner", "sms"):
        return {
            "playful": "さっそくチェックしてね！",
            "premium": "ぜひ一度お確かめください。",
        }.get(b.tone, "ぜひチェックしてみてください。")
    if occ and re.search(r"日|祝い|お歳暮|お中元|バレンタイン|ホワイトデー|クリスマス|お正月", occ):
        return f"{occ}のご準備に、お早めにお求めください。"
    return {
        "urgent": "お早めにどうぞ！",
        "premium": "ぜひ一度お確かめください。",
        "playful": "さっそくチェックしてね！",
        "formal": "ご注文を心よりお待ちしております。",
    }.get(b.tone, "ぜひこの機会にお求めください。")


def _closing_ja(b: Brief) -> str:
    return {
        "playful": "気になったらぜひ試してみてね",
        "premium": "特別なひとときをお楽しみください",
        "warm": "どうぞお気軽にお選びください",
        "calm": "ゆっくりお選びください",
    }.get(b.tone, "")


def _draft_ja(b: Brief, products: list[Product]) -> str:
    headline, cta = _headline_ja(b, products), _cta_ja(b)
    offers = [_offer_ja(o) for o in b.offers]
    if not products:
        body = ["ぜひお店で新商品をご覧ください", *offers]
        return _lines_ja(headline, body[: max(1, b.count)], cta)
    n = b.count
    room = max(1, n - len(offers))
    hook = _hook_ja(b)
    with_hook = bool(hook) and room > len(products)
    fits = [""] * len(products) if with_hook else _fits_ja(b, len(products))
    statements = [_product_ja(p, fit) for p, fit in zip(products, fits, strict=True)]
    if room < len(statements):
        # 「Aは…で、Bは…です」: the products in one sentence when the length is short.
        text = ""
        for st in statements[:-1]:
            if st.endswith(("です", "！")):
                text += st.removesuffix("です").rstrip("！") + "で、"
            else:
                text += st.rstrip("。") + "。"
        statements = [text + statements[-1]]
    body = ([hook] if with_hook else []) + statements
    closing = _closing_ja(b)
    if closing and len(body) < room:
        body.append(closing)
    # An offer the brief gives is carried whole even when it was asked for one sentence.
    body = body[:room] + offers
    return _lines_ja(headline, body, cta)


def _lines_ja(headline: str, body: list[str], cta: str) -> str:
    return "\n".join([f"見出し：{headline}", f"本文：{language.join(body, 'ja')}", f"行動喚起：{cta}"])


# --- the draft ----------------------------------------------------------------------------------


def _products(sections: dict[str, list[str]]) -> list[Product]:
    facts: dict[str, list[str]] = {}
    for line in sections.get("Facts", []):
        name, _, fact = line.partition(" | ")
        if fact.strip():
            facts.setdefault(name.strip(), []).append(fact.strip())
    out = []
    for line in sections.get("Products", [])[:3]:
        parts = [part.strip() for part in line.split("|")]
        if len(parts) >= 2:
            reason = parts[3] if len(parts) > 3 else ""
            own = facts.get(parts[1]) or ([reason] if reason else [])
            out.append(Product(name=parts[1], facts=own))
    return out


def draft(brief: str, sections: dict[str, list[str]]) -> str:
    products = _products(sections)
    # Two colours of one item are one product to the copy ("Aura wireless headphones").
    unique: dict[str, Product] = {}
    for p in products:
        unique.setdefault(_core(p.name), p)
    products = list(unique.values())
    b = read_brief(brief, products)
    if b.lang == "ja":
        return _draft_ja(b, products)
    return _draft_en(b, products)
