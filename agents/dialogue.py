"""The dialogue manager both engines share (the offline engine and any OpenAI-compatible
model): it reads a shopper's message against the conversation's state and says what the
message does — its acts (greeting, thanks, goodbye, small talk, a person asked for, a deal
asked for, a product wanted, a question), the constraints it sets (price bounds,
quantity, a percentage asked for, attributes such as a colour or a size) and what it
refers to ("the second one", "a cheaper one", "in blue?").

The state travels with the conversation (Conversation.dialogue, JSON): the products shown
in order, the topic they answered, the offer in play and its code, the open question the
employee asked and the shopper's language.

The workflows decide from this; the model only writes the words. The acts are patterns
of how shoppers talk, not of any partner's catalog: what a message is about is found by
retrieval over the partner's own data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from agents import language

ESCALATE_BELOW = 0.45  # confidence under which an answer is handed to a person

_I = re.IGNORECASE

# --- small talk and other acts -------------------------------------------------------------

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening|day)|greetings|yo|morning|evening|afternoon)\b"
    r"(?!\s+(?:or|and|delivery|slot|pick))|"
    r"こんにちは|こんばんは|おはよう|はじめまして|初めまして|もしもし",
    _I,
)
_THANKS = re.compile(
    r"\b(thank you|thank u|thanks?|thanx|thx|tnx|ty|tysm|ta|cheers|much appreciated|appreciate it|"
    r"many thanks|thanks a (lot|million|bunch))\b|"
    r"(どうも)?(ありがと|有難|有り難)う?(ございます|ございました)?|どうも|助かりま(す|した)|感謝(します)?",
    _I,
)
_GOODBYE = re.compile(
    r"\b(bye|goodbye|good bye|see (you|ya)|have a (nice|good|great) (day|one|evening)|"
    r"that'?s all|that is all|that'?s everything|that'?s it for (now|today)|nothing else|"
    r"i'?m (all )?(done|set)|take care|later|bye for now|cya|i'?ll (have a look|take a look|think about it|"
    r"check (it|them|those) out))\b|"
    r"さようなら|さよなら|またね|失礼します|バイバイ|では、?また|それでは|"
    r"また(来|き)ます|また今度|また後で|また寄|じゃあね|おやすみ|失礼しました|"
    # Leaving to think it over ("I'll have a look", 見てみます): a closing, nothing to search for.
    r"(見て|検討して|考えて)み(ます|る)|検討します",
    _I,
)
_SMALLTALK = re.compile(
    r"\b(how are you|how'?s it going|who are you|what'?s your name|what is your name|"
    r"are you (a |an )?(bot|robot|human|ai|real)|nice to meet you|what can you do|"
    r"how does this work|what do you do|who am i (talking|speaking|chatting) (to|with)|are you a person)\b|"
    r"お元気|元気ですか|あなたは誰|お名前|名前は|何ができ|ロボット|よろしく",
    _I,
)
_HUMAN = re.compile(
    r"\b((speak|talk|chat)\s+(to|with)\s+(a |an |some |the |your |a real |the real )?(human|person|people|someone|"
    r"somebody|anyone|anybody|staff|agent|representative|manager|colleague|real|owner|supervisor|boss|"
    r"employee|team|member of (your )?staff|shop assistant|sales ?person)|real person|human being|"
    r"a human|(an? )?(live )?agent please|customer service rep|operator|"
    r"(get|put|connect|transfer|pass) me (through |over )?(to|with) (a |the |your |someone|somebody)|"
    # "could someone call me back?": a person asked for, by phone
    r"(can|could|would|please|have|get) (someone|somebody|anyone) (to )?(call|phone|ring|contact) me|call me back|"
    r"give me a (call|ring))\b|"
    r"担当者|担当さん|(担当|お店|店)の(方|人|かた)(と|に(代わ|かわ|相談|聞|つな|連絡))|"
    r"人と話|人間|スタッフ|店員|オペレーター|人に代わ|責任者|店長|誰か(と|に)(話|相談|代わ)|"
    r"(直接|電話で)(話|相談)|折り返し(の)?(お)?(電話|連絡)",
    _I,
)
_RESOLVED = re.compile(
    r"\b(that (solved|solves|answers|answered|fixed|helps|helped)( it| my question)?|"
    r"problem solved|(all|that'?s) (good|sorted|clear) now|makes sense|got it|perfect|"
    r"that'?s what i needed|issue (is )?resolved|resolved)\b|"
    r"解決しました|解決です|わかりました|分かりました|了解",
    _I,
)
_YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|ok|okay|please|yes please|sounds good|great|do it|go ahead)\b|"
    r"^\s*(はい|お願い|ええ|うん|ぜひ)",
    _I,
)
# Whether the shop sells a thing: a question for the catalog, never for the policies.
_STOCK = re.compile(
    r"\b(do|does|did) (you|they|u) (sell|carry|stock|make)\b|\b(sell|carry|stock) (any|a|an)\b|"
    r"売って(い|ま|る)|売ってる|扱って(い|ま|る)|置いて(い|ま|る)|取り扱い|販売して",
    _I,
)
# The cheapest or dearest of all that fits ("your cheapest helmet", "一番安いのは").
_SUPERLATIVE = re.compile(
    r"(?P<low>\b(cheapest|least expensive|most affordable|lowest[- ]priced)\b|(一番|いちばん|最も)(安い|お手頃))|"
    r"\b(most expensive|priciest|dearest|highest[- ]priced|top[- ]of[- ]the[- ]range)\b|"
    r"(一番|いちばん|最も)(高い|高級)",
    _I,
)
# Words that acknowledge or approve ("awesome", "fine", "cool", "なるほど"): with a thanks or a
# goodbye they are part of it, not something to look for.
_ACK = re.compile(
    r"\b(ok(ay)?|great|cool|awesome|amazing|perfect|nice|fine|alright|all right|lovely|brilliant|brill|grand|"
    r"excellent|wonderful|super|sweet|fantastic|superb|good|gotcha|noted|sounds good|will do|right|"
    r"much|so|very|really|again|anyway|then|well|oh|ah|wow)\b|"
    r"なるほど|いいですね|そうですか|そうなんだ|了解|オッケー|はーい|すごい|よかった|良かった|では|じゃあ|じゃ",
    _I,
)
# Words that open an aside or a new question and say nothing of it ("btw", "by the way", "oh").
_ASIDE = re.compile(r"\b(btw|by the way|oh|also|anyway|one more thing|quick question)\b|ところで|ちなみに", _I)
_LEADING_ACK = re.compile(
    r"^\s*((ok(ay)?|great|cool|awesome|amazing|perfect|nice|fine|alright|all right|lovely|brilliant|excellent|"
    r"wonderful|super|sweet|fantastic|right|sure|yes|yeah|yep|wow|brill|grand|ace|fair enough|no worries|"
    r"never mind|no problem|"
    r"i see|got it|understood|that'?s fine|all good|oh well|shame)\s*([,.!]+|$)\s*)+",
    _I,
)
_NO = re.compile(r"^\s*(no|nope|not really|no thanks|nah)\b|^\s*(いいえ|いや|結構です|大丈夫です)", _I)
_DISCOUNT = re.compile(
    r"\b(coupons?|discounts?|deals?|promo(tion)?s?|promo codes?|vouchers?|codes?|offers?|"
    r"sales?|savings?|bargain|% off|percent off|\d+\s*off|money off|special price|half (price|off))\b|%\s*off|"
    r"クーポン|割引|値引|お得|セール|オフ|キャンペーン|安くして|安くなり|まけて|コード|半額|半値",
    _I,
)
_ITEM_REQUEST = re.compile(
    r"^\s*(any|some|got any|have you got|do you (have|sell|carry|stock)|looking for|i need|i want|i'?m after|"
    r"something|anything|what|which|recommend)\b|"
    r"(ありますか|ある[?？]?$|ありません|おすすめ|探して|ほしい|欲しい|ください)",
    _I,
)
_QUESTION = re.compile(
    r"\?|？|^\s*(do|does|can|could|is|are|will|would|how|what|when|where|why|which|"
    r"may|should)\b|ますか|ですか|でしょうか|かな|できる|教えて|いつ|どこ|どう|何日|いくら",
    _I,
)

# --- references to earlier items -------------------------------------------------------------

_EN_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "last": -1,
    "middle": 1, "one": 0, "two": 1, "three": 2, "four": 3, "five": 4,
}  # fmt: skip
_KANJI_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "ひと": 1, "ふた": 2, "みっ": 3, "よっ": 4, "いつ": 5}
_ORDINAL = re.compile(
    r"\b(the )?(first|1st|second|2nd|third|3rd|fourth|4th|last|(?<=the )middle)"
    r"( one| item| book| option| choice| link)?\b|"
    r"\b(number|no\.?|#|option|item|choice)\s*([1-5]|one|two|three|four|five)\b|"
    # Japanese counters with 目: 1つ目, 一つ目, ひとつめ, 2個目, 二番目, 3番め
    r"([1-5]|[一二三四五]|ひと|ふた|みっ|よっ|いつ)\s*(つ|個|こ|番|品)\s*(目|め)|"
    r"(最初|最後|一番上|一番下)",
    _I,
)


def _ordinal_index(match: re.Match[str]) -> int:
    if match.group(2):
        return _EN_ORDINALS[match.group(2).lower()]
    if match.group(5):
        raw = match.group(5).lower()
        return int(raw) - 1 if raw.isdigit() else _EN_ORDINALS[raw]
    if match.group(6):
        raw = match.group(6)
        return (int(raw) if raw.isdigit() else _KANJI_NUMBERS[raw]) - 1
    return 0 if match.group(9) in ("最初", "一番上") else -1


# "The cheaper one", "安い方": the cheapest (the priciest) of the items shown, not a new search.
_PICK_CHEAPEST = re.compile(
    r"\b(the|that|which is the|which one is the) (cheaper|cheapest|less expensive|least expensive|"
    r"lower[- ]priced|more affordable|most affordable)( one| option| of the two| of them)?\b|"
    r"\bthe cheapest\b|\bwhich (?:one |of (?:those|them|these|the two) )?(?:is|'s) (?:the )?"
    r"(?:cheaper|cheapest|less expensive|more affordable)\b|\bwhich (?:one |of (?:those|them|these) )?costs less\b|"
    r"(安い|安価な|お手頃な|手頃な)(方|ほう)|(一番|いちばん)(安い|お手頃)|(どっち|どちら)が(安い|お手頃)|安いのは(どっち|どちら)",
    _I,
)
_PICK_PRICIEST = re.compile(
    r"\b(the|that|which is the|which one is the) (more expensive|most expensive|pricier|priciest|dearer|"
    r"higher[- ]priced|premium)( one| option| of the two| of them)?\b|"
    r"\bwhich (?:one |of (?:those|them|these|the two) )?(?:is|'s) (?:the )?(?:pricier|more expensive|dearer)\b|"
    r"(高い|高価な|高級な)(方|ほう)|(一番|いちばん)(高い|高級)|(どっち|どちら)が高い",
    _I,
)
_THAT_ONE = re.compile(
    r"\b(that one|this one|that|it|those|them|the one you (said|mentioned))\b|"
    r"(?:その|この)(?:中|うち)(?:で|から)?|"
    r"それ|これ|あれ|その|この|さっきの|先ほどの",
    _I,
)
# "one that keeps the tea warmer", "something which …": "that" opens a relative clause there,
# it points at nothing shown.
_RELATIVE = re.compile(r"\b(one|ones|something|anything|things?)\s+(?:that|which)\b", _I)
_CHEAPER = re.compile(
    r"\b(cheaper|less expensive|less pricey|less costly|lower price|lower[- ]priced|more affordable|budget|"
    r"inexpensive|not (as|so) (expensive|pricey|dear))\b|"
    r"もっと安い|より安い|安いの|安め|お手頃",
    _I,
)
_PRICIER = re.compile(
    r"\b(better|premium|higher[- ]end|more expensive|fancier|top of the range)\b|"
    r"もっと良い|高級|上位",
    _I,
)
# Follow-ups about the item in focus, answered from the catalog rather than by a new search.
# "A better one", "something higher-end", 上位モデル: a step up in price within its kind.
_STEP_UP = re.compile(
    r"\b(?:a|an|something|anything|any|one)\s+(?:a\s+)?(?:bit\s+|little\s+)?(?:better|nicer|fancier|higher[- ]end|"
    r"more premium|more upmarket|top[- ]end|higher[- ]quality)\b|\bhigher[- ]end\b|\bbetter (?:one|model|version)\b|"
    r"\bstep up\b|\bupgrade\b|上位(?:モデル|機種|版|の)?|ワンランク上|グレードの(?:高い|上の)|"
    r"もっと(?:良い|いい)(?:もの|の)",
    _I,
)
# A sibling of the item in focus: the same product in another colour, for women or men, in a
# smaller or larger size (its family: its name without the attribute words).
_OTHER_COLOUR = re.compile(
    r"色違い|(?:他|ほか|別|違う)の色|\b(?:other|another|different) colou?rs?\b|\bcolou?r options\b|"
    r"\bwhat colou?rs\b",
    _I,
)
_FOR_WOMEN = re.compile(r"\b(?:women'?s?|ladies'?|lady'?s|female|womens)\b|女性|レディース|ウィメンズ|婦人", _I)
_FOR_MEN = re.compile(r"\b(?:men'?s?|mens|gents'?|male)\b|男性|メンズ|紳士", _I)
_SMALLER = re.compile(r"\b(?:smaller|shorter|more compact|a size down)\b|小さい|小さめ|短い|コンパクトな", _I)
_LARGER = re.compile(r"\b(?:bigger|larger|longer|a size up)\b|大きい|大きめ|長い", _I)
# A question about the item in focus: "is that one waterproof?", "does it come with a case?",
# 「それは洗えますか」.
_ABOUT_IT = re.compile(
    r"^\s*(?:and|so|but|ok|okay|also|hmm)?[,\s]*(?:does|is|can|will|has|do|are|would|could)\s+"
    r"(?:it|that|this|they|that one|this one)\b|"
    r"\bhow (?:heavy|big|large|long|wide|tall|heavy|deep|small)\s+(?:is|are)\s+(?:it|that|this|they|that one)\b|"
    r"\bwhat(?:'s| is| are) (?:it|that|this|they) made (?:of|from)\b",
    _I,
)
_DOING_WITH_IT = re.compile(
    r"^\s*(?:and|so|but|ok|okay|also|hmm)?[,\s]*(?:can|could|do|will|would|should|may)\s+(?:i|we|you)\s+"
    r"(?:\w+\s+){1,3}?(?:it|them|that one|this one)\b",
    _I,
)
_JA_ASKS = re.compile(r"(?:ますか|ですか|でしょうか|ますか？|か？|か\?)\s*[？?]?\s*$")
_JA_EXISTS = re.compile(r"(?:あります|ございます|ありません|売って|扱って|置いて)")
_JA_POINTER = re.compile(r"^(?:それ|これ|あれ|その|この|こちら|そちら)")
_QUESTION_PHRASE = re.compile(r"\bhow (long|much|many|often|soon|far)\b|\bwhat time\b|\bis there\b|\bare there\b", _I)
_FOLLOW_UP = re.compile(
    r"^\s*(and |also |what about |how about |any |in |with |without |does it |do they |"
    r"is it |are they |got |have you got )|"
    r"(のは|は)[？?]?\s*$|(ありますか|ある)[？?]?\s*$",
    _I,
)

# --- constraints ---------------------------------------------------------------------------

_AMOUNT = (
    r"(?:[$¥€£]\s?)?(\d[\d,]*(?:\.\d+)?)\s?(k\b)?\s?"
    r"(?:円|yen\b|dollars?\b|usd\b|jpy\b|bucks\b|euros?\b|quid\b|pounds?\b|gbp\b|eur\b)?"
)
# Money slang, written as figures before the bounds are read: "a tenner", "a fiver", "a grand".
_SLANG_AMOUNTS = {"fiver": 5, "tenner": 10, "grand": 1000}
_SLANG = re.compile(r"\b(?:a|one)\s+(fiver|tenner|grand)\b|\b(fiver|tenner)\b", _I)
# A bound in the shopper's words: "under", "no more than", "nothing over", "tops", and an
# amount given as a rough figure ("around $30", "about 20 bucks"), read as the budget: what
# is shown stays within it.
_PRICE_MAX = re.compile(
    r"(?:under|below|less than|cheaper than|max(?:imum)?(?: of)?|at (?:the )?most|up to|within|"
    r"(?:no|not|nothing|none|never) (?:more than|over|above|higher than|pricier than|exceeding)|"
    r"(?:won'?t|wouldn'?t|can'?t|cannot|don'?t want to|do not want to) (?:spend|pay|go) (?:more than|over|above)|"
    r"(?:spend|pay|budget)(?: of| is| was| around| about)?(?: up to)?|"
    r"(?:around|about|roughly|approximately|approx\.?|~|somewhere around|in the region of)|"
    r"(?:for|with|got|have)|<=?)\s*" + _AMOUNT,
    _I,
)
_PRICE_MAX_AFTER = re.compile(
    _AMOUNT + r"\s*(?:or less|or under|or below|or cheaper|max(?:imum)?|tops|at (?:the )?most|or so|-?ish|budget)", _I
)
_PRICE_MIN = re.compile(
    r"(?<!no )(?<!not )(?<!nothing )(?:over|above|more than|at least|from|>=?|starting at)\s*" + _AMOUNT, _I
)
# English number words before a currency or after a bound ("thirty dollars tops", "under
# twenty"): written as digits before the bounds are read.
_UNITS_EN = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS_EN = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NUMBER_WORDS = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS_EN) + r")(?:[- ](?P<unit>" + "|".join(_UNITS_EN) + r"))?|"
    r"(?P<alone>" + "|".join(_UNITS_EN) + r"))(?: (?P<hundred>hundred))?\b"
    r"(?=\s*(?:dollars?|bucks|euros?|pounds?|quid|yen|usd|tops|max|or less|or so)\b)",
    _I,
)
_NUMBER_AFTER_BOUND = re.compile(
    r"\b(under|below|less than|up to|at most|max|no more than|around|about|budget of|budget is)\s+"
    r"(?P<word>(?:"
    + "|".join(_TENS_EN)
    + r")(?:[- ](?:"
    + "|".join(_UNITS_EN)
    + r"))?|"
    # (from ten: "about one week", "under one kilo" are no prices)
    + "|".join(w for w, n in _UNITS_EN.items() if n >= 10)
    + r")\b",
    _I,
)


def _number_words(text: str) -> str:
    def value(phrase: str) -> int:
        parts = re.split(r"[- ]", phrase.lower())
        total = sum(_TENS_EN.get(w, 0) + _UNITS_EN.get(w, 0) for w in parts if w != "hundred")
        return total * 100 if parts[-1] == "hundred" else total

    text = _SLANG.sub(lambda m: f"{_SLANG_AMOUNTS[(m.group(1) or m.group(2)).lower()]} bucks", text)
    text = _NUMBER_WORDS.sub(lambda m: str(value(m.group(0))), text)
    text = _NUMBER_AFTER_BOUND.sub(lambda m: f"{m.group(1)} {value(m.group('word'))}", text)
    return _KANJI_AMOUNT.sub(lambda m: str(_kanji_number(m.group(1))), text)


# 「五千円以内」「一万五千円まで」: an amount in kanji numerals before 円, written as digits.
_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_AMOUNT = re.compile(r"(?<![\d.,])([〇一二三四五六七八九十百千][〇一二三四五六七八九十百千万]*)(?=円)")


def _kanji_number(numeral: str) -> int:
    total = section = digit = 0
    for char in numeral:
        if char in _KANJI_DIGITS:
            digit = _KANJI_DIGITS[char]
        elif char in _KANJI_UNITS:
            section += (digit or 1) * _KANJI_UNITS[char]
            digit = 0
        else:  # 万
            total += (section + digit or 1) * 10000
            section = digit = 0
    return total + section + digit


_BETWEEN = re.compile(r"between\s*" + _AMOUNT + r"\s*(?:and|-|to)\s*" + _AMOUNT, _I)
# "$20-30", "from 20 to 40 dollars": a range, when a currency says it is one of prices.
_RANGE = re.compile(r"(?:from\s*)?" + _AMOUNT + r"\s*(?:-|–|to)\s*" + _AMOUNT, _I)
# 「3000円台」「1万円台」: the prices from that amount up to the next step of its magnitude.
_JA_BAND = re.compile(r"(\d[\d,]*)\s*(万|千)?\s*円台")
# 「5000円以下」「1万円以内」「1.5万円まで」「3千円くらいまで」: an amount, 万/千 multiplying it.
_JA_AMOUNT = r"(\d[\d,]*(?:\.\d+)?)\s*(万|千)?\s*円?\s*"
_JA_MAX = re.compile(
    _JA_AMOUNT + r"(以下|以内|まで|未満|より安い|より低い|を超えない|を越えない|"
    r"くらい|ぐらい|位|程度|前後|ほど|ちょっと|弱|"
    # 「5千円で何かありますか」「3000円でおすすめは」: what the amount buys is a budget.
    r"で(?=\s*(?:何か|なにか|おすすめ|オススメ|買える|選べる|選ぶ|探して|いい|良い)))"
)
# A number counting days, ages, pieces or weights (3日以内, 5kgくらい) is no price.
_NOT_MONEY_UNIT = re.compile(r"\s*(日|歳|才|時|分|個|本|枚|%|％|ml|g|kg|キロ|袋|合|升|人|名|回|ヶ月|か月|年|cm|mm)")
# 「予算は2000円」「予算2千円で」: the budget named before its amount.
_JA_BUDGET = re.compile(r"予算(?:は|が|を)?(?:だいたい|大体|およそ|約)?\s*" + _JA_AMOUNT)
_JA_MIN = re.compile(_JA_AMOUNT + r"(以上|より高い)")
_JA_UNITS = {"万": 10000, "千": 1000}
_PERCENT = re.compile(r"(\d{1,3})\s?(?:%|％|percent|パーセント|割引)|(\d)\s?割(?:引|オフ)?", _I)
_QUANTITY = re.compile(
    r"\b(\d{1,3})\s*(?:x\b|pcs|pieces?|copies|copy|units?|packs?|boxes|bottles|of (?:them|those|it))|"
    r"\bx\s?(\d{1,2})\b|(\d{1,3})\s*(?:つ|個|冊|本|箱|点|台|セット)(?!目)|"
    r"\b(two|three|four|five|a couple of|a pair of)\b(?= \w+)",
    _I,
)
_AGE = re.compile(
    r"\b(?:a |an )?\d{1,2}[- ]?(?:years?|yrs?)[- ]?old\b|\baged? \d{1,2}\b|\d{1,2}\s*(?:歳|才)|"
    r"\b(?:she|he|they)(?:'s|’s| is| are| turns?| turned)\s+\d{1,2}\b(?!\s*(?:%|percent|dollars|\$|cm|kg|inch))|"
    r"\b\d{1,2}\s?(?:yo|y/o)\b",
    _I,
)
_WORD_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "a couple of": 2, "a pair of": 2}
_EXPLICIT_CURRENCY = re.compile(r"[$¥€£]|円|yen|dollar|usd|jpy|bucks|euro|quid|pounds?\b", _I)
# A rough figure, or what one would spend or pay, is a price only with a currency ("pay in 3
# instalments" is none).
_APPROX = re.compile(
    r"(?:around|about|roughly|approximately|approx\.?|~|somewhere around|in the region of|spend|pay)\b", _I
)


@dataclass
class Constraints:
    price_max: int | None = None  # minor units of the partner's currency
    price_min: int | None = None
    quantity: int | None = None
    percent: int | None = None  # a discount the shopper asked for
    attributes: list[str] = field(default_factory=list)  # terms every pick must carry (a colour, a size)
    cheaper_than: int | None = None  # strictly below this price (a cheaper one than shown)
    order: str = ""  # "cheapest" / "priciest": the shopper wants the extreme of what fits
    percent_words: str = ""  # how the shopper put the discount ("40%", "3割", "半額"): said back as said
    age: int | None = None  # the age of the person it is for ("for a 5 year old")

    def describe(self) -> list[str]:
        out = []
        if self.price_max is not None:
            out.append(f"price <= {self.price_max}")
        if self.price_min is not None:
            out.append(f"price >= {self.price_min}")
        if self.cheaper_than is not None:
            out.append(f"price < {self.cheaper_than}")
        if self.order:
            out.append(f"the {self.order}")
        if self.quantity:
            out.append(f"quantity {self.quantity}")
        if self.percent:
            out.append(f"asked {self.percent}% off")
        if self.attributes:
            out.append("must have " + ", ".join(self.attributes))
        return out


@dataclass
class Understanding:
    language: str
    acts: list[str]
    query: str  # what to search for (constraints and small talk taken out)
    constraints: Constraints
    referenced: list[dict[str, Any]]  # items of the state the message points at
    follow_up: bool  # refines the previous topic ("in blue?", "a cheaper one?")
    corrections: dict[str, str]
    confidence: float
    own_query: str = ""  # the message's own words, without the previous topic
    pronoun: bool = False  # points at a shown item with "it", "that one", "それ"
    beyond: bool = False  # "the third one" when two were shown: the ones shown, to choose from
    # A follow-up about the item in focus: "up" (a better one), "colour", "women", "men",
    # "smaller", "larger" (a sibling of its family), "ask" (a question about it), "ask?" (a
    # Japanese question that may be about it, when its listing speaks to the words).
    about: str = ""

    @property
    def social(self) -> list[str]:
        return [a for a in self.acts if a in ("greeting", "thanks", "goodbye", "smalltalk")]

    @property
    def substantive(self) -> bool:
        return any(a in self.acts for a in ("product", "question", "discount", "human", "reference"))


@dataclass
class DialogueState:
    shown: list[dict[str, Any]] = field(default_factory=list)  # last products shown, in order
    listed: list[dict[str, Any]] = field(default_factory=list)  # the last list of several products
    focus: dict[str, Any] | None = None  # the item last talked about ("a cheaper one" than this)
    topic: str = ""  # the query the shown products answered
    offer: dict[str, Any] | None = None  # the offer in play: {"offer", "code", "title", "percent_off"}
    open_question: str = ""  # the employee last asked: coupon, confirm, more, check (a colleague to check)
    language: str = ""
    turns: int = 0

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> DialogueState:
        data = data or {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def dump(self) -> dict[str, Any]:
        return asdict(self)


def _minor(raw: str, thousands: str | None, exponent: int) -> int | None:
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return None
    if thousands:
        value *= 1000
    return int((value * (Decimal(10) ** exponent)).to_integral_value())


def parse_constraints(text: str, exponent: int) -> tuple[Constraints, str]:
    """The constraints of a message, and the message with their words taken out."""
    text = _number_words(language.normalize(text))
    found = Constraints()
    spans: list[tuple[int, int]] = []

    def take(match: re.Match[str]) -> None:
        spans.append(match.span())

    ranged = next(
        (r for r in _RANGE.finditer(text) if _EXPLICIT_CURRENCY.search(r.group(0)) and "%" not in r.group(0)), None
    )
    if m := _BETWEEN.search(text) or ranged:
        found.price_min, found.price_max = (
            _minor(m.group(1), m.group(2), exponent),
            _minor(m.group(3), m.group(4), exponent),
        )
        take(m)
    elif m := _JA_BAND.search(text):
        low = int(Decimal(m.group(1).replace(",", "")) * _JA_UNITS.get(m.group(2) or "", 1))
        step = 10 ** (len(str(low)) - 1)
        found.price_min = _minor(str(low), None, exponent)
        found.price_max = _minor(str(low + step - 1), None, exponent)
        take(m)
    else:
        for pattern, attr in ((_PRICE_MAX, "price_max"), (_PRICE_MAX_AFTER, "price_max"), (_PRICE_MIN, "price_min")):
            if getattr(found, attr) is not None:
                continue  # one bound of each side: "no more than $15" is not also "more than $15"
            if (m := pattern.search(text)) and not re.search(r"%|％|percent", text[m.end() : m.end() + 2]):
                if any(start < m.end(1) and m.start(1) < end for start, end in spans):
                    continue  # its amount was read as the other bound
                if not _EXPLICIT_CURRENCY.search(m.group(0)) and pattern is _PRICE_MAX and _APPROX.match(m.group(0)):
                    continue  # "about 3 days" is no price: a rough figure is a budget only with a currency
                if (
                    pattern is _PRICE_MAX
                    and re.match(r"(?:for|with|got|have)\b", m.group(0), _I)
                    and not _EXPLICIT_CURRENCY.search(m.group(0))
                ):
                    continue  # "for 2 people" is no price; "a backpack for £50" is a budget
                if attr == "price_min" and not _EXPLICIT_CURRENCY.search(m.group(0)) and "from" in m.group(0).lower():
                    continue  # "from 2019" is not a price
                setattr(found, attr, _minor(m.group(1), m.group(2), exponent))
                take(m)
        for pattern, attr in ((_JA_BUDGET, "price_max"), (_JA_MAX, "price_max"), (_JA_MIN, "price_min")):
            if getattr(found, attr) is not None:
                continue
            for m in pattern.finditer(text):
                unit = m.group(2)
                if not unit and "円" not in m.group(0) and not _EXPLICIT_CURRENCY.search(text):
                    continue  # 「3日以内」「20歳以上」 are no prices; a bare number needs 円 or 万/千
                if _NOT_MONEY_UNIT.match(text[m.end(1) :]) and not unit:
                    continue
                value = _minor(m.group(1), None, exponent) if not unit else None
                if unit:
                    try:
                        amount = Decimal(m.group(1).replace(",", "")) * _JA_UNITS[unit]
                    except InvalidOperation:
                        continue
                    value = int((amount * (Decimal(10) ** exponent)).to_integral_value())
                setattr(found, attr, value)
                take(m)
                break
    if m := _PERCENT.search(text):
        found.percent = int(m.group(1)) if m.group(1) else int(m.group(2)) * 10
        found.percent_words = m.group(0).strip()
        take(m)
    elif m := re.search(r"半額|半値|half (price|off)|50/50", text, _I):
        found.percent = 50
        found.percent_words = m.group(0)
    if m := _QUANTITY.search(text):
        raw = next(g for g in m.groups() if g)
        found.quantity = _WORD_NUMBERS.get(raw.lower()) or int(raw) if not raw.isdigit() else int(raw)
        if raw.isdigit():
            take(m)
    for m in _AGE.finditer(text):
        found.age = int(re.search(r"\d+", m.group(0)).group(0))
        take(m)
    rest = text
    for start, end in sorted(spans, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    return found, rest


_AGE_RANGE = re.compile(
    r"(?:ages?d?|for ages)\s*(\d{1,2})\s*(?:to|-|–)\s*(\d{1,2})|(\d{1,2})\s*(?:and up|\+)|"
    r"(\d{1,2})\s*[〜~]\s*(\d{1,2})\s*歳",
    _I,
)


def states_age(description: str) -> bool:
    """Whether an item's description says which ages it is for."""
    return bool(_AGE_RANGE.search(description or ""))


