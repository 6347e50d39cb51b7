"""Mei's drafts, composed by the offline engine from the brief and the catalog's facts: a
headline, a body and a call to action a reviewer can approve as they are.

The products are the catalog items the workflow found for the brief; the words about them
are their names and the sentences of their descriptions (their benefits). The brief gives
the tone, the length and the audience; it is never copied into the copy. A price or a
discount appears only when the brief itself states one."""

from __future__ import annotations

import re

from agents import language

TONES = {
    "playful": re.compile(
        r"\b(playful|fun|cheeky|witty|light[- ]hearted|quirky|cheerful|upbeat)\b|楽しい|ポップ|元気", re.I
    ),
    "premium": re.compile(r"\b(premium|luxur\w*|elegant|sophisticated|refined|upscale|classy)\b|上品|高級|洗練", re.I),
    "warm": re.compile(
        r"\b(warm|friendly|cosy|cozy|caring|gentle|heartfelt|family)\b|やさしい|優しい|親しみ|温か", re.I
    ),
    "urgent": re.compile(
        r"\b(urgent|last chance|limited|hurry|ends soon|this weekend only|today only)\b|急いで|限定", re.I
    ),
    "formal": re.compile(
        r"\b(formal|professional|informative|clear|trustworthy|serious|calm)\b|丁寧|誠実|落ち着", re.I
    ),
}
_SHORT = re.compile(
    r"\b(short|tagline|tweet|one[- ]liner|one line|brief|social post|sms|banner|x post|instagram|caption)\b|"
    r"短|SNS|一言|インスタ",
    re.I,
)
# "a 2-sentence post", "in three sentences", 「2文で」: the body's length in sentences.
_SENTENCES = re.compile(
    r"\b(one|two|three|four|1|2|3|4)[- ]sentences?\b|"
    r"\b(?:in|of) (one|two|three|four|1|2|3|4) sentences?\b|([1-4１-４])文で",
    re.I,
)
_COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4}
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


def sentences_asked(brief: str) -> int | None:
    m = _SENTENCES.search(brief)
    if not m:
        return None
    raw = next(g for g in m.groups() if g).lower()
    raw = raw.translate(str.maketrans("１２３４", "1234"))
    return _COUNTS.get(raw) or int(raw)


def mentions(brief: str) -> list[str]:
    """What the brief explicitly asks the copy to carry, in its own words."""
    if language.is_japanese(brief):
        return [m.group("what").strip("「」 ") for m in _JA_MENTION.finditer(brief)]
    out = []
    for m in _MENTION.finditer(brief):
        what = re.split(r"\s+(?:and (?:keep|make|use|write)|in a |, (?:keep|make|use|write))\b", m.group("what"))[0]
        out.append(what.strip(" ,"))
    return [w for w in out if w]


def _mention_sentence(what: str, lang: str) -> str:
    if lang == "ja":
        # 「送料無料（10000円以上）」 → 「10000円以上で送料無料です」: said, not pasted.
        if m := re.fullmatch(r"(.+?)[（(](.+?)[）)]", what):
            return f"{m.group(2)}で{m.group(1)}です"
        return what if what.endswith(("です", "ます")) else f"{what}です"
    what = what[:1].upper() + what[1:]
    return what if what.endswith((".", "!")) else what + "."


def _lead(name: str, benefit: str) -> str:
    """The product and its benefit in a sentence of the copy's own, not the catalog's sentence
    pasted: "Retinol night serum smooths the look of fine lines …", "Shackle D-lock: hardened
    steel …"."""
    if not benefit:
        return f"Meet {name}."
    first, _, rest = benefit.partition(" ")
    acronym = len(first) > 1 and first.isupper()
    lowered = benefit if acronym else benefit[:1].lower() + benefit[1:]
    verb = first.lower().endswith("s") and not first.lower().endswith(("ss", "us", "is")) and first[:1].isupper()
    return f"{name} {lowered}." if verb and rest else f"{name}: {lowered}."