def age_fits(age: int, description: str) -> bool:
    """Whether an item's stated ages ("ages 4 to 7", "10 and up") include `age`; an item
    that states none fits anyone."""
    m = _AGE_RANGE.search(description or "")
    if not m:
        return True
    if m.group(1):
        return int(m.group(1)) <= age <= int(m.group(2))
    if m.group(3):
        return age >= int(m.group(3))
    return int(m.group(4)) <= age <= int(m.group(5))


def _strip(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(" ", text)


def understand(
    text: str,
    state: DialogueState,
    *,
    exponent: int,
    vocabulary: frozenset[str] = frozenset(),
    skill: str = "coupon_promoter",
) -> Understanding:
    """What the message does, against the conversation's state."""
    lang = language.language_of(text, state.language or "en")
    constraints, rest = parse_constraints(text, exponent)
    acts: list[str] = []
    for act, pattern in (
        ("greeting", _GREETING),
        ("thanks", _THANKS),
        ("goodbye", _GOODBYE),
        ("smalltalk", _SMALLTALK),
        ("human", _HUMAN),
    ):
        if pattern.search(text):
            acts.append(act)
    if _DISCOUNT.search(text) or constraints.percent:
        acts.append("discount")
    if _RESOLVED.search(text) or (state.open_question == "confirm" and _YES.search(text) and "goodbye" not in acts):
        # "great thanks, bye" takes its leave; "yes, great" to "did that answer it?" confirms.
        acts.append("resolved")
    if (
        state.open_question == "coupon"
        and _YES.search(text)
        and "discount" not in acts
        and not {"goodbye", "thanks"} & set(acts)  # "ok cheers, bye" closes, it does not accept
    ):
        acts.append("discount")
    if _NO.search(text):
        acts.append("deny")
    if _STOCK.search(text):
        acts.append("stock")
    # What is left once the social phrases, the deal words and the constraints are out.
    residue = _LEADING_ACK.sub(" ", rest)  # "sweet, I'll take it", "cool. and can I …"
    for pattern in (_GREETING, _THANKS, _GOODBYE, _SMALLTALK, _HUMAN, _RESOLVED, _DISCOUNT, _YES, _NO):
        if pattern is _DISCOUNT and skill == "customer_service":
            continue  # "do you do gift vouchers?" asks Kai about vouchers: they are the subject
        residue = _strip(pattern, residue)
    residue = _strip(_ASIDE, residue)  # "btw how much is shipping?": the question is the shipping
    referenced: list[dict[str, Any]] = []
    follow_up = False
    pronoun = False
    pointed = False  # an item shown was pointed at by its place or its price ("the second", "安い方")
    beyond = False
    shown = state.shown
    # "The second one", "高い方" compare the last list of several items, even when a reply about
    # one of them came in between.
    compared = shown if len(shown) > 1 or not state.listed else state.listed
    if shown:
        picked = None
        if len(compared) > 1 and (m := _PICK_CHEAPEST.search(text) or _PICK_PRICIEST.search(text)):
            cheapest = m.re is _PICK_CHEAPEST
            picked = (min if cheapest else max)(compared, key=lambda p: p["price"])
            referenced = [picked]
            pointed = True
            residue = _strip(m.re, residue)
        elif m := _ORDINAL.search(text):
            index = _ordinal_index(m)
            if -len(compared) <= index < len(compared):
                referenced = [compared[index]]
            else:
                referenced, beyond = list(compared), True
            pointed = True
            residue = _strip(_ORDINAL, residue)
        else:
            named = _named(text, shown)
            marked = _marked(text, compared)
            if named:
                referenced = named
            elif marked is not None:
                referenced = [marked]
                pointed = True
            elif (
                _THAT_ONE.search(_RELATIVE.sub(r"\1", text))
                # "thanks, how much is it?": the courtesy comes with a question about the item.
                and (not (set(acts) & {"goodbye", "thanks", "greeting", "smalltalk"}) or _QUESTION.search(residue))
                and (len(shown) == 1 or acts)
            ):
                referenced = shown[:1]
                pronoun = True
        if picked is None and (m := _SUPERLATIVE.search(text)):
            # "what's the cheapest one you have?" with a single item shown: the extreme of the
            # topic's items, not of what happens to be on screen.
            constraints.order = "cheapest" if m.group("low") else "priciest"
            follow_up = True
            residue = _strip(_SUPERLATIVE, residue)
            referenced = []
        elif picked is None and _CHEAPER.search(text) and constraints.price_max is None:
            # ("cheaper than $25" is a bound, read with the prices; "a cheaper one" is relative.)
            # Cheaper than the item in focus: the one pointed at, else the top pick shown.
            low = (referenced or ([state.focus] if state.focus else []) or shown)[0]["price"]
            constraints.cheaper_than = low
            follow_up = True
            residue = _strip(_CHEAPER, residue)
            referenced = []
    if not shown and (m := _SUPERLATIVE.search(text)):
        constraints.order = "cheapest" if m.group("low") else "priciest"
        residue = _strip(_SUPERLATIVE, residue)
    elif not shown:
        # "高いほうにします" with nothing shown compares nothing: it is no search for 高い (tall).
        residue = _strip(_PICK_PRICIEST, _strip(_PICK_CHEAPEST, residue))
    residue = _strip(_THAT_ONE, residue)
    residue = _strip(_QUESTION_PHRASE, residue)
    words = [w for w in language.terms(residue) if not w.isdigit()]
    # A word written in kana only that Sudachi split wrongly (ひやけどめ): the partner's own
    # words whose reading it contains.
    # A run that already carries a word of the partner's (なパンはありますか: パン) is read right.
    read_right = {
        f"@{language._katakana(run)}"[:64]
        for run in language._KANA_RUN.findall(language.normalize(residue))
        if any(g[1] & vocabulary for g in language.word_groups(run))
    }
    readings = [w for w in words if w.startswith("@") and len(w) > 4 and w not in read_right]
    if readings and vocabulary and not referenced and not any(r in vocabulary for r in readings):
        spelled = [
            v
            for v in vocabulary
            if v.startswith("@") and len(v) >= 4 and v not in readings and any(_spelled_in(v[1:], r) for r in readings)
        ]
        spelled = [v for v in spelled if not any(v != o and v[1:] in o for o in spelled)]
        if spelled:
            words = [w for w in words if w not in readings]
            words.extend(spelled)
            residue = _respell(residue, spelled)
    corrections = language.correct(words, vocabulary)
    # The content words (no kana-run readings, which only help matching).
    content = [g[0] for g in language.word_groups(residue)]
    query_terms = [corrections.get(w, w) for w in content]
    if (
        set(acts) & {"thanks", "goodbye", "greeting", "resolved"}
        and not _QUESTION.search(text)
        and not referenced
        and not any(t in vocabulary or t in corrections.values() for t in query_terms)
        and len(language.word_groups(_strip(_ACK, residue))) <= 1
    ):
        # "awesome thank you", "fine, bye", "cool, cheers": the rest of a social message that
        # names nothing the shop has is part of the courtesy, not a request.
        query_terms, residue = [], ""
    if shown and not query_terms and not referenced and constraints.quantity:
        referenced = shown[:1]  # "two of them, please"
    if (
        state.topic
        and not query_terms
        and not referenced
        and (constraints.price_max is not None or constraints.price_min is not None)
    ):
        follow_up = True  # "anything under $15?": the same topic, within the bound
    if (
        shown
        and state.topic
        and query_terms
        and not referenced
        and ((_FOLLOW_UP.search(text) and len(query_terms) <= 2) or constraints.cheaper_than is not None)
    ):
        # "in blue?", "any in size M?": the previous topic, narrowed by the new words.
        # Words the shop does not use narrow nothing: then it is a new request.
        constraints.attributes = [t for t in query_terms if t in vocabulary or not vocabulary][:2]
        follow_up = bool(constraints.attributes) or constraints.cheaper_than is not None
    if (constraints.cheaper_than is not None or constraints.order) and not query_terms and state.topic:
        follow_up = True
    query = " ".join(corrections.get(w, w) for w in residue.split()) if corrections else residue
    own_query = " ".join(query.split())
    if follow_up:
        query = f"{state.topic} {query}".strip()
    if referenced and "product" not in acts:
        acts.append("reference")
    if query_terms or follow_up or ((constraints.price_max or constraints.price_min) and not acts):
        acts.append("question" if _QUESTION.search(residue) and skill == "customer_service" else "product")
        # A request for items within a budget ("any candles around $20?") is no policy question;
        # a floor ("is shipping free on orders over $50?") or a fee asked about ("is delivery
        # about $5?") is one.
        budget = (
            constraints.price_max is not None and constraints.price_min is None and bool(_ITEM_REQUEST.search(text))
        )
        if _QUESTION.search(text) and "question" not in acts and not (budget and skill != "customer_service"):
            acts.append("question")
    if pointed and "product" in acts and not any(t in vocabulary for t in query_terms):
        # "2つ目のにします", "高い方はどうですか": the item pointed at, not a new search.
        acts.remove("product")
        if "reference" not in acts:
            acts.append("reference")
    if not acts:
        acts.append("smalltalk")
    confidence = 0.95 if (acts and not query_terms) else 0.7
    about = _about_focus(text, lang, acts) if shown and not pointed else ""
    if pointed and len(referenced) == 1 and not beyond and not about:
        # "does the first one come with a case?", 「二つ目は洗えますか」, "the red one, does it keep
        # drinks cold?": a question about the item pointed at, answered from its listing.
        # "the black one in a bigger size?": a sibling of the item pointed at, first ("is the first
        # one better than the second?" compares the two: no step up).
        sibling = _about_focus(text, lang, acts)
        if sibling in ("colour", "women", "men", "smaller", "larger"):
            about = sibling
        else:
            about = _about_pointed(text, referenced[0], query_terms, acts)
    return Understanding(
        language=lang,
        acts=acts,
        query=" ".join(query.split()),
        constraints=constraints,
        referenced=referenced,
        follow_up=follow_up,
        corrections=corrections,
        confidence=confidence,
        own_query=own_query,
        pronoun=pronoun,
        beyond=beyond,
        about=about,
    )


def _about_focus(text: str, lang: str, acts: list[str]) -> str:
    """What a follow-up asks of the item in focus, if anything (see Understanding.about)."""
    if {"discount", "human", "goodbye"} & set(acts):
        return ""
    if _STEP_UP.search(text) and not _PICK_PRICIEST.search(text):
        return "up"
    for kind, pattern in (
        ("colour", _OTHER_COLOUR),
        ("women", _FOR_WOMEN),
        ("men", _FOR_MEN),
        ("smaller", _SMALLER),
        ("larger", _LARGER),
    ):
        if pattern.search(text):
            return kind
    if lang == "ja":
        said = language.normalize(text).strip()
        if _JA_ASKS.search(said):
            if _JA_POINTER.search(said):
                return "ask"
            # 「のど飴もありますか」 asks for another item, not about this one.
            return "" if _JA_EXISTS.search(said) else "ask?"
        return ""
    if _ABOUT_IT.search(text):
        return "ask"
    # "can I put it in the dishwasher?": the shopper does something with it; about the item
    # only where its listing speaks to that ("can I return it?" is for the policies).
    return "ask?" if _DOING_WITH_IT.search(text) else ""


_VERB_ENDING = ("マス", "マセン", "マシ", "タイ", "テ", "ナイ")


def _about_pointed(text: str, item: dict[str, Any], query_terms: list[str], acts: list[str]) -> str:
    """ "ask" when a message that points at one shown item also asks something of it: a
    question with words other than the item's own name ("how much is the second one?" asks
    nothing its price line does not say, so it stays a plain reference)."""
    if {"discount", "human", "goodbye"} & set(acts) or not _QUESTION.search(text):
        return ""
    own = set(language.terms(item.get("name", "")))
    return "ask" if any(t not in own for t in query_terms) else ""


_POINTER_FORM = re.compile(r"\b(?:the|that|this)\s+(?:\w+\s+){1,2}?(?:one|ones)\b|の(?:方|ほう)?(?:は|を|が|に|で)", _I)


def _marked(text: str, shown: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one shown item that a pointer marks by a word of its name or tags that no other shown
    item carries ("the red one" among a blue and a red flask, 「グレーのは」 beside beige), else
    None. Only the words of the pointer phrase count ("the red one, does it keep drinks cold?")."""
    if len(shown) < 2:
        return None
    phrases = [m.group(0) for m in _POINTER_FORM.finditer(text)]
    if not phrases:
        return None
    own = [set(language.terms(f"{p.get('name', '')} {' '.join(p.get('tags', []))}")) for p in shown]
    marked: set[int] = set()
    for at, m in enumerate(_POINTER_FORM.finditer(text)):
        # English: the words inside "the … one"; Japanese: the word just before の (青いの: 青).
        japanese = language.is_japanese(phrases[at])
        groups = language.word_groups(text[max(0, m.start() - 12) : m.start()] if japanese else phrases[at])
        for group in groups[-1:] if japanese else groups:
            carriers = [i for i, terms in enumerate(own) if language.group_matched(group, terms)]
            if len(carriers) == 1:
                marked.add(carriers[0])
    return shown[marked.pop()] if len(marked) == 1 else None


def _spelled_in(reading: str, run: str) -> bool:
    """Whether a partner word's reading is written in a kana run as a word, not as part of a
    verb's ending (いています is no イマス, かかりますか no カカリ)."""
    at = run.find(reading)
    if at < 0 or reading.endswith(_VERB_ENDING):
        return False
    return not run[at + len(reading) :].startswith(_VERB_ENDING)


def _respell(text: str, readings: list[str]) -> str:
    """The kana runs of the text that carry one of the readings, replaced by those
    readings (katakana, which the partner's words are indexed under)."""

    def swap(match: re.Match[str]) -> str:
        run = language._katakana(match.group(0))
        found = [r[1:] for r in readings if r[1:] in run]
        return f" {' '.join(found)} " if found else match.group(0)

    return language._KANA_RUN.sub(swap, text)


def _named(text: str, shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shown items the message names (most of a name's distinctive words)."""
    said = set(language.terms(text))
    out = []
    for item in shown:
        name_terms = [t for t in language.terms(item["name"]) if not t.startswith(("~", "@"))]
        if name_terms and len(said & set(name_terms)) >= max(1, (len(name_terms) + 1) // 2):
            out.append(item)
    return out


# --- reply wording -------------------------------------------------------------------------

OPENERS = {
    ("recommend", "en"): (
        "Here's what fits best:",
        "Good news — a couple fit well:",
        "These two stand out:",
        "I'd look at these:",
        "Try these:",
        "Best matches from our shelves:",
    ),
    ("recommend", "ja"): (
        "おすすめはこちらです。",
        "ぴったりの商品があります。",
        "こちらはいかがでしょう。",
        "条件に合うのはこちらです。",
        "この2つが特におすすめです。",
    ),
    ("answer", "en"): (
        "Here's what our policy says:",
        "Good question.",
        "From our documents:",
        "Sure.",
        "According to our guide:",
    ),
    ("answer", "ja"): ("お答えします。", "規定ではこうなっています。", "資料によると、", "はい、ご案内します。"),
    ("coupon", "en"): ("Here you go!", "Sure thing.", "Happy to help with that.", "Of course."),
    ("coupon", "ja"): ("どうぞ！", "かしこまりました。", "お待たせしました。"),
}


def first_words(text: str, n: int = 3) -> str:
    text = (text or "").strip()
    if language.is_japanese(text[:12]):
        return text[:6]
    return " ".join(re.findall(r"[\w']+", text.lower())[:n])


def pick(options: tuple[str, ...] | list[str], used: list[str], seed: int = 0) -> str:
    """An option whose opening words are not among the openings already used."""
    used_openings = {first_words(u) for u in used}
    for k in range(len(options)):
        option = options[(seed + k) % len(options)]
        if first_words(option) not in used_openings:
            return option
    return options[seed % len(options)]