_LONG = re.compile(r"\b(email|newsletter|long|detailed|blog|article|landing page)\b|メール|詳しく|長め", re.I)
_AUDIENCE = re.compile(
    r"\bfor ((?:busy |young |new |first[- ]time |keen |little )?(?:[a-z]+ )?(?:workers|students|"
    r"parents|readers|fans|gamers|families|commuters|kids|teens|teenagers|travell?ers|runners|"
    r"beginners|professionals|mums|moms|dads|children|customers|shoppers|cooks|bakers))\b",
    re.I,
)
_JA_AUDIENCE = re.compile(r"([\u3040-\u30ff\u3400-\u9fffー]{2,8}(?:向け|の方|世代))")
_PERCENT = re.compile(r"\d{1,2}\s?%\s?off|\d{1,2}\s?(?:%|percent)", re.I)


def tone_of(brief: str) -> str:
    for tone, pattern in TONES.items():
        if pattern.search(brief):
            return tone
    return "neutral"


def length_of(brief: str) -> str:
    return "short" if _SHORT.search(brief) else "long" if _LONG.search(brief) else "medium"


def _benefit(reason: str, lang: str, limit: int = 90) -> str:
    sentence = (language.sentences(reason) or ("",))[0].strip().rstrip(".。!！")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit]
    # At the end of a clause when one ends past the middle ("… in a three-wick tumbler"), else
    # at a word; never on the clause's own comma or semicolon ("tumbler;.").
    clause = max(cut.rfind(mark) for mark in (";", ",", "；", "、", "。"))
    if clause > limit // 2:
        cut = cut[:clause]
    elif " " in cut and lang != "ja":
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—、；")


def _audience(brief: str, lang: str) -> str:
    if lang == "ja":
        m = _JA_AUDIENCE.search(brief)
        return m.group(1).lstrip("のをにはがと") if m else ""
    m = _AUDIENCE.search(brief)
    if not m:
        return ""
    words = m.group(1).split()
    stop = {"our", "the", "a", "an", "this", "that", "lunch", "summer", "winter", "spring", "autumn", "launch"}
    return "" if words[0].lower() in stop else m.group(1)


def draft(brief: str, sections: dict[str, list[str]]) -> str:
    lang = "ja" if language.is_japanese(brief) else "en"
    products = []
    for line in sections.get("Products", [])[:2]:
        parts = [part.strip() for part in line.split("|")]
        if len(parts) >= 2:
            products.append({"name": parts[1], "reason": parts[3] if len(parts) > 3 else ""})
    tone, length = tone_of(brief), length_of(brief)
    # (The products' names are not the audience: 月光の贈り物向け is for gifts.)
    plain = brief
    for p in products:
        plain = plain.replace(p["name"], " ")
        plain = plain.replace(re.sub(r"\s+", "", p["name"]), " ")
    audience = _audience(plain, lang)
    percent = _PERCENT.search(brief)
    asked = [_mention_sentence(w, lang) for w in mentions(brief)]
    count = sentences_asked(brief)
    if lang == "ja":
        return _draft_ja(products, tone, length, audience, percent.group(0) if percent else "", asked, count)
    if not products:
        headline = {
            "playful": "Something new is waiting for you",
            "premium": "Made to be noticed",
            "warm": "Made with you in mind",
            "urgent": "Don't miss out",
        }.get(tone, "Discover what's new")
        body = " ".join(["Come and see what's new with us.", *asked])
        return "\n".join([f"Headline: {headline}.", f"Body: {body}", f"Call to action: {_cta(tone, 'en')}"])
    first = products[0]
    benefit = _benefit(first["reason"], "en")
    headline = {
        "playful": f"Say hello to {first['name']}!",
        "premium": f"{first['name']}. Simply exceptional.",
        "warm": f"A little something for you: {first['name']}",
        "urgent": f"Don't miss {first['name']}",
        "formal": f"Introducing {first['name']}",
    }.get(tone, f"{first['name']}: worth discovering")
    sentences = [_lead(first["name"], benefit)]
    if audience and length != "short":
        sentences.append(f"Made for {audience}.")
    if len(products) > 1 and length != "short":
        second = _benefit(products[1]["reason"], "en", 70)
        sentences.append(_lead(products[1]["name"], second))
    if length == "long":
        rest = [s for s in language.sentences(first["reason"])[1:3]]
        sentences.extend(s if s.endswith((".", "!", "?")) else s + "." for s in rest)
    if percent:
        sentences.append(f"Now {percent.group(0)} for a limited time.")
    if length == "short":
        sentences = sentences[:1]
    sentences = _fit(sentences, asked, count, extra=_closing(tone, first["name"]))
    return "\n".join(
        [f"Headline: {headline.rstrip('.')}", f"Body: {' '.join(sentences)}", f"Call to action: {_cta(tone, 'en')}"]
    )


def _closing(tone: str, name: str) -> str:
    return {
        "playful": "Your new favourite is here.",
        "premium": "Quiet quality, every day.",
        "warm": "Made to make your day a little easier.",
        "urgent": "Stock is limited.",
        "formal": "Available now.",
    }.get(tone, "Available now.")


def _fit(sentences: list[str], asked: list[str], count: int | None, extra: str) -> list[str]:
    """The body with what the brief asked to mention, in as many sentences as it asked for
    (the product's first, what was asked to mention kept)."""
    if count is None:
        return sentences + asked
    room = max(1, count - len(asked))
    body = sentences[:room]
    if len(body) + len(asked) < count and extra:
        body.append(extra)
    return body + asked if len(asked) < count else body[:1] + asked[: count - 1]


def _cta(tone: str, lang: str) -> str:
    if lang == "ja":
        return {
            "urgent": "お早めにどうぞ！",
            "premium": "ぜひ店頭でお確かめください。",
            "playful": "さっそくチェックしてね！",
        }.get(tone, "ぜひお店でご覧ください。")
    return {
        "playful": "Grab yours today!",
        "premium": "Discover it in store.",
        "warm": "Come and find yours today.",
        "urgent": "Get yours before it's gone.",
        "formal": "Find out more in store or online.",
    }.get(tone, "Find it in store today.")


def _draft_ja(
    products: list[dict[str, str]],
    tone: str,
    length: str,
    audience: str,
    percent: str,
    asked: list[str] | None = None,
    count: int | None = None,
) -> str:
    asked = asked or []
    if not products:
        return "\n".join(
            [
                "見出し：新しい出会いが待っています",
                f"本文：{language.join(['ぜひお店で新商品をご覧ください', *asked], 'ja')}",
                f"行動喚起：{_cta(tone, 'ja')}",
            ]
        )
    first = products[0]
    benefit = _benefit(first["reason"], "ja", 60)
    headline = {
        "playful": f"{first['name']}、はじめよう！",
        "premium": f"上質なひとときを。{first['name']}",
        "warm": f"あなたに寄り添う{first['name']}",
        "urgent": f"今だけ！{first['name']}",
    }.get(tone, f"{first['name']}で、毎日をもっと快適に")
    # The catalog's sentence said in the copy's own frame, not pasted as the body.
    body = [f"{first['name']}は、{benefit}"] if benefit else [f"{first['name']}をご紹介します"]
    if audience and length != "short":
        body.append(f"{audience}にぴったりです")
    if len(products) > 1 and length != "short":
        second = _benefit(products[1]["reason"], "ja", 50)
        body.append(f"{products[1]['name']}は、{second}" if second else f"{products[1]['name']}もご用意しています")
    if percent:
        body.append(f"今なら{percent}")
    if length == "short":
        body = body[:1]
    body = _fit(body, asked, count, extra="")
    return "\n".join([f"見出し：{headline}", f"本文：{language.join(body, 'ja')}", f"行動喚起：{_cta(tone, 'ja')}"])
